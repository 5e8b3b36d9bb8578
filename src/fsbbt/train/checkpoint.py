"""Per-epoch training checkpoints: written atomically, read back as a
:class:`~fsbbt.core.model_file.ModelFile`.

A checkpoint holds only tensors and plain containers (numbers, strings, lists, dicts), so
it is read without letting it run code. It is written to a temporary file and renamed
over the old one: a kill at any moment leaves either the previous epoch's checkpoint or
this one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from fsbbt.core.model_file import ModelFile


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
    file = ModelFile(path, "training checkpoint", "delete it to train this stage from the start")
    payload = file.payload()
    if not isinstance(payload, dict) or "epoch" not in payload:
        raise file.error("it is not an fsbbt training checkpoint")
    return payload
