"""Data-parallel training under torchrun (2 CPU processes, gloo) against one process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fsbbt.core import distributed

# Student training on digits: 1,000 few images labelled by a 4-epoch teacher, 6 epochs;
# plus a small FS-BBT stage so the CVAE and the synthetic-image queries run under DDP too.
SMALL_RUN = [
    "--set",
    "methods=[standard-kd/lenet5,fsbbt/lenet5-half]",
    "--set",
    "n_fewshot=1000",
    "--set",
    "teacher.epochs=4",
    "--set",
    "student.epochs=6",
    "--set",
    "student.augmentation=none",
    "--set",
    "curve_points=2",
    "--set",
    "cvae.epochs=5",
    "--set",
    "synthesis.budget=400",
    "-q",
]


@pytest.mark.slow
def test_torchrun_run_matches_one_process_and_writes_once(run_cli, tmp_path: Path) -> None:
    run_cli("run", "digits", "--out", tmp_path / "single", *SMALL_RUN)
    ddp = run_cli("run", "digits", "--out", tmp_path / "ddp", *SMALL_RUN, processes=2)

    single_results = json.loads((tmp_path / "single" / "results.json").read_text())
    ddp_results = json.loads((tmp_path / "ddp" / "results.json").read_text())
    assert single_results["machine"]["processes"] == 1
    assert ddp_results["machine"]["processes"] == 2
    single_accuracy = single_results["methods"]["standard-kd/lenet5"]["accuracy_mean"]
    ddp_accuracy = ddp_results["methods"]["standard-kd/lenet5"]["accuracy_mean"]
    # Same global batch (64), same epochs: the same learning problem, so the same accuracy
    # up to the noise of different per-rank augmentation and summation order.
    assert single_accuracy > 0.7 and ddp_accuracy > 0.7
    assert abs(ddp_accuracy - single_accuracy) < 0.06
    assert abs(ddp_results["teacher"]["test_accuracy"] - single_results["teacher"]["test_accuracy"]) < 0.06

    # rank 0 alone wrote and printed: one table, one set of files, one teacher query each
    assert ddp.stdout.count("results:") == 1
    # 1,000 few images (FS-BBT's second ask is answered from the cache) + 400 synthetic ones;
    # that no other rank reaches the teacher is checked by the worker test below
    queries = ddp_results["queries"]
    assert queries["sent"] + queries["from_ledger"] == 1000 + 1000 + 400
    assert queries["from_ledger"] >= 1000
    assert ddp_results["methods"]["standard-kd/lenet5"]["curves"][0]["eval_epochs"] == [3, 6]
    students = sorted(p.name for p in (tmp_path / "ddp" / "students").iterdir())
    assert students == [
        "fsbbt__lenet5-half__seed1.json",
        "fsbbt__lenet5-half__seed1.pt",
        "standard-kd__lenet5__seed1.json",
        "standard-kd__lenet5__seed1.pt",
    ]
    assert (tmp_path / "ddp" / "samples.png").is_file()
    leftovers = [p for p in (tmp_path / "ddp").rglob("*") if p.suffix in (".tmp", ".ckpt")]
    assert leftovers == []


@pytest.mark.slow
def test_only_rank_zero_queries_and_ranks_split_each_batch(tmp_path: Path, cli_environment) -> None:
    report_file = tmp_path / "ranks.json"
    worker = Path(__file__).with_name("ddp_oracle_worker.py")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            str(worker),
            str(report_file),
        ],
        check=True,
        env=cli_environment,
        timeout=120,
        capture_output=True,
    )
    rank0, rank1 = json.loads(report_file.read_text())
    assert (rank0["images_answered"], rank1["images_answered"]) == (20, 0)
    assert rank0["probs"] == rank1["probs"] and rank0["probs_again"] == rank1["probs_again"]
    assert rank0["queries_sent"] == rank1["queries_sent"] == 20
    assert rank0["from_ledger"] == rank1["from_ledger"] == 5
    order = np.random.default_rng(1).permutation(11)
    padded = np.concatenate([order, order[:1]])  # 11 images padded to 12 for 2 ranks
    for step, (mine, theirs) in enumerate(zip(rank0["batches"], rank1["batches"], strict=True)):
        assert len(mine) == len(theirs) == 2
        assert sorted(mine + theirs) == sorted(padded[step * 4 : (step + 1) * 4].tolist())


def test_rank_batches_single_process_is_the_plain_split() -> None:
    order = np.random.default_rng(3).permutation(10)
    batches = distributed.rank_batches(order, 4)
    assert [b.tolist() for b in batches] == [order[:4].tolist(), order[4:8].tolist(), order[8:].tolist()]


def test_batch_not_divisible_by_processes_is_refused(monkeypatch) -> None:
    monkeypatch.setattr(distributed, "_state", distributed.DistributedState(rank=0, world_size=3))
    with pytest.raises(distributed.FsbbtError, match="not divisible"):
        distributed.rank_batches(np.arange(10), 64)


def test_device_choice(monkeypatch) -> None:
    assert distributed.choose_device("cpu").type == "cpu"
    monkeypatch.setattr(distributed.torch.cuda, "is_available", lambda: False)
    assert distributed.choose_device(None).type == "cpu"
    with pytest.raises(distributed.FsbbtError, match="no GPU"):
        distributed.choose_device("cuda")
    with pytest.raises(distributed.FsbbtError, match="not a device"):
        distributed.choose_device("gpu0")
