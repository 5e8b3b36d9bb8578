"""``fsbbt teacher serve``: any teacher behind the HTTP wire format of teacher/wire.py.

Safe by default: it binds loopback; binding any other address needs a bearer token
(read from an environment variable, compared in constant time, never logged). Every
client mistake gets a 4xx JSON ``{"error": ...}`` before the teacher, or any decoder,
spends work on it: bodies above ``max_request_bytes`` are refused while they arrive, and
images by the size their headers declare (a ``.npy`` header, a PNG's IHDR) before their
pixels are read. Only a failing teacher answers 5xx.

A request carrying ``Idempotency-Key`` is answered once: repeats (a client's retry after
a timeout, a resumed run) are answered from an :class:`AnswerCache` and marked
``Idempotent-Replay: true``. ``GET /v1/stats`` counts the images the teacher really ran.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from fsbbt.core.errors import FsbbtError
from fsbbt.teacher.answer_cache import DEFAULT_ANSWER_CACHE_BYTES, AnswerCache, KeyReused
from fsbbt.teacher.blackbox import BlackBoxTeacher, validate_probabilities
from fsbbt.teacher.wire import (
    IDEMPOTENCY_KEY_HEADER,
    NPY_MEDIA_TYPE,
    REPLAY_HEADER,
    decode_png,
    encode_npy,
    npy_data,
    npy_header,
    png_bytes,
    png_size,
    request_digest,
)

DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_IMAGE_PIXELS = 4096 * 4096
MAX_IDEMPOTENCY_KEY_CHARS = 255


class RequestError(Exception):
    """A request the server refuses, with the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class _ImageRules:
    """What an image must be: the teacher's C×H×W, and never more than ``max_pixels`` declared."""

    input_shape: tuple[int, int, int]
    max_pixels: int

    def check_size(self, height: int, width: int, which: str) -> None:
        """Refuse a declared size, before any pixel of it is read."""
        if height * width > self.max_pixels:
            raise RequestError(
                413, f"{which} declares {width}×{height} pixels, over the limit of {self.max_pixels}"
            )
        _, want_height, want_width = self.input_shape
        if (height, width) != (want_height, want_width):
            raise RequestError(
                422, f"{which} is {width}×{height}, the teacher takes {want_width}×{want_height}"
            )


