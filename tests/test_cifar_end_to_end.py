"""`fsbbt run` with the CIFAR-10 and CIFAR-100 presets on tiny pickle fixtures, shrunk by --set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cifar_fixtures import write_cifar10, write_cifar100

SHRINK = [
    "--set",
    "teacher.epochs=1",
    "--set",
    "student.epochs=2",
    "--set",
    "cvae.epochs=1",
    "--set",
    "synthesis.budget=60",
    "--set",
    "curve_points=1",
    "-q",
]


@pytest.mark.slow
def test_cifar10_preset_runs_end_to_end(run_cli, tmp_path: Path) -> None:
    write_cifar10(tmp_path / "data", per_batch=40)  # 200 training images, 20 per class
    out = tmp_path / "run"
    run_cli(
        "run",
        "cifar10",
        "--out",
        out,
        "--data-dir",
        tmp_path / "data",
        "--set",
        "n_fewshot=50",
        "--set",
        "teacher.batch_size=64",
        "--set",
        "student.batch_size=32",
        *SHRINK,
    )
    results = json.loads((out / "results.json").read_text())
    assert results["dataset"] == "cifar10" and results["teacher"]["arch"] == "alexnet"
    assert results["teacher"]["train_seconds"] > 0
    methods = results["methods"]
    assert set(methods) == {
        "student-alone/alexnet-half",
        "standard-kd/alexnet-half",
        "fsbbt/alexnet-half",
        "fsbbt/alexnet",
    }
    fsbbt = methods["fsbbt/alexnet-half"]
    assert fsbbt["teacher_queries"] == 50 + 60
    assert 0 < fsbbt["cvae_seconds"][0] <= fsbbt["synthesis_seconds"][0]
    assert all(len(m["curves"][0]["epoch_loss"]) == 2 for m in methods.values())
    assert results["config"]["cvae"]["kind"] == "conv"
    assert results["machine"]["precision"] in ("bf16", "fp32")  # auto: by the CPU
    assert (out / "samples.png").stat().st_size > 5000


@pytest.mark.slow
def test_cifar100_preset_runs_end_to_end_in_fp32(run_cli, tmp_path: Path) -> None:
    write_cifar100(tmp_path / "data", n_train=200, n_test=100)
    out = tmp_path / "run"
    run_cli(
        "run",
        "cifar100",
        "--out",
        out,
        "--data-dir",
        tmp_path / "data",
        "--precision",
        "fp32",
        "--set",
        "n_fewshot=100",
        "--set",
        "student.batch_size=32",
        *SHRINK,
    )
    results = json.loads((out / "results.json").read_text())
    assert results["machine"]["precision"] == "fp32"
    assert set(results["methods"]) == {"student-alone/resnet20", "standard-kd/resnet20", "fsbbt/resnet20"}
    assert results["methods"]["fsbbt/resnet20"]["teacher_queries"] == 100 + 60
    assert results["config"]["student"]["lr_schedule"] == "cifar100"
    assert results["teacher"]["arch"] == "resnet32"
