"""A teacher behind HTTP, speaking the wire format of ``fsbbt teacher serve`` (teacher/wire.py).

Remote teachers are metered and flaky: a batch is split into requests of
``request_batch_size`` images sent ``concurrency`` at a time; timeouts, connection
errors, 429 and 5xx are retried with exponential backoff and jitter (``Retry-After``
is honoured); any other 4xx, or an answer that is not what the protocol says, is a
one-line error. The bearer token is read from an environment variable and never
appears in a message, a repr or the ledger.

Every prediction request carries an ``Idempotency-Key`` derived from its content, the
same on every retry and in a run resumed after SIGKILL, so a server that honours it
(``fsbbt teacher serve`` does) answers a repeat from memory instead of running its
teacher again. Such answers say ``Idempotent-Replay: true`` and are counted as
``replayed``; images re-sent after a timed-out attempt and answered without that mark
(the server may have run them twice) are counted as ``paid_twice``.
"""

from __future__ import annotations

import email.utils
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np

from fsbbt.core.errors import FsbbtError
from fsbbt.teacher.blackbox import TRANSPORT_COUNTS
from fsbbt.teacher.wire import (
    IDEMPOTENCY_KEY_HEADER,
    NPY_MEDIA_TYPE,
    REPLAY_HEADER,
    decode_npy,
    encode_npy,
    request_digest,
)

RETRY_STATUSES = {429, 500, 502, 503, 504}
BASE_BACKOFF_S = 0.1


@dataclass(frozen=True)
class HttpSettings:
    url: str
    headers: dict[str, str]
    token_env: str | None
    request_batch_size: int
    concurrency: int
    timeout_s: float
    retries: int
    max_backoff_s: float


class _Retryable(Exception):
    """A failure worth another try; ``wait_s`` is the server's Retry-After, if it gave one;
    ``maybe_answered``: the whole request was sent, so the server may have done the work."""

    def __init__(self, reason: str, wait_s: float | None = None, maybe_answered: bool = False) -> None:
        super().__init__(reason)
        self.wait_s = wait_s
        self.maybe_answered = maybe_answered


