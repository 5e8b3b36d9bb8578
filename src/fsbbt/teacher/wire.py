"""The teacher server's wire format, shared by ``fsbbt teacher serve`` and the http teacher.

``POST /v1/predict`` takes either a uint8 N×C×H×W ``.npy`` body
(``Content-Type: application/x-npy``) or JSON ``{"images": [base64 PNG, ...]}``, and
answers JSON ``{"probabilities": [[...], ...]}``, or a float32 ``.npy`` body when the
request says ``Accept: application/x-npy`` (no float formatting on either side).

A request may carry ``Idempotency-Key`` (:func:`request_digest` of its content); a server
that answers it from its cache of earlier answers says so with ``Idempotent-Replay: true``.

The readers here look at headers before payloads (a ``.npy`` header's shape, a PNG's
IHDR), so that a server can refuse a declared size before it spends memory or CPU on it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import struct
from dataclasses import dataclass

import numpy as np
from PIL import Image

from fsbbt.core.errors import FsbbtError

NPY_MEDIA_TYPE = "application/x-npy"
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replay"

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MAX_NPY_HEADER_BYTES = 10_000  # numpy's own default limit for headers it reads safely
_NPY_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def request_digest(content_type: str, body: bytes | bytearray) -> str:
    """SHA-256 (hex) of a predict request's content type and body: everything that decides
    the answer. The http teacher sends it as the Idempotency-Key, so a retry, or a run
    resumed after SIGKILL that sends the same images, carries the same key."""
    digest = hashlib.sha256(content_type.encode("latin-1", "replace") + b"\n")
    digest.update(body)
    return digest.hexdigest()


def encode_npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


@dataclass(frozen=True)
class NpyHeader:
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    data_offset: int


def npy_header(body: bytes | bytearray, what: str) -> NpyHeader:
    """A ``.npy`` payload's header alone, so its shape and dtype can be judged before its data."""
    # numpy's own readers, on a copy of the header's bytes only (never the whole body)
    head = io.BytesIO(bytes(memoryview(body)[: _MAX_NPY_HEADER_BYTES + 12]))
    try:
        version = np.lib.format.read_magic(head)
        read = _NPY_HEADER_READERS.get(version)
        if read is None:
            raise FsbbtError(f"{what} is a .npy version {version[0]}.{version[1]}, not 1.0 or 2.0")
        shape, fortran_order, dtype = read(head, max_header_size=_MAX_NPY_HEADER_BYTES)
    except (ValueError, TypeError, SyntaxError) as exc:
        raise FsbbtError(f"{what} is not a valid .npy array ({exc})") from None
    if not all(d >= 0 for d in shape):
        raise FsbbtError(f"{what} declares the shape {shape}")
    if dtype.hasobject:
        raise FsbbtError(f"{what} holds Python objects; only plain arrays are read (never unpickled)")
    return NpyHeader(tuple(shape), dtype, fortran_order, head.tell())


def npy_data(body: bytes | bytearray, header: NpyHeader, what: str) -> np.ndarray:
    """The array ``header`` describes, a view of ``body`` (writable if ``body`` is a bytearray)."""
    count = int(np.prod(header.shape, dtype=object))
    expected = count * header.dtype.itemsize
    if len(body) - header.data_offset != expected:
        raise FsbbtError(
            f"{what} holds {len(body) - header.data_offset} data bytes; its header declares {expected}"
        )
    flat = np.frombuffer(body, dtype=header.dtype, count=count, offset=header.data_offset)
    return flat.reshape(header.shape, order="F" if header.fortran_order else "C")


def decode_npy(body: bytes | bytearray, what: str) -> np.ndarray:
    """A ``.npy`` payload, never unpickling (a request body must not run code)."""
    return npy_data(body, npy_header(body, what), what)


def encode_png(image_uint8: np.ndarray) -> str:
    """One C×H×W uint8 image as base64 PNG (grey for 1 channel, RGB for 3)."""
    pixels = image_uint8[0] if image_uint8.shape[0] == 1 else image_uint8.transpose(1, 2, 0)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def png_bytes(encoded: str) -> bytes:
    """The bytes of one base64 image of a JSON request (strict base64: no stray characters)."""
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FsbbtError(f"not base64 ({exc})") from None


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) as a PNG's IHDR chunk declares them, read before anything is decoded."""
    if len(data) < 24 or data[:8] != _PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise FsbbtError("not a PNG (no PNG signature and IHDR chunk)")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def decode_png(data: bytes, channels: int) -> np.ndarray:
    """A PNG as a C×H×W uint8 image, grey for 1 channel and RGB for 3.

    Call :func:`png_size` first and bound the size: this decodes the whole image. Any
    failure of Pillow on these bytes is the sender's broken file, so it is one error.
    """
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            image.load()
            pixels = np.asarray(image.convert("L" if channels == 1 else "RGB"))
    except (OSError, ValueError, SyntaxError, EOFError, struct.error, Image.DecompressionBombError) as exc:
        raise FsbbtError(f"not a readable PNG ({type(exc).__name__})") from None
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)
