"""The teacher server's wire format, shared by ``fsbbt teacher serve`` and the http teacher.

``POST /v1/predict`` takes either a uint8 N×C×H×W ``.npy`` body
(``Content-Type: application/x-npy``) or JSON ``{"images": [base64 PNG, ...]}``, and
answers JSON ``{"probabilities": [[...], ...]}``, or a float32 ``.npy`` body when the
request says ``Accept: application/x-npy`` (no float formatting on either side).
"""

from __future__ import annotations

import base64
import binascii
import io

import numpy as np
from PIL import Image, UnidentifiedImageError

from fsbbt.core.errors import FsbbtError

NPY_MEDIA_TYPE = "application/x-npy"


def encode_npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def decode_npy(body: bytes, what: str) -> np.ndarray:
    """A ``.npy`` payload, never unpickling (a request body must not run code)."""
    try:
        return np.load(io.BytesIO(body), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise FsbbtError(f"{what} is not a valid .npy array ({exc})") from exc


def encode_png(image_uint8: np.ndarray) -> str:
    """One C×H×W uint8 image as base64 PNG (grey for 1 channel, RGB for 3)."""
    pixels = image_uint8[0] if image_uint8.shape[0] == 1 else image_uint8.transpose(1, 2, 0)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_png(encoded: str, input_shape: tuple[int, int, int], index: int) -> np.ndarray:
    """A base64 PNG as a C×H×W uint8 image of exactly ``input_shape``."""
    channels, height, width = input_shape
    try:
        with Image.open(io.BytesIO(base64.b64decode(encoded, validate=True))) as image:
            image.load()
            pixels = np.asarray(image.convert("L" if channels == 1 else "RGB"))
    except (binascii.Error, UnidentifiedImageError, OSError, ValueError) as exc:
        raise FsbbtError(f"image {index} is not a base64 PNG ({type(exc).__name__})") from exc
    if pixels.shape[:2] != (height, width):
        raise FsbbtError(
            f"image {index} is {pixels.shape[1]}×{pixels.shape[0]}, the teacher takes {width}×{height}"
        )
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)
