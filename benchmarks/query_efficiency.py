"""Accuracy per teacher query: every method given the same total query budgets, side by side.

    python benchmarks/query_efficiency.py configs/fashion-mnist.yaml --seeds 1,2,3 \\
        --budgets 5000,12500,25000,50000 --out runs/qe-fmnist
    python benchmarks/query_efficiency.py configs/digits.yaml --seeds 1 --budgets 600,1100 \\
        --methods fsbbt,bbkd --students lenet5-half --validation-images 200 --out runs/qe-digits

A budget B is what a method may ask the teacher in all, the N few images included, so the
methods are compared at equal cost: FS-BBT gets M = B - N synthetic images
(``synthesis.budget``), BBKD ``bbkd.budget = B``, any other method ``<section>.budget =
B`` (fsbbt-active: ``active.budget``). A method without a budget key, B < N, or a budget
a method cannot spend is a one-line error before anything runs. A method may be a
variant, ``fsbbt-active[active.diversity=false]``: it gets its method's budget and runs
beside the others at every budget (an ablation row).

Why one run directory per budget (OUT/budget-B), each with its own ledger: answers bought
at one budget must not be free at another, and each method's ``teacher_queries`` is then
what it asked for at B. The teacher is trained once, first, into OUT/teacher, and every
run loads it as a saved teacher, so the budgets differ in nothing else. Re-running the
same command resumes: the teacher and every finished stage are reused.

``--validation-images V`` holds V class-balanced training images out of the few-shot
draws and scores the students on them instead of the test split (for choosing defaults
without the test set); the JSON, the table and the figure say which split they are on.

Writes a summary JSON (benchmarks/results/query_efficiency-<dataset>[-validation].json,
or --json), OUT/query_efficiency.png (accuracy against teacher queries, error bars = std
over seeds) and prints a table. ``fsbbt report OUT/budget-*`` shows the same sweep.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from fsbbt.config.method_entry import parse_method_entry, split_top_level
from fsbbt.config.schema import USER_IMAGES, RunConfig
from fsbbt.core import precision
from fsbbt.core.errors import FsbbtError
from fsbbt.experiment.config import load_config
from fsbbt.experiment.inputs import data_and_teacher
from fsbbt.experiment.runner import run_experiment
from fsbbt.experiment.seed_run import plan_methods
from fsbbt.methods.bbkd import BBKD
from fsbbt.methods.declaration import Method
from fsbbt.methods.fsbbt import FSBBT
from fsbbt.methods.registry import METHODS, get_method
from fsbbt.report.figures import QUERY_EFFICIENCY_FILE, plot_query_efficiency
from fsbbt.report.merge import merge_runs

HERE = Path(__file__).resolve().parent
TEACHER_DIR = "teacher"


def run_dir_for(out: Path, budget: int) -> Path:
    """The run directory (and ledger) of one total budget."""
    return out / f"budget-{budget}"


def _budget_keys(method: Method) -> list[str]:
    """The ``<section>.budget`` keys of the config sections ``method`` owns."""
    return [
        f"{section}.budget" for section, model in method.sections.items() if "budget" in model.model_fields
    ]


def budgeted_methods() -> list[str]:
    """The registered methods a total budget can be given to: the default of --methods."""
    return [name for name, method in METHODS.items() if method is FSBBT or len(_budget_keys(method)) == 1]


def bbkd_pairs(n_fewshot: int) -> int:
    """How many mixes BBKD's pool holds for N few images: each unordered pair once, as
    :func:`fsbbt.methods.bbkd.pair_pool` makes them (counted, not built: ~N²/2 pairs)."""
    return n_fewshot * ((n_fewshot - 1) // 2)


def budget_assignment(name: str, total: int, n_fewshot: int) -> str:
    """The ``--set`` that gives method ``name`` ``total`` teacher queries in all, or a
    one-line error if it has no budget key or cannot spend ``total``.

    FS-BBT's key, ``synthesis.budget``, counts only the synthetic images (M = B - N);
    every other method's ``<section>.budget`` counts the N few images too.
    """
    method = get_method(name)
    if total < n_fewshot:
        raise FsbbtError(
            f"budget {total:,} is below N = {n_fewshot:,}, the few images every method labels "
            f"first; give budgets of at least {n_fewshot:,}"
        )
    if method is FSBBT:
        assert FSBBT.budget is not None
        return f"{FSBBT.budget.size_key}={total - n_fewshot}"
    keys = _budget_keys(method)
    if len(keys) != 1:
        raise FsbbtError(
            f"method {name!r} has no query budget to set ({len(keys)} budget keys in its "
            f"config sections, not one); choose from {', '.join(budgeted_methods())}"
        )
    if method is BBKD and total - n_fewshot > bbkd_pairs(n_fewshot):
        raise FsbbtError(
            f"BBKD cannot spend budget {total:,}: {n_fewshot:,} few images give only "
            f"{bbkd_pairs(n_fewshot):,} mixes; give budgets of at most {n_fewshot + bbkd_pairs(n_fewshot):,}"
        )
    return f"{keys[0]}={total}"


def budget_overrides(methods: Sequence[str], total: int, n_fewshot: int) -> list[str]:
    """The ``--set`` assignments of one budget's run, one per method (a variant shares its
    method's)."""
    bases = dict.fromkeys(name.split("[", 1)[0] for name in methods)
    return [budget_assignment(name, total, n_fewshot) for name in bases]


