"""A saved student: ``NAME.pt`` (state dict only) plus ``NAME.json`` saying what it is.

The sidecar makes the weights self-describing (architecture, input shape, class names,
where they came from), so export and predict need nothing but the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from fsbbt.core.errors import FsbbtError
from fsbbt.core.model_file import ModelFile
from fsbbt.models.saved import load_network, read_description, save_network


@dataclass(frozen=True)
class StudentInfo:
    """What a student file holds; ``test_accuracy`` is the run's measurement, for the
    user's information (never used to choose a student: that would select on the test set)."""

    arch: str
    input_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    dataset: str
    method: str
    seed: int
    test_accuracy: float | None
    images: str | None = None  # the folder of its few images, when it learnt from yours


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
        path,
        StudentInfo,
        missing=f"{weights} has no sidecar {path.name}; students saved by `fsbbt run` have "
        "one, re-run or give the run directory",
        what="student description",
        fix="re-run the experiment to write it again",
    )


def _weights_file(weights: Path) -> ModelFile:
    return ModelFile(weights, "student weights", "the file is damaged or not an fsbbt student")


def load_student(weights: Path) -> tuple[nn.Module, StudentInfo]:
    """The student network (eval mode, CPU) and its description."""
    info = read_student_info(weights)
    model = load_network(info.arch, info.input_shape, len(info.class_names), _weights_file(weights))
    return model, info


def _parameter_count(weights: Path) -> int:
    return sum(tensor.numel() for tensor in _weights_file(weights).state_dict().values())


def resolve_student(source: Path, method: str | None = None, seed: int | None = None) -> Path:
    """The student file ``source`` names: itself, or one of a run directory's students.

    In a run directory, ``method`` ("fsbbt/lenet5-half") and ``seed`` narrow the choice.
    Without them the FS-BBT student with the fewest parameters is taken (the small
    network is the point of distilling), lowest seed first; the choice is never made on
    test accuracy, which would be model selection on the test set.
    """
    source = Path(source)
    if source.is_file():
        return source
    students = sorted((source / "students").glob("*.pt"))
    if not source.is_dir() or not students:
        raise FsbbtError(
            f"{source} is neither a student file nor a run directory with "
            "students/; give OUT of `fsbbt run` or `fsbbt distill`, or a "
            "students/*.pt file"
        )
    infos = {path: read_student_info(path) for path in students}
    candidates = [
        p
        for p, info in infos.items()
        if (method is None or f"{info.method}/{info.arch}" == method) and (seed is None or info.seed == seed)
    ]
    if not candidates:
        available = ", ".join(f"{i.method}/{i.arch} seed {i.seed}" for i in infos.values())
        raise FsbbtError(
            f"no student in {source} matches --method {method} --seed {seed}; available: {available}"
        )
    if method is None:
        candidates = [p for p in candidates if infos[p].method == "fsbbt"] or candidates
    return min(candidates, key=lambda p: (_parameter_count(p), infos[p].seed, p.name))
