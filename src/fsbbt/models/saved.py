"""A saved network: a state dict (``.pt``) plus a JSON description beside it.

Teachers and students are both kept this way, so that export, predict and later runs
need nothing but the files. The JSON is written last: its presence means the pair is
complete. Weights are read through :class:`~fsbbt.core.model_file.ModelFile`, so a file
cannot run code and a bad one is a one-line error.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from fsbbt.core.errors import FsbbtError
from fsbbt.core.model_file import ModelFile
from fsbbt.models.registry import build_classifier

Description = TypeVar("Description")


def save_network(model: nn.Module, description: Any, weights: Path, sidecar: Path) -> None:
    """Write the state dict, then the description (a dataclass) as JSON."""
    weights.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), weights)
    sidecar.write_text(json.dumps(asdict(description), indent=2) + "\n")


def read_description(
    sidecar: Path, description_type: type[Description], *, missing: str, what: str, fix: str
) -> Description:
    """The dataclass stored in ``sidecar``. ``missing`` is the whole error for an absent
    file; a broken one says "<sidecar> is not a valid <what> (<problem>); <fix>"."""
    try:
        raw = json.loads(sidecar.read_text())
        raw["input_shape"] = tuple(raw["input_shape"])
        raw["class_names"] = tuple(raw["class_names"])
        return description_type(**raw)
    except (FileNotFoundError, NotADirectoryError) as exc:  # also: a file given as a directory
        raise FsbbtError(missing) from exc
    except (ValueError, TypeError, KeyError) as exc:
        raise FsbbtError(f"{sidecar} is not a valid {what} ({exc}); {fix}") from exc


def load_network(
    arch: str, input_shape: tuple[int, int, int], num_classes: int, weights: ModelFile
) -> nn.Module:
    """The classifier ``arch`` with the state dict in ``weights``, in eval mode on the CPU."""
    return weights.load_into(build_classifier(arch, input_shape, num_classes), f"a {arch} network")
