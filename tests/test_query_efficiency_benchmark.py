"""benchmarks/query_efficiency.py's budget arithmetic and its one-line refusals, without
training: each budget's run config is planned, never run."""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from fsbbt.core.errors import FsbbtError
from fsbbt.methods.bbkd import pair_pool

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "query_efficiency.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("query_efficiency", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_method_gets_the_whole_budget_the_few_images_included(bench) -> None:
    # FS-BBT's synthesis.budget is M alone; BBKD's budget counts the N few images
    assert bench.budget_overrides(["fsbbt", "bbkd"], 1100, 100) == [
        "synthesis.budget=1000",
        "bbkd.budget=1100",
    ]
    assert bench.budget_overrides(["fsbbt"], 100, 100) == ["synthesis.budget=0"]
    assert {"fsbbt", "bbkd"} <= set(bench.budgeted_methods())
    assert "student-alone" not in bench.budgeted_methods()


def test_budgets_a_method_cannot_use_are_refused(bench) -> None:
    with pytest.raises(FsbbtError, match="below N = 100"):
        bench.budget_overrides(["fsbbt"], 99, 100)
    with pytest.raises(FsbbtError, match="'standard-kd' has no query budget"):
        bench.budget_overrides(["standard-kd"], 1000, 100)
    with pytest.raises(FsbbtError, match="unknown method"):
        bench.budget_overrides(["nope"], 1000, 100)
    for n in range(2, 12):  # counted as bbkd.pair_pool builds them
        assert bench.bbkd_pairs(n) == len(pair_pool(n)[0])
    assert bench.budget_assignment("bbkd", 10 + bench.bbkd_pairs(10), 10) == "bbkd.budget=50"
    with pytest.raises(FsbbtError, match="only 40 mixes"):
        bench.budget_assignment("bbkd", 51, 10)
    with pytest.raises(FsbbtError, match="distinct positive"):
        bench.parse_counts("600,600", "--budgets")
    with pytest.raises(FsbbtError, match="integers"):
        bench.parse_counts("6k", "--budgets")


def _args(tmp_path: Path, **changes: object) -> argparse.Namespace:
    settings = {
        "config": "digits",
        "seeds": "1,2",
        "budgets": "600,1100",
        "methods": "fsbbt,bbkd",
        "students": None,
        "validation_images": 200,
        "out": tmp_path,
        "overrides": [],
    }
    return argparse.Namespace(**{**settings, **changes})


def test_each_budget_is_its_own_run_with_the_shared_teacher(bench, tmp_path: Path) -> None:
    base, configs = bench.plan_runs(_args(tmp_path))
    assert list(configs) == [600, 1100]
    config = configs[1100]
    assert config.synthesis.budget == 1000 and config.bbkd.budget == 1100
    assert config.seeds == [1, 2] and config.validation_images == 200
    # the digits preset's students, each method on each
    assert config.methods == ["fsbbt/lenet5-half", "fsbbt/lenet5", "bbkd/lenet5-half", "bbkd/lenet5"]
    assert config.teacher.resolved_kind == "local" and config.teacher.path == tmp_path / "teacher"
    assert base.teacher.resolved_kind == "train"
    assert bench.run_dir_for(tmp_path, 1100) == tmp_path / "budget-1100"
    with pytest.raises(FsbbtError, match="query_budget"):
        bench.plan_runs(_args(tmp_path, overrides=["query_budget=5000"]))
    with pytest.raises(FsbbtError, match="unknown student architecture"):
        bench.plan_runs(_args(tmp_path, students="lenet7"))


def test_a_variant_runs_beside_its_method_with_the_same_budget(bench, tmp_path: Path) -> None:
    methods = "fsbbt-active,fsbbt-active[active.diversity=false,active.rounds=2]"
    _, configs = bench.plan_runs(_args(tmp_path, methods=methods, students="lenet5-half"))
    config = configs[600]
    assert config.methods == [
        "fsbbt-active/lenet5-half",
        "fsbbt-active[active.diversity=false,active.rounds=2]/lenet5-half",
    ]
    assert config.active.budget == 600
    assert bench.budget_overrides(["fsbbt", "fsbbt[synthesis.threshold=0.1]"], 600, 100) == [
        "synthesis.budget=500"
    ]


def test_the_table_names_each_variant_in_full(bench, capsys) -> None:
    variant = "fsbbt-active[active.selection=random]/lenet5-half"
    rows = [
        {"budget": 600, "key": key, "accuracy_mean": accuracy, "accuracy_std": 0.0, "teacher_queries": 600}
        for key, accuracy in (("fsbbt-active/lenet5-half", 90.0), (variant, 91.0))
    ]
    bench.print_table(rows, [600], "digits")
    printed = capsys.readouterr().out
    assert variant in printed  # not read as rich markup and dropped
    assert "91.00" in printed.split(variant, 1)[1].splitlines()[0]


def test_a_bad_budget_is_one_line_before_anything_runs(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "digits", "--budgets", "600,50", "--out", str(tmp_path / "qe")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "budget 50 is below N = 100" in lines[0]
    assert not (tmp_path / "qe").exists()  # no teacher trained, no run directory