def parse_counts(text: str, flag: str) -> list[int]:
    """``5000,12500`` as distinct positive integers, or a one-line error naming ``flag``."""
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise FsbbtError(f"{flag} {text!r} must be integers separated by commas, e.g. 5000,12500") from None
    if not counts or min(counts) < 1 or len(set(counts)) != len(counts):
        raise FsbbtError(f"{flag} {text!r} must list distinct positive integers, e.g. 5000,12500")
    return counts


def _names(text: str | None) -> list[str] | None:
    """Comma-separated names; commas inside a variant's brackets stay in it."""
    return None if text is None else split_top_level(text)


def _students(config: RunConfig) -> list[str]:
    """The config's own student architectures, in order: the default of --students."""
    return list(dict.fromkeys(parse_method_entry(entry).arch for entry in config.methods))


def plan_runs(args: argparse.Namespace) -> tuple[RunConfig, dict[int, RunConfig]]:
    """The base config and each budget's run config, every mistake refused before the
    teacher trains or a query is sent."""
    common = [*args.overrides, f"seeds=[{args.seeds}]"]
    if args.validation_images is not None:
        common.append(f"validation_images={args.validation_images}")
    base = load_config(args.config, common)
    if base.dataset == USER_IMAGES:
        raise FsbbtError(
            "query_efficiency benchmarks a labelled dataset; for your own images use "
            "`fsbbt distill --query-budget`"
        )
    if base.query_budget is not None:
        raise FsbbtError(
            f"the config caps the ledger (query_budget {base.query_budget:,}), which would shrink "
            "the methods' budgets; remove it (--set query_budget=null): --budgets sets them"
        )
    methods = _names(args.methods) or budgeted_methods()
    students = _names(args.students) or _students(base)
    entries = json.dumps([f"{method}/{student}" for method in methods for student in students])
    teacher = []
    if base.teacher.resolved_kind == "train":  # trained once, first (main), then loaded by every run
        teacher = ["teacher.kind=local", f"teacher.path={args.out / TEACHER_DIR}"]
    configs = {}
    for budget in parse_counts(args.budgets, "--budgets"):
        overrides = [
            *common,
            f"methods={entries}",
            *budget_overrides(methods, budget, base.n_fewshot),
            *teacher,
        ]
        configs[budget] = load_config(args.config, overrides)
        plan_methods(configs[budget])  # an unknown student is refused here
    return base, configs