def create_app(
    teacher: BlackBoxTeacher,
    token: str | None = None,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    answer_cache_bytes: int = DEFAULT_ANSWER_CACHE_BYTES,
) -> FastAPI:
    """The FastAPI app serving ``teacher`` (probabilities only: it is already converted)."""
    channels, height, width = (int(d) for d in teacher.input_shape)
    input_shape = (channels, height, width)
    if height * width > max_image_pixels:
        raise FsbbtError(
            f"the teacher takes {width}×{height} images, more than max_image_pixels={max_image_pixels}; "
            "raise the limit"
        )
    rules = _ImageRules(input_shape, max_image_pixels)
    class_names = [str(name) for name in teacher.class_names]
    cache = AnswerCache(answer_cache_bytes)
    counts = {"teacher_evaluations": 0, "teacher_calls": 0, "replayed": 0}
    app = FastAPI(title="fsbbt teacher", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(RequestError)
    async def _refused(_: Request, exc: RequestError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    @app.exception_handler(HTTPException)
    async def _routing(_: Request, exc: HTTPException) -> JSONResponse:
        # unknown path (404), wrong method (405): the same JSON shape as every other refusal
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(FsbbtError)
    async def _teacher_failed(_: Request, exc: FsbbtError) -> JSONResponse:
        return JSONResponse({"error": f"the teacher failed: {exc}"}, status_code=500)

    @app.middleware("http")
    async def _authorise(request: Request, call_next):  # type: ignore[no-untyped-def]
        if token is not None:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return JSONResponse({"error": "missing or wrong bearer token"}, status_code=401)
        return await call_next(request)

    @app.get("/v1/info")
    def info() -> dict[str, object]:
        return {
            "input_shape": list(input_shape),
            "class_names": class_names,
            "output": "probabilities",
            "max_request_bytes": max_request_bytes,
            "max_image_pixels": max_image_pixels,
        }

    @app.get("/v1/stats")
    def stats() -> dict[str, int]:
        """What the teacher really did: images it evaluated, over how many calls, and the
        images answered from the idempotency cache instead."""
        return {
            **counts,
            "cache_entries": len(cache),
            "cache_bytes": cache.bytes,
            "cache_max_bytes": cache.max_bytes,
        }

    @app.post("/v1/predict")
    async def predict(request: Request) -> Response:
        body = await _body_within(request, max_request_bytes)
        content_type = request.headers.get("content-type", "")
        key = _idempotency_key(request.headers.get(IDEMPOTENCY_KEY_HEADER))

        async def evaluate() -> np.ndarray:
            # decoding leaves the event loop too: a batch of PNGs is real work
            images = await run_in_threadpool(_images_from_body, body, content_type, rules)
            counts["teacher_evaluations"] += len(images)
            counts["teacher_calls"] += 1
            answer = await run_in_threadpool(teacher.predict_proba, images)
            return validate_probabilities(answer, len(images), len(class_names), "this request")

        if key is None:
            probs, replayed = await evaluate(), False
        else:
            digest = await run_in_threadpool(request_digest, content_type, body)  # 64 MB: ~0.1 s
            try:
                probs, replayed = await cache.answer(key, digest, evaluate)
            except KeyReused as exc:
                raise RequestError(422, str(exc)) from None
        headers = {REPLAY_HEADER: "true"} if replayed else {}
        counts["replayed"] += len(probs) if replayed else 0
        if NPY_MEDIA_TYPE in request.headers.get("accept", ""):
            return Response(encode_npy(probs.astype(np.float32)), media_type=NPY_MEDIA_TYPE, headers=headers)
        return JSONResponse({"probabilities": probs.tolist()}, headers=headers)

    return app


async def _body_within(request: Request, max_request_bytes: int) -> bytearray:
    """The request body, refused (413) as soon as it is known to exceed the limit.

    A bytearray: the ``.npy`` reader makes a writable array of it without copying.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_request_bytes:
        raise RequestError(
            413, f"request of {declared} bytes exceeds the limit of {max_request_bytes}; send smaller batches"
        )
    body = bytearray()
    async for piece in request.stream():
        body.extend(piece)
        if len(body) > max_request_bytes:
            raise RequestError(
                413, f"request exceeds the limit of {max_request_bytes} bytes; send smaller batches"
            )
    return body


def _idempotency_key(value: str | None) -> str | None:
    """The header's key: a string of visible ASCII, quoted (a structured-field string, as
    the IETF draft writes it) or bare."""
    if value is None:
        return None
    key = value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    if not key or len(key) > MAX_IDEMPOTENCY_KEY_CHARS or not all("!" <= c <= "~" for c in key):
        raise RequestError(
            400, f"{IDEMPOTENCY_KEY_HEADER} must be 1..{MAX_IDEMPOTENCY_KEY_CHARS} visible ASCII characters"
        )
    return key


def _images_from_body(body: bytearray, content_type: str, rules: _ImageRules) -> np.ndarray:
    """The request's images, every size and shape checked before the pixels are decoded."""
    try:
        if content_type.startswith(NPY_MEDIA_TYPE):
            images = _npy_batch(body, rules)
        elif content_type.startswith("application/json"):
            images = _png_batch(body, rules)
        else:
            raise RequestError(
                415, f"content type {content_type or '(none)'} is not {NPY_MEDIA_TYPE} or application/json"
            )
    except FsbbtError as exc:
        raise RequestError(400, str(exc)) from None
    return images


def _npy_batch(body: bytearray, rules: _ImageRules) -> np.ndarray:
    header = npy_header(body, "the request body")
    shape, wanted = header.shape, "×".join(map(str, rules.input_shape))
    if header.dtype != np.uint8 or len(shape) != 4 or shape[1] != rules.input_shape[0]:
        raise RequestError(422, f"images must be uint8 N×{wanted}, got {header.dtype} {shape}")
    _non_empty(shape[0])
    rules.check_size(shape[2], shape[3], "every image")
    return npy_data(body, header, "the request body")


def _png_batch(body: bytearray, rules: _ImageRules) -> np.ndarray:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise RequestError(400, f"request body is not JSON ({type(exc).__name__})") from None
    encoded = payload.get("images") if isinstance(payload, dict) else None
    if not isinstance(encoded, list) or not all(isinstance(item, str) for item in encoded):
        raise RequestError(400, 'JSON body must be {"images": [base64 PNG, ...]}')
    _non_empty(len(encoded))
    images = []
    for index, item in enumerate(encoded):
        try:
            data = png_bytes(item)
            width, height = png_size(data)
            rules.check_size(height, width, f"image {index}")
            images.append(decode_png(data, rules.input_shape[0]))
        except FsbbtError as exc:
            raise FsbbtError(f"image {index} is {exc}") from None
    return np.stack(images)


def _non_empty(count: int) -> None:
    if count == 0:
        raise RequestError(422, "the request holds no images; send at least one")


def check_bind(host: str, token_env: str | None) -> str | None:
    """The token to require, refusing a non-loopback bind without one."""
    token = os.environ.get(token_env) if token_env else None
    if token_env and not token:
        raise FsbbtError(f"environment variable {token_env} is empty; export the token first")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and token is None:
        raise FsbbtError(
            f"refusing to serve the teacher on {host} without a token; pass "
            "--token-env VAR (clients then send 'Authorization: Bearer $VAR')"
        )
    return token


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` and already listening (port 0: any free port).

    Connections made from now on wait in its backlog until the server accepts them, so
    whoever is told the address can connect at once and is never refused.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise FsbbtError(f"cannot listen on {host}:{port} ({exc}); check --host") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise FsbbtError(f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port") from None
    return sock


def serve(
    teacher: BlackBoxTeacher,
    host: str,
    port: int,
    token_env: str | None,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    announce: Callable[[str], None] | None = None,
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    answer_cache_bytes: int = DEFAULT_ANSWER_CACHE_BYTES,
) -> None:
    """Run the server in the foreground until interrupted.

    ``announce`` is called with the base URL (the real port, when ``port`` is 0) once the
    socket listens, never before: a script that waits for the announcement and then
    connects is never refused.
    """
    import uvicorn

    token = check_bind(host, token_env)
    app = create_app(teacher, token, max_request_bytes, max_image_pixels, answer_cache_bytes)
    sock = listening_socket(host, port)
    if announce is not None:
        shown_host = f"[{host}]" if ":" in host else host  # an IPv6 address in a URL
        announce(f"http://{shown_host}:{sock.getsockname()[1]}")
    with sock:
        uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(sockets=[sock])
