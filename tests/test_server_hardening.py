"""``fsbbt teacher serve`` under hostile or unlucky clients, on loopback.

Every client mistake is a 4xx JSON refusal decided from headers, before any decoding;
the server announces itself only once it listens; and a request carrying an
Idempotency-Key (the http teacher always sends one) is paid for once, however often a
timed-out client retries it.
"""

from __future__ import annotations

import asyncio
import base64
import io
import re
import struct
import subprocess
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from PIL import Image
from teacher_helpers import (
    DIGITS_CLASSES,
    DIGITS_SHAPE,
    HERE,
    FixedTeacher,
    http_teacher,
    linear_teacher,
    running_server,
    serve_command,
)

from fsbbt.teacher.answer_cache import ENTRY_OVERHEAD_BYTES
from fsbbt.teacher.blackbox import QueryOracle
from fsbbt.teacher.python_function import PythonFunctionTeacher
from fsbbt.teacher.server import create_app
from fsbbt.teacher.wire import (
    IDEMPOTENCY_KEY_HEADER,
    NPY_MEDIA_TYPE,
    REPLAY_HEADER,
    decode_npy,
    encode_npy,
    encode_png,
)

MAX_REQUEST_BYTES = 20_000
IMAGES = np.random.default_rng(7).integers(0, 256, (40, *DIGITS_SHAPE), dtype=np.uint8)


def _declared_png(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR declaring width×height (1-bit grey), with a few bytes of
    image data: a decompression bomb to anything that believes the header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def _pickled_npy() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.array([print], dtype=object), allow_pickle=True)
    return buffer.getvalue()


def _predict(content: bytes, content_type: str | None, **headers: str) -> dict:
    """httpx.request arguments for POST /v1/predict with this body."""
    if content_type is not None:
        headers["Content-Type"] = content_type
    return {"method": "POST", "url": "/v1/predict", "content": content, "headers": headers}


def _npy(array: np.ndarray) -> dict:
    return _predict(encode_npy(array), NPY_MEDIA_TYPE)


def _json(payload: object) -> dict:
    return {"method": "POST", "url": "/v1/predict", "json": payload}


def _pngs(*pngs: bytes) -> dict:
    return _json({"images": [base64.b64encode(png).decode() for png in pngs]})


MISTAKES = {
    "empty .npy batch": (_npy(np.zeros((0, *DIGITS_SHAPE), np.uint8)), 422),
    "empty PNG batch": (_json({"images": []}), 422),
    "20000×20000 PNG (a decompression bomb)": (_pngs(_declared_png(20_000, 20_000)), 413),
    "12000×12000 PNG": (_pngs(_declared_png(12_000, 12_000)), 413),
    "PNG not the teacher's size": (_pngs(base64.b64decode(encode_png(IMAGES[0][:, :20]))), 422),
    "PNG whose data is broken": (_pngs(_declared_png(28, 28)), 400),
    "base64 of bytes that are no PNG": (_pngs(b"GIF89a garbage, not a PNG at all"), 400),
    "not base64": (_json({"images": ["not base64!"]}), 400),
    ".npy not the teacher's size": (_npy(IMAGES[:2, :, :20]), 422),
    ".npy with the wrong channels": (_npy(np.zeros((2, 3, 28, 28), np.uint8)), 422),
    ".npy of float32": (_npy(IMAGES[:2].astype(np.float32)), 422),
    ".npy of one image without the batch axis": (_npy(IMAGES[0]), 422),
    ".npy cut short": (_predict(encode_npy(IMAGES[:2])[:-7], NPY_MEDIA_TYPE), 400),
    "pickled .npy": (_predict(_pickled_npy(), NPY_MEDIA_TYPE), 400),
    "garbage bytes as .npy": (_predict(b"\x00\xffjunk" * 9, NPY_MEDIA_TYPE), 400),
    "garbage bytes as JSON": (_predict(b"\xff\xfe\x00{junk", "application/json"), 400),
    "JSON nested too deep": (_predict(b"[" * 10_000, "application/json"), 400),
    "JSON without images": (_json({"pictures": []}), 400),
    "JSON images that are not strings": (_json({"images": [1, 2]}), 400),
    "wrong content type": (_predict(b"x", "text/plain"), 415),
    "no content type": (_predict(b"x", None), 415),
    "body over the limit": (_npy(np.zeros((40, *DIGITS_SHAPE), np.uint8)), 413),
    "empty Idempotency-Key": (
        _predict(encode_npy(IMAGES[:2]), NPY_MEDIA_TYPE, **{"Idempotency-Key": '""'}),
        400,
    ),
    "unknown path": ({"method": "GET", "url": "/v1/nothing"}, 404),
    "wrong method": ({"method": "GET", "url": "/v1/predict"}, 405),
}


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with (
        running_server(create_app(FixedTeacher(), max_request_bytes=MAX_REQUEST_BYTES)) as url,
        httpx.Client(base_url=url) as client,
    ):
        yield client


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_every_client_mistake_is_a_4xx_json_error(client: httpx.Client, mistake: str) -> None:
    request, status = MISTAKES[mistake]
    response = client.request(**request)
    assert response.status_code == status, response.text
    assert response.json()["error"]