class HttpTeacher:
    def __init__(
        self,
        settings: HttpSettings,
        input_shape: tuple[int, int, int] | None = None,
        class_names: tuple[str, ...] | None = None,
    ) -> None:
        self._settings = settings
        self._base_url = settings.url.rstrip("/")
        headers = dict(settings.headers)
        if settings.token_env is not None:
            token = os.environ.get(settings.token_env)
            if not token:
                raise FsbbtError(
                    f"environment variable {settings.token_env} (the teacher's "
                    "token) is not set; export it before running"
                )
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.Client(
            headers=headers,
            timeout=settings.timeout_s,
            limits=httpx.Limits(max_connections=settings.concurrency),
        )
        self._jitter = random.Random()
        self._counts = dict.fromkeys(TRANSPORT_COUNTS, 0)
        self._counts_lock = threading.Lock()  # requests run in `concurrency` threads
        if input_shape is None or class_names is None:
            info = self._with_retries(lambda: self._get_info(), "GET /v1/info")
            input_shape = input_shape or tuple(info["input_shape"])
            class_names = class_names or tuple(info["class_names"])
        self.input_shape = input_shape
        self.class_names = class_names
        self.fingerprint = f"http:{self._base_url}"

    def __repr__(self) -> str:
        return f"HttpTeacher({self._base_url!r})"

    def transport_counts(self) -> dict[str, int]:
        """Requests retried, and of the failures those followed, timeouts; images the server
        replayed from its idempotency cache, and images paid twice (this process)."""
        with self._counts_lock:
            return dict(self._counts)

    def _count(self, name: str, amount: int = 1) -> None:
        with self._counts_lock:
            self._counts[name] += amount

    def predict_proba(self, images_uint8: np.ndarray) -> np.ndarray:
        size = self._settings.request_batch_size
        chunks = [images_uint8[start : start + size] for start in range(0, len(images_uint8), size)]
        if len(chunks) <= 1 or self._settings.concurrency == 1:
            answers = [self._predict_chunk(chunk) for chunk in chunks]
        else:
            with ThreadPoolExecutor(min(self._settings.concurrency, len(chunks))) as pool:
                answers = list(pool.map(self._predict_chunk, chunks))
        return np.concatenate(answers) if answers else np.zeros((0, len(self.class_names)))

    def _predict_chunk(self, chunk: np.ndarray) -> np.ndarray:
        body = encode_npy(chunk)
        headers = {
            "Content-Type": NPY_MEDIA_TYPE,
            "Accept": NPY_MEDIA_TYPE,
            # a structured-field string, as the IETF idempotency-key draft writes it
            IDEMPOTENCY_KEY_HEADER: f'"{request_digest(NPY_MEDIA_TYPE, body)}"',
        }
        sent_before = False  # has an earlier attempt reached the server whole?

        def attempt() -> np.ndarray:
            nonlocal sent_before
            try:
                response = self._send("POST", "/v1/predict", content=body, headers=headers)
            except _Retryable as failure:
                sent_before |= failure.maybe_answered
                raise
            if response.headers.get(REPLAY_HEADER, "").lower() == "true":
                self._count("replayed", len(chunk))
            elif sent_before:
                self._count("paid_twice", len(chunk))
            return _probabilities_of(response)

        return self._with_retries(attempt, "POST /v1/predict")

    def _get_info(self) -> dict[str, Any]:
        response = self._send("GET", "/v1/info")
        info = _json_of(response, "GET /v1/info")
        if not isinstance(info, dict) or "input_shape" not in info or "class_names" not in info:
            raise FsbbtError(
                f"{self._base_url}/v1/info did not return input_shape and "
                "class_names; is this an fsbbt teacher server?"
            )
        return info

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(method, self._base_url + path, **kwargs)
        except httpx.TimeoutException as exc:
            self._count("timeouts")
            # only a read timeout comes after the whole request was sent
            raise _Retryable(
                f"timed out after {self._settings.timeout_s} s",
                maybe_answered=isinstance(exc, httpx.ReadTimeout),
            ) from exc
        except httpx.TransportError as exc:
            raise _Retryable(f"connection failed ({type(exc).__name__})") from exc
        if response.status_code in RETRY_STATUSES:
            raise _Retryable(
                f"HTTP {response.status_code}", retry_after_s(response.headers.get("retry-after"))
            )
        if response.status_code >= 400:
            raise FsbbtError(
                f"{method} {path} was refused with HTTP {response.status_code}: {_error_text(response)}"
            )
        return response

    def _with_retries(self, attempt: Any, what: str) -> Any:
        """Run ``attempt`` until it succeeds, retrying only transient failures."""
        settings = self._settings
        for attempt_index in range(settings.retries + 1):
            try:
                return attempt()
            except _Retryable as failure:
                if attempt_index == settings.retries:
                    raise FsbbtError(
                        f"{what} to {self._base_url} failed {attempt_index + 1} "
                        f"times (last: {failure}); check the server or raise "
                        "teacher.retries / teacher.timeout_s"
                    ) from None
                self._count("retries")
                backoff = min(settings.max_backoff_s, BASE_BACKOFF_S * 2**attempt_index)
                wait_s = backoff * (0.5 + self._jitter.random())
                if failure.wait_s is not None:
                    wait_s = max(wait_s, min(failure.wait_s, settings.max_backoff_s))
                time.sleep(wait_s)
        raise AssertionError("unreachable")


def retry_after_s(value: str | None) -> float | None:
    """Retry-After as seconds: either a number or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _probabilities_of(response: httpx.Response) -> np.ndarray:
    """The answer's probabilities, from a ``.npy`` body or from JSON (validated later)."""
    if response.headers.get("content-type", "").startswith(NPY_MEDIA_TYPE):
        return decode_npy(response.content, "the teacher's answer")
    answer = _json_of(response, "POST /v1/predict")
    if not isinstance(answer, dict) or "probabilities" not in answer:
        raise FsbbtError("the teacher's answer has no 'probabilities' field")
    return answer["probabilities"]


def _json_of(response: httpx.Response, what: str) -> Any:
    try:
        return response.json()
    except ValueError:
        kind = response.headers.get("content-type", "no content type")
        raise FsbbtError(f"{what} answered with {kind}, not JSON: {_error_text(response)}") from None


def _error_text(response: httpx.Response) -> str:
    """The server's error message in one short line."""
    try:
        payload = response.json()
        text = str(payload.get("error", payload)) if isinstance(payload, dict) else str(payload)
    except ValueError:
        text = response.text
    return " ".join(text.split())[:160] or "(empty body)"
