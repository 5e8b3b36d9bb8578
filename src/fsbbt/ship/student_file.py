"""A saved student: ``NAME.pt`` (state dict only) plus ``NAME.json`` saying what it is.

The sidecar makes the weights self-describing (architecture, input shape, class names,
where they came from), so export and predict need nothing but the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from fsbbt.models.saved import load_network, read_description, save_network


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
    """Write the weights and their sidecar, so export and predict need nothing else."""
    save_network(model, info, weights, sidecar_path(weights))


def read_student_info(weights: Path) -> StudentInfo:
    """The sidecar of ``weights``, or a one-line error saying it is missing or broken."""
    path = sidecar_path(weights)
    return read_description(
        path, StudentInfo,
        missing=f"{weights} has no sidecar {path.name}; students saved by `fsbbt run` have "
                "one, re-run or give the run directory",
        what="student description", fix="re-run the experiment to write it again")


def load_student(weights: Path) -> tuple[nn.Module, StudentInfo]:
    """The student network (eval mode, CPU) and its description."""
    info = read_student_info(weights)
    model = load_network(info.arch, info.input_shape, len(info.class_names), weights,
                         what="student weights",
                         fix="the file is damaged or not an fsbbt student")
    return model, info
