"""``fsbbt teacher serve``: any teacher behind the HTTP wire format of teacher/wire.py.

Safe by default: it binds loopback; binding any other address needs a bearer token
(read from an environment variable, compared in constant time, never logged); request
bodies above ``max_request_bytes`` are refused before inference; every malformed
request gets a 4xx JSON ``{"error": ...}``.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from fsbbt.core.errors import FsbbtError
from fsbbt.teacher.blackbox import BlackBoxTeacher, validate_probabilities
from fsbbt.teacher.wire import NPY_MEDIA_TYPE, decode_npy, decode_png, encode_npy

DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024


class RequestError(Exception):
    """A request the server refuses, with the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def create_app(
    teacher: BlackBoxTeacher, token: str | None = None, max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
) -> FastAPI:
    """The FastAPI app serving ``teacher`` (probabilities only: it is already converted)."""
    app = FastAPI(title="fsbbt teacher", docs_url=None, redoc_url=None, openapi_url=None)
    input_shape = tuple(int(d) for d in teacher.input_shape)
    class_names = [str(name) for name in teacher.class_names]

    @app.exception_handler(RequestError)
    async def _refused(_: Request, exc: RequestError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

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
        }

    @app.post("/v1/predict")
    async def predict(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_request_bytes:
            raise RequestError(
                413,
                f"request of {declared} bytes exceeds the limit of {max_request_bytes}; send smaller batches",
            )
        body = bytearray()
        async for piece in request.stream():
            body.extend(piece)
            if len(body) > max_request_bytes:
                raise RequestError(
                    413, f"request exceeds the limit of {max_request_bytes} bytes; send smaller batches"
                )
        images = _images_from_body(bytes(body), request.headers.get("content-type", ""), input_shape)
        # Inference leaves the event loop so that concurrent requests overlap.
        answer = await run_in_threadpool(teacher.predict_proba, images)
        probs = validate_probabilities(answer, len(images), len(class_names), "this request")
        if NPY_MEDIA_TYPE in request.headers.get("accept", ""):
            return Response(encode_npy(probs.astype(np.float32)), media_type=NPY_MEDIA_TYPE)
        return JSONResponse({"probabilities": probs.tolist()})

    return app


def _images_from_body(body: bytes, content_type: str, input_shape: tuple[int, ...]) -> np.ndarray:
    try:
        if content_type.startswith(NPY_MEDIA_TYPE):
            images = decode_npy(body, "the request body")
        elif content_type.startswith("application/json"):
            images = _png_batch(body, input_shape)
        else:
            raise RequestError(
                415, f"content type {content_type or '(none)'} is not {NPY_MEDIA_TYPE} or application/json"
            )
    except FsbbtError as exc:
        raise RequestError(400, str(exc)) from None
    if images.dtype != np.uint8 or images.ndim != 4 or tuple(images.shape[1:]) != input_shape:
        raise RequestError(
            422,
            f"images must be uint8 N×{'×'.join(map(str, input_shape))}, got {images.dtype} {images.shape}",
        )
    return images


def _png_batch(body: bytes, input_shape: tuple[int, ...]) -> np.ndarray:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(400, f"request body is not JSON ({exc})") from None
    encoded = payload.get("images") if isinstance(payload, dict) else None
    if not isinstance(encoded, list) or not all(isinstance(item, str) for item in encoded):
        raise RequestError(400, 'JSON body must be {"images": [base64 PNG, ...]}')
    shape = (int(input_shape[0]), int(input_shape[1]), int(input_shape[2]))
    return (
        np.stack([decode_png(item, shape, i) for i, item in enumerate(encoded)])
        if encoded
        else np.zeros((0, *shape), np.uint8)
    )


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


def serve(
    teacher: BlackBoxTeacher,
    host: str,
    port: int,
    token_env: str | None,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
) -> None:
    """Run the server in the foreground until interrupted."""
    import uvicorn

    token = check_bind(host, token_env)
    app = create_app(teacher, token, max_request_bytes)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
