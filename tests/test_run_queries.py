"""``fsbbt run`` against the ledger: re-runs pay nothing, the budget shrinks FS-BBT's set."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from teacher_helpers import fast_run_overrides, linear_teacher_tree

from fsbbt.core.errors import FsbbtError
from fsbbt.experiment.config import load_config
from fsbbt.experiment.runner import run_experiment
from fsbbt.experiment.stages import STAGES_DIR
from fsbbt.teacher.ledger import LEDGER_FILE


def test_second_run_into_the_same_out_sends_nothing(tmp_path: Path) -> None:
    config = load_config("digits", fast_run_overrides(linear_teacher_tree()))
    first = run_experiment(config, tmp_path)
    second = run_experiment(config, tmp_path)
    # every stage finished the first time, so the second run reads them back and asks nothing
    assert first["queries"]["sent"] > 0
    queries = second["queries"]
    assert (queries["sent"], queries["from_ledger"], queries["budget"]) == (0, 0, None)
    # what the run directory has paid for in all is still the first run's
    assert queries["paid_in_all"] == first["queries"]["paid_in_all"] == first["queries"]["sent"]
    # with the finished stages gone the methods train again, and every answer the first run
    # got (sent, or reused across methods) now comes from the ledger
    shutil.rmtree(tmp_path / STAGES_DIR)
    third = run_experiment(config, tmp_path)
    assert third["queries"]["sent"] == 0
    assert third["queries"]["from_ledger"] == (first["queries"]["sent"] + first["queries"]["from_ledger"])
    for key, summary in first["methods"].items():
        assert second["methods"][key]["accuracy"] == summary["accuracy"]
        assert third["methods"][key]["accuracy"] == summary["accuracy"]
    assert first["teacher"] == {"arch": "python", "test_accuracy": None}


def test_budget_shrinks_the_synthetic_set_and_caps_the_ledger(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from fsbbt.core import progress

    progress.set_quiet(False)
    config = load_config("digits", fast_run_overrides(linear_teacher_tree(), "query_budget=150"))
    results = run_experiment(config, tmp_path)
    assert "synthetic set shrunk from 200 to 50 images per seed" in capsys.readouterr().err
    assert results["methods"]["fsbbt/lenet5-half"]["teacher_queries"] == 150
    assert results["queries"]["budget"] == 150 and results["queries"]["sent"] <= 150
    ledger_rows = sqlite3.connect(tmp_path / LEDGER_FILE).execute("SELECT COUNT(*) FROM answers")
    assert ledger_rows.fetchone()[0] == results["queries"]["sent"]
    small = load_config(
        "digits", fast_run_overrides(linear_teacher_tree(), "query_budget=50", "methods=[fsbbt/lenet5-half]")
    )
    with pytest.raises(FsbbtError, match="cannot label the 100 few images"):
        run_experiment(small, tmp_path / "small")


def test_methods_with_their_own_synthetic_sets_split_the_budget(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """FS-BBT and BBKD in one run: the few images once, then half of the rest each.
    FS-BBT* shares FS-BBT's synthetic set, so it is not a third part."""
    from fsbbt.core import progress

    progress.set_quiet(False)
    config = load_config(
        "digits",
        fast_run_overrides(
            linear_teacher_tree(),
            "query_budget=300",
            "bbkd.per_round=50",
            "bbkd.pool_cap=200",
            "methods=[fsbbt/lenet5-half, fsbbt/lenet5, bbkd/lenet5-half]",
        ),
    )
    results = run_experiment(config, tmp_path)
    status = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert (
        "query budget 300, shared by 2 synthetic sets: synthetic set shrunk from 200 to 100 images per seed"
    ) in status
    methods = results["methods"]
    assert methods["fsbbt/lenet5-half"]["teacher_queries"] == 200  # N = 100 + 100
    assert methods["fsbbt/lenet5"]["teacher_queries"] == 200
    assert methods["bbkd/lenet5-half"]["teacher_queries"] == 200
    assert results["queries"]["sent"] == 300  # the 100 few images are paid once
