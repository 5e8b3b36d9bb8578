"""Per-epoch training checkpoints: written atomically, read back with ``weights_only=True``.

A checkpoint holds only tensors and plain containers (numbers, strings, lists, dicts), so
loading it cannot run code. It is written to a temporary file and renamed over the old
one: a kill at any moment leaves either the previous epoch's checkpoint or this one.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch

from fsbbt.core.errors import FsbbtError


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` atomically (temporary file + ``os.replace``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    torch.save(payload, temporary)
    os.replace(temporary, path)


def load_checkpoint(path: Path) -> dict[str, Any] | None:
    """The checkpoint at ``path``, or None if there is none yet."""
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError, pickle.UnpicklingError) as exc:
        raise FsbbtError(
            f"checkpoint {path} cannot be read ({type(exc).__name__}); delete it "
            "to train this stage from the start"
        ) from exc
    if not isinstance(payload, dict) or "epoch" not in payload:
        raise FsbbtError(
            f"{path} is not an fsbbt training checkpoint; delete it to train this stage from the start"
        )
    return payload