def summary_rows(runs: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per budget × method/student: accuracy % (mean ± population std over seeds,
    per seed), the teacher queries it asked for, its wall seconds per seed."""
    rows = []
    for budget, results in runs.items():
        for key, summary in results["methods"].items():
            spec = parse_method_entry(key)
            scored = summary["accuracy_mean"] is not None
            rows.append(
                {
                    "budget": budget,
                    "method": spec.method,
                    "student": spec.arch,
                    "key": key,
                    "accuracy_mean": round(100 * summary["accuracy_mean"], 2) if scored else None,
                    "accuracy_std": round(100 * summary["accuracy_std"], 2) if scored else None,
                    "accuracy_per_seed": [round(100 * a, 2) for a in summary["accuracy"]],
                    "seeds": summary.get("seeds", results["seeds"]),
                    # results.json keeps the most any seed asked; every seed asks for the same
                    "teacher_queries": summary["teacher_queries"],
                    "seconds_per_seed": [round(s, 1) for s in summary["seconds"]],
                    "seconds_mean": round(statistics.fmean(summary["seconds"]), 1),
                }
            )
    return rows


def split_description(results: dict[str, Any]) -> str:
    """The split every student accuracy of a run is on, in words."""
    if results.get("evaluated_on") == "validation":
        return f"validation split ({results['test_images']:,} held-out training images, not the test split)"
    return f"test split ({results['test_images']:,} images)"


def print_table(rows: list[dict[str, Any]], budgets: list[int], title: str) -> None:
    table = Table(title=title)
    table.add_column("method/student", no_wrap=True)
    for budget in budgets:
        table.add_column(f"B = {budget:,}", justify="right", no_wrap=True)
    cells: dict[str, dict[int, str]] = {}
    for row in rows:
        accuracy = (
            "—" if row["accuracy_mean"] is None else f"{row['accuracy_mean']:.2f} ± {row['accuracy_std']:.2f}"
        )
        cells.setdefault(row["key"], {})[row["budget"]] = f"{accuracy} ({row['teacher_queries']:,})"
    for key, by_budget in cells.items():
        # a variant's brackets would read as rich markup and vanish from the table
        table.add_row(escape(key), *(by_budget.get(budget, "") for budget in budgets))
    Console(width=160).print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="a YAML config or preset name")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument(
        "--budgets",
        default="5000,12500,25000,50000",
        help="total teacher queries per method, the N few images included",
    )
    parser.add_argument(
        "--methods",
        default=None,
        help="comma-separated, variants allowed (fsbbt-active[active.diversity=false]); "
        "default every method with a budget key",
    )
    parser.add_argument("--students", default=None, help="student archs; default the config's own")
    parser.add_argument(
        "--validation-images",
        type=int,
        default=None,
        metavar="N",
        help="score on N held-out training images instead of the test split",
    )
    parser.add_argument("--out", type=Path, required=True, help="OUT/teacher and OUT/budget-B/ go here")
    parser.add_argument("--json", type=Path, default=None, help="summary JSON (default benchmarks/results/)")
    parser.add_argument("--jobs", type=int, default=1, help="seeds run at once (fsbbt run --jobs)")
    parser.add_argument("--set", action="append", default=[], dest="overrides", metavar="KEY=VALUE")
    args = parser.parse_args()

    started = time.perf_counter()
    try:
        base, configs = plan_runs(args)
        precision.configure(base.precision)  # the teacher's identity includes its precision
        data_and_teacher(base, args.out)  # trains OUT/teacher once (or reuses it); checks the draws
        runs = {
            budget: run_experiment(config, run_dir_for(args.out, budget), args.jobs)
            for budget, config in configs.items()
        }
    except FsbbtError as exc:
        print(f"query_efficiency: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None

    budgets = list(configs)
    rows = summary_rows(runs)
    first = next(iter(runs.values()))
    split = split_description(first)
    for row in rows:
        if row["teacher_queries"] != row["budget"]:
            print(
                f"note: {row['key']} asked for {row['teacher_queries']:,} queries at budget {row['budget']:,}"
            )
    print_table(
        rows,
        budgets,
        f"{first['dataset']}, N = {first['n_fewshot']:,}, seeds {first['seeds']}: student accuracy % "
        f"on the {split}, mean ± std over seeds (teacher queries)",
    )
    run_dirs = {budget: str(run_dir_for(args.out, budget)) for budget in budgets}
    figure = args.out / QUERY_EFFICIENCY_FILE
    [merged] = merge_runs([(Path(run_dirs[budget]), runs[budget]) for budget in budgets])
    plot_query_efficiency(merged, figure)
    summary = {
        "dataset": first["dataset"],
        "n_fewshot": first["n_fewshot"],
        "seeds": first["seeds"],
        "budgets": budgets,
        "evaluated_on": first.get("evaluated_on", "test"),
        "accuracy_split": split,
        "teacher": {**first["teacher"], "test_accuracy_on": "test split"},
        "rows": rows,
        "run_dirs": run_dirs,
        "figure": str(figure),
        "args": {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()},
        "wall_seconds": round(time.perf_counter() - started, 1),
        "machine": first["machine"],
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    suffix = "-validation" if summary["evaluated_on"] == "validation" else ""
    target = args.json or HERE / "results" / f"query_efficiency-{first['dataset']}{suffix}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"figure {figure}; summary written to {target}")


if __name__ == "__main__":
    main()
