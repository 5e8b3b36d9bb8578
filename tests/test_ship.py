"""Shipping a student: export round trips with the parity bound, predict on PNG files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from student_helpers import save_digits_student

from fsbbt.core.errors import FsbbtError
from fsbbt.data import load_dataset
from fsbbt.ship import export_student, load_shipped_model, predict, resolve_student
from fsbbt.ship.export import PARITY_BOUND
from fsbbt.train import predict_probabilities


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory with three students; only fsbbt/lenet5-half is trained."""
    directory = tmp_path_factory.mktemp("run")
    save_digits_student(directory, "fsbbt", "lenet5-half", train=True)
    save_digits_student(directory, "fsbbt", "lenet5", train=False)
    save_digits_student(directory, "student-alone", "lenet5-half", train=False)
    return directory


@pytest.fixture(scope="module")
def png_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("images")
    digits = load_dataset("digits")
    for i in range(4):
        Image.fromarray(digits.test_images[i, 0]).save(directory / f"test{i}.png")
    return directory


@pytest.mark.parametrize("export_format", ["onnx", "torchscript"])
def test_export_round_trip_within_parity_bound(run_dir: Path, tmp_path: Path, export_format: str) -> None:
    out = tmp_path / f"student.{export_format}"
    report = export_student(run_dir, export_format, out)  # type: ignore[arg-type]
    assert report.student.name == "fsbbt__lenet5-half__seed1.pt"
    assert report.images_checked == 450 and report.checked_on == "digits test images"
    assert 0 <= report.max_abs_difference <= PARITY_BOUND
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no partial file left

    digits = load_dataset("digits")
    shipped = load_shipped_model(out)
    assert shipped.kind == export_format
    assert shipped.input_shape == (1, 28, 28) and shipped.class_names == digits.class_names
    reference = predict_probabilities(load_shipped_student(run_dir), digits.test_images)
    exported = shipped.predict_proba(digits.test_images)
    assert np.abs(exported - reference).max() <= PARITY_BOUND
    assert (reference.argmax(1) == digits.test_labels).mean() > 0.5  # a real, trained student
    single = shipped.predict_proba(digits.test_images[:1])  # the batch size is not baked in
    assert single.shape == (1, 10)


def load_shipped_student(run_dir: Path):
    from fsbbt.ship import load_student

    return load_student(run_dir / "students" / "fsbbt__lenet5-half__seed1.pt")[0]


def test_predict_agrees_across_formats(run_dir: Path, png_dir: Path, tmp_path: Path) -> None:
    student = run_dir / "students" / "fsbbt__lenet5-half__seed1.pt"
    onnx_file, script_file = tmp_path / "s.onnx", tmp_path / "s.pt"
    export_student(student, "onnx", onnx_file)
    export_student(student, "torchscript", script_file)

    by_format = [predict(model, [png_dir], top_k=3) for model in (student, onnx_file, script_file)]
    digits = load_dataset("digits")
    expected = predict_probabilities(load_shipped_student(run_dir), digits.test_images[:4])
    for predictions in by_format:
        assert [p.image.name for p in predictions] == [f"test{i}.png" for i in range(4)]
        for row, prediction in zip(expected, predictions, strict=True):
            assert len(prediction.labels) == 3
            assert list(prediction.probabilities) == sorted(prediction.probabilities, reverse=True)
            assert prediction.labels[0] == digits.class_names[row.argmax()]
            assert prediction.probabilities[0] == pytest.approx(row.max(), abs=PARITY_BOUND)


def test_predict_converts_colour_and_size(run_dir: Path, tmp_path: Path) -> None:
    digit = load_dataset("digits").test_images[0, 0]
    big_rgb = Image.fromarray(digit).resize((56, 56)).convert("RGB")
    big_rgb.save(tmp_path / "big.jpg")
    student = run_dir / "students" / "fsbbt__lenet5-half__seed1.pt"
    original = predict(student, [tmp_path / "big.jpg"], top_k=1)[0]
    assert len(original.labels) == 1 and 0 < original.probabilities[0] <= 1


def test_corrupt_image_is_named(run_dir: Path, png_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    with pytest.raises(FsbbtError, match="broken.png"):
        predict(run_dir / "students" / "fsbbt__lenet5-half__seed1.pt", [png_dir / "test0.png", broken])


def test_run_directory_choice(run_dir: Path) -> None:
    assert resolve_student(run_dir, "fsbbt/lenet5").name == "fsbbt__lenet5__seed1.pt"
    assert resolve_student(run_dir, "student-alone/lenet5-half", 1).name.startswith("student")
    with pytest.raises(FsbbtError, match="available: .*fsbbt/lenet5-half seed 1"):
        resolve_student(run_dir, "fsbbt/lenet5", seed=7)
    with pytest.raises(FsbbtError, match="neither a student file nor a run directory"):
        resolve_student(run_dir / "missing")


def test_model_files_that_are_not_students(run_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(FsbbtError, match="not found"):
        load_shipped_model(tmp_path / "absent.onnx")
    bare = tmp_path / "bare.pt"
    bare.write_bytes((run_dir / "students" / "fsbbt__lenet5__seed1.pt").read_bytes())
    with pytest.raises(FsbbtError, match="PyTorch weights file without its .json description"):
        load_shipped_model(bare)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"nope")
    with pytest.raises(FsbbtError, match="not a loadable ONNX model"):
        load_shipped_model(garbage)


@pytest.mark.slow
def test_cli_export_and_predict(run_cli, run_dir: Path, png_dir: Path, tmp_path: Path) -> None:
    exported = run_cli("export", run_dir, "--format", "onnx", "--out", tmp_path / "s.onnx")
    assert "parity: max |p_onnx - p_pytorch| = " in exported.stdout
    assert "on 450 digits test images (bound 1e-04)" in exported.stdout
    predicted = run_cli("predict", tmp_path / "s.onnx", png_dir / "test0.png", png_dir, "--top-k", "2")
    lines = predicted.stdout.strip().splitlines()
    assert len(lines) == 5 and lines[0].startswith(str(png_dir / "test0.png") + ": ")
    assert all(len(line.split(": ")[1].split(", ")) == 2 for line in lines)
    (tmp_path / "bad.png").write_text("not an image")
    failed = run_cli("predict", tmp_path / "s.onnx", tmp_path / "bad.png", check=False)
    assert failed.returncode == 2
    assert failed.stderr.strip().count("\n") == 0 and "bad.png" in failed.stderr
