"""``fsbbt report`` from hand-written results.json files: no training, no model."""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

from fsbbt.core.errors import FsbbtError
from fsbbt.report.build import build_report
from fsbbt.report.figures import query_efficiency_series
from fsbbt.report.merge import load_run, merge_runs


def _method(accuracy: list[float], queries: int, query_curves: list[list[list[float]]] | None = None) -> dict:
    summary = {
        "accuracy": accuracy,
        "macro_f1": [a - 0.01 for a in accuracy],
        "accuracy_mean": float(np.mean(accuracy)),
        "accuracy_std": float(np.std(accuracy)),
        "macro_f1_mean": float(np.mean(accuracy)) - 0.01,
        "teacher_queries": queries,
        "seconds": [10.0] * len(accuracy),
        "curves": [{}] * len(accuracy),
    }
    if query_curves is not None:
        summary["query_curves"] = query_curves
    return summary


def _write_run(
    run_dir: Path,
    dataset: str,
    seeds: list[int],
    methods: dict,
    teacher_accuracy: float = 0.9,
    figures: bool = True,
    **extra: object,
) -> Path:
    run_dir.mkdir(parents=True)
    results = {
        "dataset": dataset,
        "n_fewshot": 2000,
        "seeds": seeds,
        "teacher": {"arch": "lenet5", "test_accuracy": teacher_accuracy},
        "methods": methods,
        "queries": {"sent": 1000, "from_ledger": 0, "budget": None},
        **extra,
    }
    (run_dir / "results.json").write_text(json.dumps(results))
    if figures:
        for name in ("samples.png", "curves.png"):
            plt.imsave(run_dir / name, np.random.default_rng(0).random((8, 8)))
    return run_dir


@pytest.fixture
def runs(tmp_path: Path) -> list[Path]:
    """Fashion-MNIST split over two runs (seed 1; seeds 2 and 3) and one digits run."""
    first = _write_run(
        tmp_path / "fm-seed1",
        "fashion-mnist",
        [1],
        {
            "standard-kd/lenet5-half": _method([0.83], 2000),
            "fsbbt/lenet5-half": _method([0.85], 50000),
            "bbkd/lenet5-half": _method([0.80], 50000, [[[2000, 0.7], [50000, 0.8]]]),
        },
    )
    second = _write_run(
        tmp_path / "fm-seed23",
        "fashion-mnist",
        [2, 3],
        {
            "standard-kd/lenet5-half": _method([0.84, 0.85], 2000),
            "fsbbt/lenet5-half": _method([0.86, 0.87], 50000),
            "bbkd/lenet5-half": _method(
                [0.81, 0.82], 50000, [[[2000, 0.72], [50000, 0.81]], [[2000, 0.74], [50000, 0.82]]]
            ),
        },
    )
    digits = _write_run(
        tmp_path / "digits", "digits", [1], {"fsbbt/lenet5-half": _method([0.9], 4100)}, figures=False
    )
    return [first, second, digits]


def test_report_merges_seeds_and_sets_the_paper_beside_ours(runs: list[Path], tmp_path: Path) -> None:
    markdown, page = build_report(runs, tmp_path / "report")
    text = markdown.read_text()
    # FS-BBT over seeds 1-3: 85, 86, 87 → 86.00 ± 0.82 (population std), paper 84.73
    row = next(line for line in text.splitlines() if line.startswith("| fsbbt/lenet5-half | 86"))
    assert row.split(" | ")[1:5] == ["86.00 ± 0.82", "3", "84.73", "+1.27"]
    assert "| teacher/lenet5 | 90.00 |  | 90.15 | -0.15 |" in text
    assert "| bbkd/lenet5-half | 81.00 ± 0.82 | 3 | 80.90 |" in text
    assert "50,000" in text and "## digits (N = 2,000)" in text
    assert "## fashion-mnist (N = 2,000)" in text
    for link in re.findall(r"\]\((figures/[^)]+)\)", text):
        assert (tmp_path / "report" / link).stat().st_size > 0
    html = page.read_text()
    # self-contained: every figure inline, nothing fetched from elsewhere
    assert html.count('src="data:image/png;base64,') == text.count("![")
    assert not re.search(r"(src|href)=\"(?!data:)", html)
    assert "86.00 ± 0.82" in html


def test_a_seed_in_two_runs_is_refused(runs: list[Path], tmp_path: Path) -> None:
    with pytest.raises(FsbbtError, match="seed 1 is in both"):
        build_report([runs[0], runs[0]], tmp_path / "report")


def test_a_missing_run_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(FsbbtError, match="does not exist"):
        build_report([tmp_path / "nowhere"], tmp_path / "report")


