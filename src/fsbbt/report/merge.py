"""Merge the results.json of several runs into one results dict per dataset.

Seeds of one dataset may have run in different run directories (one per seed, or a
second run adding seeds); a report treats them as one experiment. Runs may also measure
the same method at different query budgets (``benchmarks/query_efficiency.py``: one run
directory per budget): a method is pooled over seeds per teacher-query count, so each
count is a point of its accuracy-per-query curve, never a seed of another count. Only
results.json is read: no model, no ledger, so a report is rebuilt in seconds without
retraining.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fsbbt.core.errors import FsbbtError
from fsbbt.report.results import RESULTS_FILE, score_summary


def load_run(run_dir: Path) -> dict[str, Any]:
    """A run's results.json, or a one-line error saying which run is unusable."""
    path = run_dir / RESULTS_FILE
    try:
        results = json.loads(path.read_text())
    except FileNotFoundError:
        raise FsbbtError(f"{path} does not exist; give run directories written by `fsbbt run`") from None
    except ValueError as exc:
        raise FsbbtError(f"{path} is not valid JSON ({exc}); re-run or remove that run") from exc
    for key in ("dataset", "n_fewshot", "seeds", "teacher", "methods"):
        if key not in results:
            raise FsbbtError(f"{path} has no {key!r}; it was not written by `fsbbt run`")
    return results


def _per_seed(results: dict[str, Any], key: str) -> dict[int, dict[str, Any]]:
    """seed → that seed's numbers of method ``key`` in one run."""
    summary = results["methods"][key]
    seeds = summary.get("seeds", results["seeds"])
    curves = summary.get("query_curves") or [[] for _ in seeds]
    scored = len(summary["accuracy"]) == len(seeds)  # a run without a test set scores nothing
    return {
        seed: {
            "accuracy": summary["accuracy"][i] if scored else None,
            "macro_f1": summary["macro_f1"][i] if scored else None,
            "seconds": summary["seconds"][i],
            "query_curve": curves[i],
        }
        for i, seed in enumerate(seeds)
    }


def merge_runs(runs: list[tuple[Path, dict[str, Any]]]) -> list[dict[str, Any]]:
    """One results dict per dataset (first-seen order), each method's seeds pooled.

    Seeds are pooled per (method, teacher queries): a method that asked for different
    numbers of queries in different runs becomes one entry per count, each marked with
    its ``method_key`` (see :func:`query_sweeps`). A seed of a method found at the same
    count in two runs is refused rather than counted twice; runs of one dataset must
    agree on N and on the split they were scored on. Runs whose teachers differ are
    merged, and every teacher accuracy is kept (``test_accuracies``) so the report can
    say so.
    """
    merged: dict[str, dict[str, Any]] = {}
    seeds_seen: dict[tuple[str, str, int, int], Path] = {}
    for run_dir, results in runs:
        dataset = results["dataset"]
        target = merged.setdefault(
            dataset,
            {
                "dataset": dataset,
                "n_fewshot": results["n_fewshot"],
                "evaluated_on": _evaluated_on(results),
                "runs": [],
                "seeds": [],
                "teacher": {"arch": results["teacher"]["arch"], "test_accuracies": []},
                "queries_sent": 0,
                "queries_paid": 0,
                "retries_in_all": 0,
                "timeouts_in_all": 0,
                "per_seed": {},
            },
        )
        if target["n_fewshot"] != results["n_fewshot"]:
            raise FsbbtError(
                f"runs of {dataset} differ in N ({target['n_fewshot']} and "
                f"{results['n_fewshot']} in {run_dir}); report them separately"
            )
        if target["evaluated_on"] != _evaluated_on(results):
            raise FsbbtError(
                f"runs of {dataset} were scored on different splits ({target['evaluated_on']} "
                f"and {_evaluated_on(results)} in {run_dir}); report them separately"
            )
        target["runs"].append(str(run_dir))
        accuracy = results["teacher"]["test_accuracy"]
        if accuracy is not None and accuracy not in target["teacher"]["test_accuracies"]:
            target["teacher"]["test_accuracies"].append(accuracy)
        queries = results.get("queries") or {}
        target["queries_sent"] += queries.get("sent") or 0
        # older results.json files hold no lifetime count: their own sending is the best known
        target["queries_paid"] += queries.get("paid_in_all", queries.get("sent")) or 0
        for name in ("retries_in_all", "timeouts_in_all"):
            target[name] += queries.get(name) or 0
        for key in results["methods"]:
            asked = results["methods"][key]["teacher_queries"]
            for seed, numbers in _per_seed(results, key).items():
                if (dataset, key, asked, seed) in seeds_seen:
                    raise FsbbtError(
                        f"{dataset} {key} seed {seed} is in both "
                        f"{seeds_seen[dataset, key, asked, seed]} and {run_dir}; give "
                        "each seed's run once"
                    )
                seeds_seen[dataset, key, asked, seed] = run_dir
                target["per_seed"].setdefault((key, asked), {})[seed] = numbers
            target["seeds"] = sorted(set(target["seeds"]) | set(results["seeds"]))
    return [_as_results(target) for target in merged.values()]