def test_a_decompression_bomb_is_refused_from_its_header(client: httpx.Client) -> None:
    bomb = _declared_png(20_000, 20_000)
    assert len(bomb) < 100
    with pytest.raises(Image.DecompressionBombError):  # what Pillow would make of it
        Image.open(io.BytesIO(bomb))
    started = time.monotonic()
    response = client.request(**_pngs(bomb, *[bomb] * 50))
    assert response.status_code == 413 and "20000×20000" in response.json()["error"]
    assert time.monotonic() - started < 1.0


def test_serve_announces_after_binding_and_logs_no_traceback() -> None:
    """The real command on port 0: connect the moment the line appears (no retry), then
    make every mistake; its log is that one line and nothing else."""
    server = subprocess.Popen(
        serve_command(
            None,
            "--port",
            "0",
            "--max-request-mb",
            str(MAX_REQUEST_BYTES / 1024 / 1024),
            "--set",
            f"input_shape={list(DIGITS_SHAPE)}",
            "--set",
            f"class_names={list(DIGITS_CLASSES)}",
        ),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        announced = server.stderr.readline() if server.stderr else ""
        found = re.search(r"on (http://127\.0\.0\.1:(\d+))$", announced.strip())
        assert found and int(found.group(2)) > 0, announced
        with httpx.Client(base_url=found.group(1), transport=httpx.HTTPTransport(retries=0)) as client:
            assert client.get("/v1/info").json()["input_shape"] == list(DIGITS_SHAPE)
            for request, status in MISTAKES.values():
                assert client.request(**request).status_code == status
            assert client.request(**_npy(IMAGES[:4])).status_code == 200
    finally:
        server.terminate()
        _, log = server.communicate(timeout=30)
    assert log.strip() == "", log


def _stats(url: str) -> dict[str, int]:
    return httpx.get(f"{url}/v1/stats").json()


def _slow_first_call_teacher() -> PythonFunctionTeacher:
    return PythonFunctionTeacher(
        f"{HERE / 'teacher_helpers.py'}:slow_first_call_teacher", DIGITS_SHAPE, DIGITS_CLASSES
    )


def test_the_same_request_is_evaluated_once() -> None:
    with running_server(create_app(FixedTeacher())) as url:
        first = http_teacher(url)
        assert np.allclose(first.predict_proba(IMAGES), linear_teacher(IMAGES), atol=1e-6)
        assert _stats(url)["teacher_evaluations"] == len(IMAGES)
        # a new client (a run resumed after SIGKILL) derives the same keys from the same images
        resumed = http_teacher(url)
        assert np.allclose(resumed.predict_proba(IMAGES), linear_teacher(IMAGES), atol=1e-6)
        stats = _stats(url)
        assert stats["teacher_evaluations"] == len(IMAGES) and stats["replayed"] == len(IMAGES)
        assert resumed.transport_counts()["replayed"] == len(IMAGES)
        assert first.transport_counts()["replayed"] == 0
        # the same key with other content is refused; without a key nothing is remembered
        reused = _predict(encode_npy(IMAGES[:2]), NPY_MEDIA_TYPE, **{IDEMPOTENCY_KEY_HEADER: "k"})
        assert httpx.request(**{**reused, "url": url + reused["url"]}).status_code == 200
        other = {**reused, "url": url + reused["url"], "content": encode_npy(IMAGES[2:4])}
        assert httpx.request(**other).status_code == 422
        for _ in range(2):
            response = httpx.request(**_npy(IMAGES[:2]) | {"url": f"{url}/v1/predict"})
            assert response.status_code == 200 and REPLAY_HEADER not in response.headers
        assert _stats(url)["teacher_evaluations"] == len(IMAGES) + 2 + 2 * 2


def test_concurrent_duplicates_wait_for_the_first_evaluation() -> None:
    request = _predict(encode_npy(IMAGES[:8]), NPY_MEDIA_TYPE, **{IDEMPOTENCY_KEY_HEADER: '"same"'})
    with running_server(create_app(_slow_first_call_teacher())) as url:
        with ThreadPoolExecutor(3) as pool:
            responses = list(
                pool.map(
                    lambda _: httpx.request(**{**request, "url": url + request["url"]}, timeout=10), range(3)
                )
            )
        assert [r.status_code for r in responses] == [200] * 3
        assert sum(r.headers.get(REPLAY_HEADER) == "true" for r in responses) == 2
        assert _stats(url)["teacher_evaluations"] == 8


def test_a_retry_after_a_timeout_is_answered_from_the_servers_cache() -> None:
    """The client gives up on the slow first answer and retries; the server, still working
    on it, answers the retry with that same evaluation."""
    with running_server(create_app(_slow_first_call_teacher())) as url:
        oracle = QueryOracle(http_teacher(url, timeout_s=0.3), batch_size=len(IMAGES))
        assert np.allclose(oracle.query(IMAGES), linear_teacher(IMAGES), atol=1e-6)
        assert _stats(url)["teacher_evaluations"] == len(IMAGES)
    usage = oracle.usage()
    assert usage["timeouts"] >= 1 and usage["retries"] >= usage["timeouts"]
    # at least the slow request of 16 images (on a loaded machine, maybe others too)
    assert usage["replayed"] == usage["replayed_in_all"] >= 16
    assert usage["paid_twice"] == 0


def _forgetful_server(evaluated: list[int]) -> FastAPI:
    """A server that ignores Idempotency-Key and is slow on its first answer."""
    app = FastAPI()

    @app.post("/v1/predict")
    async def predict(request: Request) -> JSONResponse:
        images = decode_npy(await request.body(), "request")
        evaluated.append(len(images))
        if len(evaluated) == 1:
            await asyncio.sleep(1.0)
        return JSONResponse({"probabilities": linear_teacher(images).tolist()})

    return app


def test_images_paid_twice_are_counted_against_a_server_that_forgets() -> None:
    evaluated: list[int] = []
    with running_server(_forgetful_server(evaluated)) as url:
        teacher = http_teacher(url, timeout_s=0.3)
        teacher.predict_proba(IMAGES[:16])
    assert evaluated[:2] == [16, 16]  # the timed-out request, and its retry, both run
    counts = teacher.transport_counts()
    assert counts["paid_twice"] == 16 and counts["replayed"] == 0


def test_the_answer_cache_stays_within_its_bytes() -> None:
    batch = 4
    key_chars = 64  # request_digest's hex
    entry = batch * len(DIGITS_CLASSES) * 4 + 2 * key_chars + ENTRY_OVERHEAD_BYTES
    with running_server(create_app(FixedTeacher(), answer_cache_bytes=3 * entry)) as url:
        teacher = http_teacher(url)
        for start in range(0, len(IMAGES), batch):
            teacher.predict_proba(IMAGES[start : start + batch])
            stats = _stats(url)
            assert stats["cache_bytes"] <= stats["cache_max_bytes"] == 3 * entry
        assert stats["cache_entries"] == 3
        # least recently used first out: the last batch is remembered, the first is not
        before = stats["teacher_evaluations"]
        teacher.predict_proba(IMAGES[-batch:])
        assert _stats(url)["teacher_evaluations"] == before
        teacher.predict_proba(IMAGES[:batch])
        assert _stats(url)["teacher_evaluations"] == before + batch
