"""The one way fsbbt names what a cached or resumable thing was built from.

A finished stage, a stored CVAE, a training checkpoint, a saved teacher and a seed's
synthetic set are reused only when their identity matches: a hash of named parts.
Parts may be plain JSON values, numpy arrays (their dtype, shape and bytes), pydantic
models or dataclasses. The compute precision this process resolved to (bf16 results
are not fp32 results) is part of every identity unless the caller says it cannot
matter, so no caller has to remember it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

import numpy as np

from fsbbt.core import distributed, precision

DIGEST_CHARS = 16


def _canonical(value: Any) -> Any:
    """``value`` as plain JSON data (arrays by their hash, models by their fields)."""
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        digest = hashlib.sha256(f"{array.dtype}|{array.shape}|".encode())
        digest.update(array.tobytes())
        return {"array": digest.hexdigest()}
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _canonical(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value


def identity(
    kind: str,
    *,
    precision_matters: bool = True,
    requested_precision: precision.PrecisionName | None = None,
    **parts: Any,
) -> str:
    """A short hash of ``kind`` and the named ``parts``, plus the precision this process
    computes in, or ``requested_precision`` as it resolves on this machine (a config's
    setting, judged before the process is configured with it)."""
    named = {name: _canonical(value) for name, value in parts.items()}
    named["kind"] = kind
    if precision_matters:
        device = distributed.current().device
        mode = (
            precision.mode_for(device)
            if requested_precision is None
            else precision.resolve(requested_precision, device)
        )
        named["precision"] = mode.name
    text = json.dumps(named, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:DIGEST_CHARS]
