"""``--jobs``: seeds in worker processes give the same numbers, share one teacher and ledger."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from fsbbt.core import progress
from fsbbt.experiment.config import load_config
from fsbbt.experiment.runner import run_experiment
from fsbbt.teacher.ledger import LEDGER_FILE

FAST = [
    "teacher.epochs=1",
    "student.epochs=1",
    "cvae.epochs=2",
    "synthesis.budget=200",
    "curve_points=0",
    "seeds=[1, 2]",
    "bbkd.per_round=100",
    "bbkd.pool_cap=400",
    "methods=[standard-kd/lenet5-half, bbkd/lenet5-half, fsbbt/lenet5-half]",
]


def _ledger_rows(run_dir: Path) -> int:
    with sqlite3.connect(run_dir / LEDGER_FILE) as db:
        return int(db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])


@pytest.mark.slow
def test_two_jobs_equal_one_job_seed_by_seed(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    config = load_config("digits", FAST)
    sequential = run_experiment(config, tmp_path / "one")
    progress.set_quiet(False)
    parallel = run_experiment(config, tmp_path / "two", jobs=2)
    progress.set_quiet(True)
    err = capfd.readouterr().err
    # the teacher is trained once, before the fan-out; each worker reuses it
    assert err.count("teacher lenet5: test accuracy") == 1
    assert err.count("reusing teacher") == 2
    assert parallel["machine"]["jobs"] == 2 and parallel["seeds"] == [1, 2]
    assert set(parallel["methods"]) == set(sequential["methods"])
    for key, summary in sequential["methods"].items():
        assert parallel["methods"][key]["accuracy"] == summary["accuracy"], key
        assert parallel["methods"][key]["teacher_queries"] == summary["teacher_queries"]
    assert (
        parallel["methods"]["bbkd/lenet5-half"]["query_curves"]
        == sequential["methods"]["bbkd/lenet5-half"]["query_curves"]
    )
    # both workers wrote into one ledger, and no image was paid for twice
    assert parallel["queries"]["sent"] == sequential["queries"]["sent"]
    assert _ledger_rows(tmp_path / "two") == parallel["queries"]["sent"]


def test_parallel_seeds_keep_within_the_query_budget(tmp_path: Path) -> None:
    overrides = [
        *FAST[:-1],
        "teacher.epochs=1",
        "query_budget=500",
        "methods=[standard-kd/lenet5-half, fsbbt/lenet5-half]",
    ]
    results = run_experiment(load_config("digits", overrides), tmp_path, jobs=2)
    # each seed's FS-BBT set shrinks to its share: 500 // 2 seeds = 100 real + 150 synthetic
    assert results["methods"]["fsbbt/lenet5-half"]["teacher_queries"] == 250
    assert _ledger_rows(tmp_path) == results["queries"]["sent"] <= 500
