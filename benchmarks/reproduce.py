"""Reproduce a paper row: run a config for several seeds, print ours beside the paper's.

    python benchmarks/reproduce.py configs/fashion-mnist.yaml --seeds 1,2,3 --out runs/repro-fmnist
    python benchmarks/reproduce.py configs/cifar10.yaml --seeds 1 --data-dir DIR --out runs/cifar10

Writes the run's results.json in --out and a summary JSON in benchmarks/results/, and
prints where the wall time went: teacher training, synthesis (of which the CVAE), each
student's training. With --from-results it only re-reads an existing results.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from fsbbt.experiment.config import load_config
from fsbbt.experiment.runner import RESULTS_FILE, run_experiment
from fsbbt.report.paper import paper_accuracy

HERE = Path(__file__).resolve().parent


def _percent(value: float | None) -> float | None:
    """A fraction as %, None kept (an external teacher or a run without a test set)."""
    return None if value is None else 100 * value


def comparison_rows(results: dict) -> list[dict]:
    """One row per method (and the teacher): ours (mean ± std over seeds) beside the paper."""
    dataset = results["dataset"]
    rows = [
        {
            "method": f"teacher/{results['teacher']['arch']}",
            "ours_mean": _percent(results["teacher"]["test_accuracy"]),
            "ours_std": 0.0,
            "paper": paper_accuracy(dataset, "teacher"),
            "seconds_per_seed": None,
            "teacher_queries": None,
            "macro_f1_mean": None,
        }
    ]
    for key, summary in results["methods"].items():
        rows.append(
            {
                "method": key,
                "ours_mean": _percent(summary["accuracy_mean"]),
                "ours_std": _percent(summary["accuracy_std"]),
                "ours_per_seed": [round(100 * a, 2) for a in summary["accuracy"]],
                "paper": paper_accuracy(dataset, key),
                "macro_f1_mean": _percent(summary["macro_f1_mean"]),
                "teacher_queries": summary["teacher_queries"],
                "seconds_per_seed": sum(summary["seconds"]) / len(summary["seconds"]),
            }
        )
    return rows


def print_comparison(results: dict, rows: list[dict]) -> None:
    table = Table(
        title=f"{results['dataset']}, N = {results['n_fewshot']}, "
        f"seeds {results['seeds']}: ours vs the paper (top-1 %)"
    )
    for header in ("method", "ours", "paper", "Δ", "macro-F1", "queries", "s/seed"):
        table.add_column(header, justify="left" if header == "method" else "right", no_wrap=True)
    for row in rows:
        scored = row["ours_mean"] is not None
        delta = "" if row["paper"] is None or not scored else f"{row['ours_mean'] - row['paper']:+.2f}"
        table.add_row(
            escape(row["method"]),  # a variant's [key=value] is not rich markup
            f"{row['ours_mean']:.2f} ± {row['ours_std']:.2f}" if scored else "—",
            "—" if row["paper"] is None else f"{row['paper']:.2f}",
            delta,
            "" if row["macro_f1_mean"] is None else f"{row['macro_f1_mean']:.2f}",
            "" if row["teacher_queries"] is None else f"{row['teacher_queries']:,}",
            "" if row["seconds_per_seed"] is None else f"{row['seconds_per_seed']:.0f}",
        )
    Console(width=120).print(table)


def stage_times(results: dict) -> list[dict]:
    """Wall seconds per stage (per seed, averaged over seeds), as the run measured them."""

    def mean(values: list[float] | None) -> float | None:
        return round(sum(values) / len(values), 1) if values else None

    rows = [
        {
            "stage": f"teacher {results['teacher']['arch']} training",
            "seconds": results["teacher"].get("train_seconds"),
        }
    ]
    synthesis_done = False
    for key, summary in results["methods"].items():
        if summary.get("synthesis_seconds") and not synthesis_done:
            # built once per seed and shared by every FS-BBT student
            rows.append(
                {
                    "stage": "FS-BBT synthesis (queries, MixUp, CVAE)",
                    "seconds": mean(summary["synthesis_seconds"]),
                }
            )
            rows.append(
                {"stage": "  of which CVAE training + sampling", "seconds": mean(summary.get("cvae_seconds"))}
            )
            synthesis_done = True
        rows.append({"stage": f"{key} student training", "seconds": mean(summary.get("train_seconds"))})
    return rows


def print_stage_times(rows: list[dict]) -> None:
    table = Table(title="wall time per stage (s, mean over seeds)")
    table.add_column("stage", no_wrap=True)
    table.add_column("seconds", justify="right")
    for row in rows:
        table.add_row(row["stage"], "—" if row["seconds"] is None else f"{row['seconds']:,.0f}")
    Console(width=120).print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder with the dataset (pickles, archive or image-folder tree)",
    )
    parser.add_argument("--precision", default=None, help="auto, fp32, bf16 or fp16")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument(
        "--from-results", action="store_true", help="read --out/results.json instead of training"
    )
    args = parser.parse_args()

    started = time.perf_counter()
    if args.from_results:
        results = json.loads((args.out / RESULTS_FILE).read_text())
    else:
        overrides = [*args.overrides, f"seeds=[{args.seeds}]"]
        if args.data_dir is not None:
            overrides.append(f"data_dir={args.data_dir}")
        if args.precision is not None:
            overrides.append(f"precision={args.precision}")
        results = run_experiment(load_config(args.config, overrides), args.out)
    rows = comparison_rows(results)
    print_comparison(results, rows)
    times = stage_times(results)
    print_stage_times(times)
    summary = {
        "dataset": results["dataset"],
        "seeds": results["seeds"],
        "rows": rows,
        "stage_seconds": times,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "machine": results.get("machine", {"platform": platform.platform()}),
        "finished_at": results.get("finished_at"),
    }
    target = HERE / "results" / f"reproduce-{results['dataset']}.json"
    target.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"summary written to {target}")


if __name__ == "__main__":
    main()