def _evaluated_on(results: dict[str, Any]) -> str:
    """The split a run's accuracies are on; runs written before validation splits: test."""
    return results.get("evaluated_on", "test")


def _entries(per_seed: dict[tuple[str, int], Any]) -> dict[tuple[str, int], str]:
    """(method key, teacher queries) → the key of its merged entry: the method key itself
    when the runs measured it at one count, else ``KEY @ QUERIES`` per count, fewest first
    (a results key, never parsed as a method entry: ``method_key`` holds the method)."""
    counts: dict[str, list[int]] = {}
    for key, queries in per_seed:
        counts.setdefault(key, []).append(queries)
    entries = {}  # methods in first-seen order, each one's counts fewest first
    for key, queries_list in counts.items():
        for queries in sorted(queries_list):
            entries[key, queries] = key if len(queries_list) == 1 else f"{key} @ {queries:,}"
    return entries


def query_sweeps(results: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Method key → its merged entries at each teacher-query count, fewest first, for
    the methods the merged runs measured at more than one count (a budget sweep)."""
    sweeps: dict[str, list[dict[str, Any]]] = {}
    for summary in results["methods"].values():
        if "method_key" in summary:
            sweeps.setdefault(summary["method_key"], []).append(summary)
    return sweeps


def _as_results(target: dict[str, Any]) -> dict[str, Any]:
    """The pooled numbers in results.json's shape (each method also lists its seeds)."""
    methods = {}
    for (key, queries), entry in _entries(target["per_seed"]).items():
        by_seed = target["per_seed"][key, queries]
        seeds = sorted(by_seed)
        rows = [by_seed[seed] for seed in seeds]
        scored = [r for r in rows if r["accuracy"] is not None]
        summary = (
            score_summary([r["accuracy"] for r in scored], [r["macro_f1"] for r in scored])
            if scored
            else {
                "accuracy": [],
                "macro_f1": [],
                "accuracy_mean": None,
                "accuracy_std": None,
                "macro_f1_mean": None,
            }
        )
        summary.update(seeds=seeds, seconds=[r["seconds"] for r in rows], teacher_queries=queries)
        if entry != key:
            summary["method_key"] = key
        if any(r["query_curve"] for r in rows):
            summary["query_curves"] = [r["query_curve"] for r in rows]
        methods[entry] = summary
    accuracies = target["teacher"]["test_accuracies"]
    teacher = {
        "arch": target["teacher"]["arch"],
        "test_accuracies": accuracies,
        "test_accuracy": sum(accuracies) / len(accuracies) if accuracies else None,
    }
    return {
        "dataset": target["dataset"],
        "n_fewshot": target["n_fewshot"],
        "evaluated_on": target["evaluated_on"],
        "seeds": target["seeds"],
        "runs": target["runs"],
        "teacher": teacher,
        "queries_sent": target["queries_sent"],
        "queries_paid": target["queries_paid"],
        "retries_in_all": target["retries_in_all"],
        "timeouts_in_all": target["timeouts_in_all"],
        "methods": methods,
    }
