"""Wall time of two methods at the same query budget, each alone on the machine.

    python benchmarks/method_wall_time.py configs/fashion-mnist.yaml --budget 12500 \\
        --methods fsbbt,fsbbt-active --students lenet5-half --teacher runs/qe-fmnist/teacher \\
        --repetitions 3 --out runs/wall-time

Inside one ``query_efficiency.py`` run the methods train side by side in the training
workers, so the seconds it reports per method overlap and say little about what one
method costs. Here every repetition runs one ``query_efficiency.py`` per method, one after
the other (A B A B …), each in a fresh run directory with the same saved teacher copied
in, so each method pays for everything it does (FS-BBT its CVAE) and nothing else runs
beside it. On a shared machine absolute times drift between hours: the figure of merit
is the median of the per-repetition ratios B / A.

Writes a JSON (--json, default benchmarks/results/wall_time-<B>-vs-<A>-<budget>.json) and
prints a table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from fsbbt.config.method_entry import split_top_level

QUERY_EFFICIENCY = Path(__file__).with_name("query_efficiency.py")


def timed_run(
    args: argparse.Namespace, method: str, repetition: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One ``query_efficiency.py`` run of ``method`` in a fresh directory: its accuracy,
    the method's own seconds and the whole process's; and the machine as the run
    described it."""
    out = args.out / f"{repetition}-{method}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    shutil.copytree(args.teacher, out / "teacher")
    summary = out / "summary.json"
    command = [sys.executable, str(QUERY_EFFICIENCY), args.config, "--seeds", str(args.seed),
               "--budgets", str(args.budget), "--methods", method, "--students", args.students,
               "--out", str(out), "--json", str(summary)]  # fmt: skip
    started = time.perf_counter()
    finished = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - started
    if finished.returncode:
        last_line = (finished.stderr.strip().splitlines() or ["no message"])[-1]
        sys.exit(f"{method} failed (exit {finished.returncode}): {last_line}")
    written = json.loads(summary.read_text())
    (row,) = written["rows"]
    print(f"repetition {repetition}, {method}: {wall:.1f} s", flush=True)  # runs take minutes
    timing = {
        "repetition": repetition,
        "method": method,
        "accuracy": row["accuracy_per_seed"][0],
        "method_seconds": row["seconds_per_seed"][0],
        "wall_seconds": round(wall, 1),
    }
    return timing, written["machine"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config")
    parser.add_argument("--budget", type=int, required=True, help="teacher queries in all, N included")
    parser.add_argument("--methods", required=True, help="two methods, A,B: the ratio is B / A")
    parser.add_argument("--students", required=True, help="one student arch")
    parser.add_argument("--teacher", type=Path, required=True, help="a saved teacher directory to copy in")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--out", type=Path, required=True, help="scratch run directories go here")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    methods = split_top_level(args.methods)  # a variant's brackets may hold commas
    if len(methods) != 2:
        parser.error(f"--methods needs two methods, A,B; got {len(methods)}")
    first, second = methods
    if not args.teacher.is_dir():
        parser.error(f"{args.teacher} is not a directory; pass the OUT/teacher of a query_efficiency run")

    runs = [timed_run(args, method, repetition)
            for repetition in range(1, args.repetitions + 1) for method in (first, second)]  # fmt: skip
    rows = [timing for timing, _ in runs]
    ratios = [b["wall_seconds"] / a["wall_seconds"] for a, b in zip(rows[::2], rows[1::2], strict=True)]
    result = {
        "what": f"wall time of one query_efficiency.py run per method, alone, interleaved; "
        f"{args.config}, seed {args.seed}, {args.budget:,} queries, {args.students}; fresh run "
        "directory each (teacher copied in)",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": runs[0][1],
        "rows": rows,
        "ratios": [round(r, 3) for r in ratios],
        "median_ratio": round(statistics.median(ratios), 3),
    }
    path = args.json or Path("benchmarks/results") / f"wall_time-{second}-vs-{first}-{args.budget}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")

    table = Table(title=f"wall time, {args.budget:,} queries, {args.students} (s)")
    for column in ("repetition", escape(first), escape(second), "ratio"):
        table.add_column(column, justify="right")
    for a, b, ratio in zip(rows[::2], rows[1::2], ratios, strict=True):
        table.add_row(
            str(a["repetition"]), f"{a['wall_seconds']:.1f}", f"{b['wall_seconds']:.1f}", f"{ratio:.2f}"
        )
    table.add_row("median", "", "", f"{result['median_ratio']:.2f}")
    Console().print(table)
    print(f"written to {path}")


if __name__ == "__main__":
    main()
