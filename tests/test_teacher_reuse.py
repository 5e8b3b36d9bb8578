"""A run's saved teacher is reused only for the same training: recipe, precision, data."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from fsbbt.data import load_dataset
from fsbbt.experiment.config import load_config
from fsbbt.teacher.local import METADATA_FILE
from fsbbt.teacher.train_local import ensure_teacher, training_identity


def _teacher_written_at(directory: Path) -> int:
    return (directory / METADATA_FILE).stat().st_mtime_ns


def test_teacher_is_retrained_when_its_recipe_or_data_change(tmp_path: Path) -> None:
    dataset = load_dataset("digits")
    settings = load_config("digits", ["teacher.epochs=1"]).teacher
    directory = ensure_teacher(settings, dataset, tmp_path)
    first = _teacher_written_at(directory)
    assert json.loads((directory / METADATA_FILE).read_text())["training_identity"]

    ensure_teacher(settings, dataset, tmp_path)
    assert _teacher_written_at(directory) == first  # same training: reused

    augmented = load_config("digits", ["teacher.epochs=1", "teacher.augmentation=standard"])
    assert training_identity(augmented.teacher, dataset) != training_identity(settings, dataset)
    ensure_teacher(augmented.teacher, dataset, tmp_path)
    assert _teacher_written_at(directory) != first  # another recipe: trained again

    # same name, other pixels (e.g. the pickles vs a JPEG copy): another identity
    other_pixels = replace(dataset, train_images=255 - dataset.train_images)
    assert training_identity(settings, other_pixels) != training_identity(settings, dataset)
