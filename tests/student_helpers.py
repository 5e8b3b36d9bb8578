"""Students on disk for the tests: a digits student saved as `fsbbt run` saves one."""

from __future__ import annotations

from pathlib import Path

from fsbbt.core.tensors import one_hot
from fsbbt.data import load_dataset
from fsbbt.models import build_classifier
from fsbbt.ship import StudentInfo, save_student
from fsbbt.train import TrainRecipe, fit_classifier


def save_digits_student(run_dir: Path, method: str, arch: str, train: bool) -> Path:
    """``run_dir/students/<method>__<arch>__seed1.pt`` and its sidecar; ``train`` gives it
    three epochs on 800 digits (confident, non-uniform probabilities to compare)."""
    digits = load_dataset("digits")
    model = build_classifier(arch, digits.input_shape, digits.num_classes)
    if train:
        fit_classifier(
            model,
            digits.train_images[:800],
            one_hot(digits.train_labels[:800], 10),
            TrainRecipe(epochs=3, batch_size=32),
            seed=0,
        )
    path = run_dir / "students" / f"{method}__{arch}__seed1.pt"
    save_student(
        model,
        StudentInfo(
            arch=arch,
            input_shape=digits.input_shape,
            class_names=digits.class_names,
            dataset="digits",
            method=method,
            seed=1,
            test_accuracy=0.0,
        ),
        path,
    )
    return path
