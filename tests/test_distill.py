"""``fsbbt distill`` on a folder of the user's own images: one run of the pipeline, whose
students ``predict`` and ``export`` take, and which a re-run reuses whole."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from teacher_helpers import DIGITS_CLASSES, free_port, linear_teacher_tree, write_digit_images

import fsbbt
from fsbbt.core.errors import FsbbtError
from fsbbt.data import load_dataset
from fsbbt.data.folder import load_image_folder

FAST = ["student.epochs=1", "cvae.epochs=2", "query_batch_size=64"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("distill")
    digits = load_dataset("digits")
    write_digit_images(root / "images", digits.train_images[:30])
    for label in range(10):
        of_label = digits.test_images[digits.test_labels == label]
        write_digit_images(root / "test" / str(label), of_label[:3])
    spec = root / "teacher.yaml"
    spec.write_text(
        yaml.safe_dump(
            {**linear_teacher_tree(), "input_shape": [1, 28, 28], "class_names": list(DIGITS_CLASSES)}
        )
    )
    return root / "images", root / "test", spec


def test_distill_is_a_run_that_predict_export_and_a_rerun_reuse(
    folders: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    images_dir, test_dir, spec = folders
    assert load_image_folder(images_dir, (1, 28, 28))[0].shape == (30, 1, 28, 28)
    results = fsbbt.distill(
        str(spec), images_dir, tmp_path, test_images=test_dir, query_budget=300, overrides=FAST
    )
    summary = results["methods"]["fsbbt/lenet5-half"]
    assert results["dataset"] == "images" and results["n_fewshot"] == 30
    assert summary["teacher_queries"] == 300 and results["test_images"] == 30
    assert 0.0 <= summary["accuracy_mean"] <= 1.0 and summary["synthesis_seconds"][0] > 0
    queries = results["queries"]
    assert queries["budget"] == 300 and queries["sent"] == queries["paid_in_all"] <= 300
    student = tmp_path / "students" / "fsbbt__lenet5-half__seed1.pt"
    description = json.loads(student.with_suffix(".json").read_text())
    assert description["dataset"] == "images" and description["input_shape"] == [1, 28, 28]
    for name in ("results.json", "samples.png", "curves.png", "ledger.sqlite"):
        assert (tmp_path / name).is_file()

    # predict takes the run directory or the file; export checks parity on the run's images
    by_directory = fsbbt.predict(tmp_path, [test_dir / "3"], top_k=2)
    by_file = fsbbt.predict(student, [test_dir / "3"], top_k=2)
    assert [p.labels for p in by_directory] == [p.labels for p in by_file]
    report = fsbbt.export_student(tmp_path, "onnx", tmp_path / "student.onnx")
    assert report.images_checked == 30 and report.max_abs_difference <= 1e-4
    assert str(images_dir.resolve()) in report.checked_on

    weights_before = student.read_bytes()
    again = fsbbt.distill(
        str(spec), images_dir, tmp_path, test_images=test_dir, query_budget=300, overrides=FAST
    )
    assert again["queries"]["sent"] == 0 and again["queries"]["paid_in_all"] == queries["sent"]
    assert again["methods"] == results["methods"] and student.read_bytes() == weights_before


def test_without_test_images_nothing_is_scored_but_the_student_is_saved(
    folders: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    images_dir, test_dir, spec = folders
    results = fsbbt.distill(str(spec), images_dir, tmp_path, overrides=FAST)
    summary = results["methods"]["fsbbt/lenet5-half"]
    assert summary["accuracy_mean"] is None and summary["teacher_queries"] == 30 + 24 * 30
    assert (tmp_path / "students" / "fsbbt__lenet5-half__seed1.pt").is_file()
    # a test folder given later scores the student: the stage is not reused unscored
    scored = fsbbt.distill(str(spec), images_dir, tmp_path, test_images=test_dir, overrides=FAST)
    assert scored["methods"]["fsbbt/lenet5-half"]["accuracy_mean"] is not None
    assert scored["queries"]["sent"] == 0
    with pytest.raises(FsbbtError, match="trains on true labels"):
        fsbbt.distill(
            str(spec), images_dir, tmp_path / "sa", overrides=[*FAST, "methods=[student-alone/lenet5-half]"]
        )


def test_fsbbt_active_distils_within_the_budget_and_predict_takes_its_student(
    folders: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    images_dir, test_dir, spec = folders
    results = fsbbt.distill(
        str(spec), images_dir, tmp_path, test_images=test_dir, query_budget=120, overrides=FAST,
        method="fsbbt-active",
    )  # fmt: skip
    assert list(results["methods"]) == ["fsbbt-active/lenet5-half"]
    assert results["methods"]["fsbbt-active/lenet5-half"]["teacher_queries"] == 120
    assert results["queries"]["paid_in_all"] == 120
    assert (tmp_path / "students" / "fsbbt-active__lenet5-half__seed1.pt").is_file()
    assert len(fsbbt.predict(tmp_path, [test_dir / "3"])) == 3
    with pytest.raises(FsbbtError, match="nope"):
        fsbbt.distill(str(spec), images_dir, tmp_path / "other", overrides=FAST, method="nope")


def _wait_for_server(url: str, server: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"teacher serve exited {server.returncode}: {server.stderr.read()}")
        try:
            if httpx.get(f"{url}/v1/info", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail("teacher serve did not answer within a minute")


@pytest.mark.slow
def test_the_headline_flow_from_the_command_line(
    folders: tuple[Path, Path, Path], tmp_path: Path, run_cli, cli_environment: dict[str, str]
) -> None:
    """A user's teacher served over HTTP, their images, a student they predict with and
    export; the same distill again trains nothing and sends nothing."""
    images_dir, test_dir, spec = folders
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "fsbbt", "teacher", "serve", str(spec), "--port", str(port)],
        env=cli_environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_for_server(url, server)
        out = tmp_path / "mine"
        distill = [
            "distill",
            "--teacher",
            url,
            "--images",
            images_dir,
            "--out",
            out,
            "--test-images",
            test_dir,
            *[a for s in FAST for a in ("--set", s)],
        ]
        first = run_cli(*distill)
        assert "fsbbt/lenet5-half" in first.stdout and "paid in all" in first.stdout
        predicted = run_cli("predict", out, images_dir / "img000.png")
        assert "img000.png:" in predicted.stdout
        exported = run_cli("export", out, "--format", "onnx", "--out", tmp_path / "s.onnx")
        assert "parity" in exported.stdout and (tmp_path / "s.onnx").is_file()
        assert "img000.png:" in run_cli("predict", tmp_path / "s.onnx", images_dir / "img000.png").stdout

        second = run_cli(*distill)
        assert "teacher queries: 0 paid now" in second.stdout
        assert "finished by an earlier run" in second.stderr
        assert "train CVAE" not in second.stderr and "label synthetic" not in second.stderr
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_corrupt_image_is_a_one_line_error_naming_the_file(
    folders: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    images_dir, _, spec = folders
    broken = tmp_path / "images"
    broken.mkdir()
    for path in sorted(images_dir.iterdir())[:5]:
        (broken / path.name).write_bytes(path.read_bytes())
    (broken / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(FsbbtError, match="broken.png is not a readable image"):
        load_image_folder(broken, (1, 28, 28))
    command = [
        sys.executable,
        "-m",
        "fsbbt",
        "distill",
        "--teacher",
        str(spec),
        "--images",
        str(broken),
        "--out",
        str(tmp_path / "out"),
        "-q",
    ]
    finished = subprocess.run(
        command, capture_output=True, text=True, timeout=120, env={**os.environ, "FSBBT_QUIET": "1"}
    )
    assert finished.returncode == 2
    assert finished.stderr.strip().count("\n") == 0 and "broken.png" in finished.stderr
    assert "--skip-unreadable" in finished.stderr
    assert not (tmp_path / "out").exists()  # a failed start leaves no run directory

    # --skip-unreadable leaves the file out, says so, and --quiet still prints the result
    fast = [a for s in FAST for a in ("--set", s)]
    skipped = subprocess.run(
        [*command, "--skip-unreadable", *fast], capture_output=True, text=True, timeout=240, env=os.environ
    )
    assert skipped.returncode == 0, skipped.stderr
    assert "skipped 1 unreadable images:" in skipped.stdout and "broken.png" in skipped.stdout
    assert "fsbbt/lenet5-half" in skipped.stdout and "teacher queries:" in skipped.stdout
    assert "step/s" not in skipped.stderr  # quiet: no progress
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["n_fewshot"] == 5 and len(results["skipped_images"]) == 1
