"""A saved student: ``NAME.pt`` (state dict only) plus ``NAME.json`` saying what it is.

The sidecar makes the weights self-describing (architecture, input shape, class names,
where they came from), so export and predict need nothing but the file.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from fsbbt.errors import FsbbtError
from fsbbt.models import build_classifier


@dataclass(frozen=True)
class StudentInfo:
    """What a student file holds; ``test_accuracy`` is the run's measurement, for choosing."""

    arch: str
    input_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    dataset: str
    method: str
    seed: int
    test_accuracy: float


def student_filename(method: str, arch: str, seed: int) -> str:
    """``<method>__<arch>__seed<k>.pt``, the name the runner gives every student."""
    return f"{method}__{arch}__seed{seed}.pt"


def sidecar_path(weights: Path) -> Path:
    return weights.with_suffix(".json")


def save_student(model: nn.Module, info: StudentInfo, weights: Path) -> None:
    """Write the state dict, then the sidecar (whose presence means the pair is complete)."""
    weights.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), weights)
    sidecar_path(weights).write_text(json.dumps(asdict(info), indent=2) + "\n")


def read_student_info(weights: Path) -> StudentInfo:
    """The sidecar of ``weights``, or a one-line error saying it is missing or broken."""
    path = sidecar_path(weights)
    try:
        raw = json.loads(path.read_text())
        raw["input_shape"] = tuple(raw["input_shape"])
        raw["class_names"] = tuple(raw["class_names"])
        return StudentInfo(**raw)
    except FileNotFoundError as exc:
        raise FsbbtError(f"{weights} has no sidecar {path.name}; students saved by `fsbbt run` "
                         "have one, re-run or give the run directory") from exc
    except (ValueError, TypeError, KeyError) as exc:
        raise FsbbtError(f"{path} is not a valid student description ({exc}); re-run the "
                         "experiment to write it again") from exc


def load_student(weights: Path) -> tuple[nn.Module, StudentInfo]:
    """The student network (eval mode, CPU) and its description."""
    info = read_student_info(weights)
    model = build_classifier(info.arch, info.input_shape, len(info.class_names))
    try:
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    except (OSError, RuntimeError, KeyError) as exc:
        raise FsbbtError(f"cannot load student weights from {weights} ({type(exc).__name__}); "
                         "the file is damaged or not an fsbbt student") from exc
    return model.eval(), info
