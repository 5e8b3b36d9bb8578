"""Reproduce a paper row: run a config for several seeds, print ours beside the paper's.

    python benchmarks/reproduce.py configs/fashion-mnist.yaml --seeds 1,2,3 --out runs/repro-fmnist

Writes the run's results.json in --out and a summary JSON in benchmarks/results/.
With --from-results it only re-reads an existing results.json (no training).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from fsbbt.experiment.config import load_config
from fsbbt.experiment.runner import RESULTS_FILE, run_experiment
from fsbbt.report.paper import paper_accuracy

HERE = Path(__file__).resolve().parent


def comparison_rows(results: dict) -> list[dict]:
    """One row per method (and the teacher): ours (mean ± std over seeds) beside the paper."""
    dataset = results["dataset"]
    rows = [{"method": f"teacher/{results['teacher']['arch']}",
             "ours_mean": 100 * results["teacher"]["test_accuracy"], "ours_std": 0.0,
             "paper": paper_accuracy(dataset, "teacher"), "seconds_per_seed": None,
             "teacher_queries": None, "macro_f1_mean": None}]
    for key, summary in results["methods"].items():
        rows.append({
            "method": key,
            "ours_mean": 100 * summary["accuracy_mean"],
            "ours_std": 100 * summary["accuracy_std"],
            "ours_per_seed": [round(100 * a, 2) for a in summary["accuracy"]],
            "paper": paper_accuracy(dataset, key),
            "macro_f1_mean": 100 * summary["macro_f1_mean"],
            "teacher_queries": summary["teacher_queries"],
            "seconds_per_seed": sum(summary["seconds"]) / len(summary["seconds"]),
        })
    return rows


def print_comparison(results: dict, rows: list[dict]) -> None:
    table = Table(title=f"{results['dataset']}, N = {results['n_fewshot']}, "
                        f"seeds {results['seeds']}: ours vs the paper (top-1 %)")
    for header in ("method", "ours", "paper", "Δ", "macro-F1", "queries", "s/seed"):
        table.add_column(header, justify="left" if header == "method" else "right",
                         no_wrap=True)
    for row in rows:
        delta = "" if row["paper"] is None else f"{row['ours_mean'] - row['paper']:+.2f}"
        table.add_row(
            row["method"], f"{row['ours_mean']:.2f} ± {row['ours_std']:.2f}",
            "—" if row["paper"] is None else f"{row['paper']:.2f}", delta,
            "" if row["macro_f1_mean"] is None else f"{row['macro_f1_mean']:.2f}",
            "" if row["teacher_queries"] is None else f"{row['teacher_queries']:,}",
            "" if row["seconds_per_seed"] is None else f"{row['seconds_per_seed']:.0f}")
    Console(width=120).print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--from-results", action="store_true",
                        help="read --out/results.json instead of training")
    args = parser.parse_args()

    started = time.perf_counter()
    if args.from_results:
        results = json.loads((args.out / RESULTS_FILE).read_text())
    else:
        config = load_config(args.config, [*args.overrides, f"seeds=[{args.seeds}]"])
        results = run_experiment(config, args.out)
    rows = comparison_rows(results)
    print_comparison(results, rows)
    summary = {"dataset": results["dataset"], "seeds": results["seeds"], "rows": rows,
               "wall_seconds": round(time.perf_counter() - started, 1),
               "machine": results.get("machine", {"platform": platform.platform()}),
               "finished_at": results.get("finished_at")}
    target = HERE / "results" / f"reproduce-{results['dataset']}.json"
    target.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"summary written to {target}")


if __name__ == "__main__":
    main()