def test_query_efficiency_series_from_results_only() -> None:
    results = {
        "methods": {
            "student-alone/lenet5-half": _method([0.8], 0),
            "standard-kd/lenet5-half": _method([0.83], 2000),
            "fsbbt/lenet5-half": _method([0.85], 50000),
            "fsbbt[synthesis.budget=4800]/lenet5-half": _method([0.84], 6800),
            "fsbbt[cvae.sampling=uniform]/lenet5-half": _method([0.5], 50000),  # an ablation
            "bbkd/lenet5-half": _method(
                [0.8, 0.9], 50000, [[[2000, 0.6], [50000, 0.8]], [[2000, 0.8], [50000, 0.9]]]
            ),
        }
    }
    series = {line.label: line for line in query_efficiency_series(results)}
    assert set(series) == {
        "student-alone/lenet5-half",
        "standard-kd/lenet5-half",
        "fsbbt/lenet5-half",
        "bbkd/lenet5-half",
    }
    assert series["fsbbt/lenet5-half"].queries == [6800, 50000]  # the M sweep, in order
    assert series["bbkd/lenet5-half"].queries == [2000, 50000]
    np.testing.assert_allclose(series["bbkd/lenet5-half"].accuracy_mean, [0.7, 0.85])
    np.testing.assert_allclose(series["bbkd/lenet5-half"].accuracy_std, [0.1, 0.05])
    assert series["standard-kd/lenet5-half"].queries == [2000]


def test_report_command_writes_both_files(runs: list[Path], tmp_path: Path, run_cli) -> None:
    done = run_cli("report", *runs[:2], "--out", tmp_path / "cli-report")
    assert (tmp_path / "cli-report" / "report.md").is_file()
    assert (tmp_path / "cli-report" / "report.html").is_file()
    assert "report.html" in done.stdout
    failed = run_cli("report", runs[0], runs[0], "--out", tmp_path / "x", check=False)
    lines = [line for line in failed.stderr.splitlines() if line.strip()]
    assert failed.returncode == 2 and len(lines) == 1 and "seed 1 is in both" in lines[0]


def _budget_runs(tmp_path: Path, evaluated_on: str = "validation") -> list[Path]:
    """benchmarks/query_efficiency.py's layout: one run per total budget, the same methods
    and seeds in each, every method asking for the whole budget."""
    runs = []
    for budget, fsbbt, bbkd in ((2500, [0.60, 0.64], [0.58, 0.60]), (4000, [0.70, 0.72], [0.66, 0.70])):
        rounds = [[[2000, 0.5], [budget, accuracy]] for accuracy in bbkd]
        methods = {
            "fsbbt/lenet5-half": _method(fsbbt, budget),
            "bbkd/lenet5-half": _method(bbkd, budget, rounds),
            "standard-kd/lenet5-half": _method([0.55, 0.57], 2000) if budget == 2500 else None,
        }
        methods = {key: summary for key, summary in methods.items() if summary is not None}
        runs.append(
            _write_run(
                tmp_path / evaluated_on / f"budget-{budget}",
                "mnist",
                [1, 2],
                methods,
                figures=False,
                evaluated_on=evaluated_on,
                test_images=200,
            )
        )
    return runs


def test_runs_at_several_budgets_are_points_not_seeds(tmp_path: Path) -> None:
    runs = _budget_runs(tmp_path)
    [merged] = merge_runs([(run, load_run(run)) for run in runs])
    assert list(merged["methods"]) == [
        "fsbbt/lenet5-half @ 2,500",
        "fsbbt/lenet5-half @ 4,000",
        "bbkd/lenet5-half @ 2,500",
        "bbkd/lenet5-half @ 4,000",
        "standard-kd/lenet5-half",  # measured at one count: as before
    ]
    assert merged["methods"]["bbkd/lenet5-half @ 4,000"]["seeds"] == [1, 2]
    series = {line.label: line for line in query_efficiency_series(merged)}
    # one line per method key, x = its queries, each run's final point (not BBKD's rounds)
    assert series["fsbbt/lenet5-half"].queries == [2500, 4000]
    np.testing.assert_allclose(series["fsbbt/lenet5-half"].accuracy_mean, [0.62, 0.71])
    np.testing.assert_allclose(series["bbkd/lenet5-half"].accuracy_std, [0.01, 0.02])
    assert series["standard-kd/lenet5-half"].queries == [2000]

    text = build_report(runs, tmp_path / "report")[0].read_text()
    assert "### mnist: accuracy against teacher queries across runs" in text
    assert "| method/student | 2,500 queries | 4,000 queries |" in text
    assert "| fsbbt/lenet5-half | 62.00 ± 2.00 | 71.00 ± 1.00 |" in text
    assert "| bbkd/lenet5-half | 59.00 ± 1.00 | 68.00 ± 2.00 |" in text
    assert "held out of the few-shot draws" in text  # the split the accuracies are on
    # the same seed at the same count in two runs is still refused
    with pytest.raises(FsbbtError, match="seed 1 is in both"):
        build_report([runs[0], runs[0]], tmp_path / "again")


def test_runs_scored_on_different_splits_are_refused(tmp_path: Path) -> None:
    validation, test = _budget_runs(tmp_path)[0], _budget_runs(tmp_path, "test")[1]
    with pytest.raises(FsbbtError, match="different splits"):
        build_report([validation, test], tmp_path / "report")
