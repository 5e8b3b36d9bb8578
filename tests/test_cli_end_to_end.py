"""`fsbbt run` / `fsbbt teacher train` as a user runs them: a real process, digits, few epochs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

FAST = [
    "--set",
    "teacher.epochs=3",
    "--set",
    "student.epochs=2",
    "--set",
    "cvae.epochs=3",
    "--set",
    "synthesis.budget=300",
    "--set",
    "curve_points=2",
]


def fsbbt(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    environment = {**os.environ, "FSBBT_QUIET": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "fsbbt", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_run_on_digits_writes_results_table_and_figures(tmp_path: Path) -> None:
    done = fsbbt("run", "digits", "--out", str(tmp_path / "run"), "--seeds", "1,2", *FAST, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["dataset"] == "digits" and results["seeds"] == [1, 2]
    assert results["n_fewshot"] == 100 and 0 < results["teacher"]["test_accuracy"] <= 1
    methods = results["methods"]
    assert set(methods) == {
        "student-alone/lenet5-half",
        "standard-kd/lenet5-half",
        "fsbbt/lenet5-half",
        "fsbbt/lenet5",
    }
    for summary in methods.values():
        assert len(summary["accuracy"]) == len(summary["macro_f1"]) == 2
        assert 0 <= summary["accuracy_mean"] <= 1 and summary["accuracy_std"] >= 0
    assert methods["student-alone/lenet5-half"]["teacher_queries"] == 0
    assert methods["standard-kd/lenet5-half"]["teacher_queries"] == 100
    assert methods["fsbbt/lenet5-half"]["teacher_queries"] == 400  # N + M
    for figure in ("samples.png", "curves.png"):
        assert (tmp_path / "run" / figure).stat().st_size > 5000
    assert "fsbbt/lenet5-half" in done.stdout and "teacher/lenet5" in done.stdout


@pytest.mark.slow
def test_teacher_train_saves_weights_and_metadata(tmp_path: Path) -> None:
    done = fsbbt(
        "teacher", "train", "digits", "--out", str(tmp_path / "t"), "--set", "teacher.epochs=2", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    metadata = json.loads((tmp_path / "t" / "teacher.json").read_text())
    assert metadata["arch"] == "lenet5" and metadata["input_shape"] == [1, 28, 28]
    assert len(metadata["class_names"]) == 10 and metadata["test_accuracy"] > 0.3
    assert (tmp_path / "t" / "teacher.pt").is_file()


@pytest.mark.parametrize(
    "args, needle",
    [
        (["run", "digits", "--out", "x", "--set", "student.epoch=3"], "unknown config key 'student.epoch'"),
        (["run", "no-such-config", "--out", "x"], "config no-such-config not found"),
        (["run", "digits", "--out", "x", "--set", "methods=[magic/lenet5]"], "unknown method 'magic'"),
        (["run", "mnist", "--out", "x", "--data-dir", "empty"], "mnist not found"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, args: list[str], needle: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FSBBT_OFFLINE", "1")
    monkeypatch.setenv("FSBBT_CACHE", str(tmp_path / "cache"))
    (tmp_path / "empty").mkdir()
    done = fsbbt(*args, cwd=tmp_path)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], done.stderr
