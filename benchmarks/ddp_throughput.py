"""Student-training throughput on 1 vs 2 processes (DDP, gloo, CPU) on this machine.

    python benchmarks/ddp_throughput.py [--images 20000] [--epochs 2] [--repeats 1]

Trains LeNet5 with the student recipe (batch 64 in total, "combination" augmentation)
on a synthetic set of uint8 images with random soft targets, through the one training
loop `fit_classifier`, and reports images per second over all processes, measured by the
loop itself. Three layouts, so the comparison is fair on a 2-core machine:

* 1 process, 1 thread   - the baseline
* 1 process, 2 threads  - what a single process can already get from 2 cores
* 2 processes, 1 thread each, under torchrun (DDP, per-rank batch 32)

Writes benchmarks/results/ddp_throughput.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
LAYOUTS = [
    ("1 process x 1 thread", 1, 1),
    ("1 process x 2 threads", 1, 2),
    ("2 processes x 1 thread (DDP)", 2, 1),
]


def worker(report: Path, images: int, epochs: int) -> None:
    """One training run; rank 0 writes the loop's own images/s measurement."""
    from fsbbt.core import distributed, progress
    from fsbbt.models import build_classifier
    from fsbbt.train import TrainRecipe, fit_classifier

    progress.set_quiet(True)
    distributed.init_distributed("cpu")
    rng = np.random.default_rng(0)
    train_images = rng.integers(0, 256, (images, 1, 28, 28), dtype=np.uint8)
    targets = rng.dirichlet(np.ones(10), images).astype(np.float32)
    model = build_classifier("lenet5", (1, 28, 28), 10)
    recipe = TrainRecipe(epochs=epochs, batch_size=64, augmentation="combination")
    history = fit_classifier(model, train_images, targets, recipe, seed=1)
    if distributed.is_main_process():
        report.write_text(
            json.dumps(
                {
                    "images_per_second": history.images_per_second,
                    "seconds": history.seconds,
                    "processes": distributed.current().world_size,
                }
            )
        )
    distributed.shutdown_distributed()


def measure(processes: int, threads: int, images: int, epochs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        script = [
            str(Path(__file__).resolve()),
            "--worker",
            str(report),
            "--images",
            str(images),
            "--epochs",
            str(epochs),
        ]
        launcher = (
            [sys.executable]
            if processes == 1
            else [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--standalone",
                f"--nproc_per_node={processes}",
            ]
        )
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        subprocess.run([*launcher, *script], check=True, env=env)
        return json.loads(report.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.images, args.epochs)
        return

    rows = []
    for label, processes, threads in LAYOUTS:
        runs = [measure(processes, threads, args.images, args.epochs) for _ in range(args.repeats)]
        rates = [run["images_per_second"] for run in runs]
        rows.append(
            {
                "layout": label,
                "processes": processes,
                "threads_per_process": threads,
                "images_per_second": rates,
                "best_images_per_second": max(rates),
            }
        )
    baseline = rows[0]["best_images_per_second"]
    for row in rows:
        row["speedup_vs_1x1"] = round(row["best_images_per_second"] / baseline, 3)

    payload = {
        "benchmark": "student training throughput, lenet5, batch 64, combination augmentation",
        "images": args.images,
        "epochs": args.epochs,
        "repeats": args.repeats,
        "rows": rows,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_1min_after": os.getloadavg()[0],
            "torch": torch.__version__,
        },
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out = HERE / "results" / "ddp_throughput.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")

    table = Table(title=f"student training, {args.images} images x {args.epochs} epochs")
    for column in ("layout", "images/s (best)", "speed-up vs 1x1"):
        table.add_column(column, justify="left" if column == "layout" else "right")
    for row in rows:
        table.add_row(row["layout"], f"{row['best_images_per_second']:,.0f}", f"{row['speedup_vs_1x1']:.2f}x")
    Console().print(table)
    load = payload["machine"]["load_average_1min_after"]
    print(f"load average (1 min) after the runs: {load:.1f} on {os.cpu_count()} CPUs; results: {out}")


if __name__ == "__main__":
    main()
