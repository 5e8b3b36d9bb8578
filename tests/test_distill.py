"""``fsbbt distill`` on a folder of the user's own images."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from teacher_helpers import DIGITS_CLASSES, linear_teacher_tree

from fsbbt.core.errors import FsbbtError
from fsbbt.data import load_dataset
from fsbbt.data.folder import load_image_folder
from fsbbt.experiment.distill import distill_config, run_distill
from fsbbt.teacher.factory import spec_to_tree

FAST = ["student.epochs=1", "cvae.epochs=2", "query_batch_size=64"]


def _write_images(directory: Path, images: np.ndarray) -> None:
    """Digits saved in mixed formats, sizes and colour modes, as a user's folder would be."""
    directory.mkdir(parents=True)
    for i, image in enumerate(images):
        picture = Image.fromarray(image[0])
        if i % 3 == 1:
            picture.resize((56, 56)).convert("RGB").save(directory / f"img{i:03d}.jpg", quality=95)
        elif i % 3 == 2:
            picture.save(directory / f"img{i:03d}.bmp")
        else:
            picture.save(directory / f"img{i:03d}.png")


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("distill")
    digits = load_dataset("digits")
    _write_images(root / "images", digits.train_images[:30])
    for label in range(10):
        of_label = digits.test_images[digits.test_labels == label]
        _write_images(root / "test" / str(label), of_label[:3])
    spec = root / "teacher.yaml"
    spec.write_text(yaml.safe_dump({**linear_teacher_tree(), "input_shape": [1, 28, 28],
                                    "class_names": list(DIGITS_CLASSES)}))
    return root / "images", root / "test", spec


def test_distill_saves_a_student_and_a_report(folders: tuple[Path, Path, Path],
                                              tmp_path: Path) -> None:
    images_dir, test_dir, spec = folders
    assert load_image_folder(images_dir, (1, 28, 28)).shape == (30, 1, 28, 28)
    config = distill_config(spec_to_tree(str(spec)), 30, "lenet5-half", 1, True,
                            [*FAST, "query_budget=300"])
    assert config.synthesis.budget == 24 * 30
    results = run_distill(config, images_dir, tmp_path, test_dir)
    summary = results["methods"]["fsbbt/lenet5-half"]
    assert summary["teacher_queries"] == 300 and summary["test_images"] == 30
    assert 0.0 <= summary["accuracy_mean"] <= 1.0
    assert results["queries"]["sent"] <= 300 and results["queries"]["budget"] == 300
    student = json.loads((tmp_path / "student" / "student.json").read_text())
    assert student["arch"] == "lenet5-half" and student["input_shape"] == [1, 28, 28]
    for name in ("student/student.pt", "results.json", "samples.png", "curves.png"):
        assert (tmp_path / name).is_file()


def test_corrupt_image_is_a_one_line_error_naming_the_file(
        folders: tuple[Path, Path, Path], tmp_path: Path) -> None:
    images_dir, _, spec = folders
    broken = tmp_path / "images"
    broken.mkdir()
    for path in sorted(images_dir.iterdir())[:5]:
        (broken / path.name).write_bytes(path.read_bytes())
    (broken / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(FsbbtError, match="broken.png is not a readable image"):
        load_image_folder(broken, (1, 28, 28))
    command = [sys.executable, "-m", "fsbbt", "distill", "--teacher", str(spec), "--images",
               str(broken), "--out", str(tmp_path / "out"), "-q"]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=120,
                              env={**os.environ, "FSBBT_QUIET": "1"})
    assert finished.returncode == 2
    assert finished.stderr.strip().count("\n") == 0 and "broken.png" in finished.stderr
