"""Reader for the IDX format of MNIST and Fashion-MNIST (optionally gzip-compressed)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from fsbbt.core.errors import FsbbtError

_IDX_DTYPES = {0x08: np.uint8}


def read_idx(path: Path) -> np.ndarray:
    """Parse an IDX file into an array, refusing anything whose header and size disagree.

    A truncated download or a wrong file must fail here, loudly, rather than train
    on garbage.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as exc:
        raise FsbbtError(f"cannot read {path}: {exc}; delete it so fsbbt can fetch a fresh copy") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise FsbbtError(
            f"{path} is not an IDX file of unsigned bytes (bad magic number); "
            "delete it so fsbbt can fetch a fresh copy"
        )
    ndim = raw[3]
    header_size = 4 + 4 * ndim
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(dims)) + header_size
    if len(raw) != expected:
        raise FsbbtError(
            f"{path} is truncated or corrupt: header says {dims} "
            f"({expected} bytes), file has {len(raw)}; delete it and fetch it again"
        )
    return np.frombuffer(raw, dtype=_IDX_DTYPES[raw[2]], offset=header_size).reshape(dims).copy()


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as (gzip-compressed if the name ends in .gz) IDX; used by tests and tools."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as handle:
        handle.write(header + array.tobytes())
