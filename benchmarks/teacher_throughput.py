"""Teacher throughput (images/s): in-process, behind the query ledger, and over HTTP.

    python benchmarks/teacher_throughput.py [--images 10240] [--repeats 3]

For 28×28×1 (LeNet5) and 32×32×3 (LeNet5 widened to 3 input channels), batch 256:
* in-process  — ``LocalTeacher.predict_proba`` on each batch;
* ledger      — ``QueryOracle`` with a SQLite ledger on disk, every image new (hashing,
                validation and one committed transaction per batch on top of inference);
* http c=1/2  — ``HttpTeacher`` against ``fsbbt teacher serve`` in its own process on
                loopback (.npy request and answer bodies), 1 or 2 requests in flight.
Both processes use ``--threads`` torch threads (default 1).
Weights are random: throughput does not depend on them. Writes
benchmarks/results/teacher_throughput.json and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from fsbbt.core import progress
from fsbbt.models import build_classifier
from fsbbt.teacher.blackbox import QueryOracle
from fsbbt.teacher.http_client import HttpSettings, HttpTeacher
from fsbbt.teacher.ledger import QueryLedger
from fsbbt.teacher.local import LocalTeacher, TeacherMetadata, save_teacher

HERE = Path(__file__).resolve().parent
BATCH = 256
SHAPES = {"28x28x1": (1, 28, 28), "32x32x3": (3, 32, 32)}


def _save_random_teacher(shape: tuple[int, int, int], directory: Path) -> Path:
    torch.manual_seed(0)
    model = build_classifier("lenet5", shape, 10)
    classes = tuple(str(i) for i in range(10))
    save_teacher(model, TeacherMetadata("lenet5", "random", shape, classes, 0.0, 0, 0), directory)
    return directory


def _images(count: int, shape: tuple[int, int, int], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, *shape), dtype=np.uint8)


def _rate(
    run: Callable[[np.ndarray], object],
    images: np.ndarray,
    repeats: int,
    fresh: Callable[[int], np.ndarray] | None = None,
) -> float:
    """Median images/s over ``repeats`` passes (``fresh`` gives unseen images per pass)."""
    run(images[:BATCH])  # warm-up: first-call allocations, connection set-up
    rates = []
    for repeat in range(repeats):
        batch = fresh(repeat) if fresh else images
        started = time.perf_counter()
        run(batch)
        rates.append(len(batch) / (time.perf_counter() - started))
    return statistics.median(rates)


def _in_batches(predict: Callable[[np.ndarray], object]) -> Callable[[np.ndarray], None]:
    def run(images: np.ndarray) -> None:
        for start in range(0, len(images), BATCH):
            predict(images[start : start + BATCH])

    return run


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_server(teacher_dir: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    server = subprocess.Popen(
        [sys.executable, "-m", "fsbbt", "teacher", "serve", str(teacher_dir), "--port", str(port)],
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("teacher server did not start")


def measure(
    shape_name: str, shape: tuple[int, int, int], count: int, repeats: int, workdir: Path
) -> dict[str, float]:
    teacher_dir = _save_random_teacher(shape, workdir / shape_name)
    teacher = LocalTeacher(teacher_dir)
    images = _images(count, shape, seed=0)
    rates = {"in-process": _rate(_in_batches(teacher.predict_proba), images, repeats)}

    ledger = QueryLedger(workdir / f"{shape_name}-ledger.sqlite", teacher.fingerprint, 10)
    oracle = QueryOracle(teacher, BATCH, ledger)
    rates["ledger"] = _rate(
        oracle.query, images, repeats, fresh=lambda repeat: _images(count, shape, seed=100 + repeat)
    )

    port = _free_port()
    server = _start_server(teacher_dir, port)
    try:
        for concurrency in (1, 2):
            client = HttpTeacher(
                HttpSettings(
                    url=f"http://127.0.0.1:{port}",
                    headers={},
                    token_env=None,
                    request_batch_size=BATCH,
                    concurrency=concurrency,
                    timeout_s=60,
                    retries=2,
                    max_backoff_s=1.0,
                )
            )
            run = _in_batches(client.predict_proba) if concurrency == 1 else client.predict_proba
            rates[f"http c={concurrency}"] = _rate(run, images, repeats)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {name: round(rate, 1) for name, rate in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=BATCH * 40, help="images per pass")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads in this process and in the server (on a loaded "
        "machine more threads than free cores slow torch down badly)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    progress.set_quiet(True)
    os.environ["FSBBT_QUIET"] = "1"
    rows = {}
    with tempfile.TemporaryDirectory() as workdir:
        for shape_name, shape in SHAPES.items():
            rows[shape_name] = measure(shape_name, shape, args.images, args.repeats, Path(workdir))
    table = Table(
        title=f"teacher throughput, images/s (batch {BATCH}, median of {args.repeats} × {args.images} images)"
    )
    columns = list(next(iter(rows.values())))
    table.add_column("input")
    for column in columns:
        table.add_column(column, justify="right")
    table.add_column("best http / in-process", justify="right")
    for shape_name, rates in rows.items():
        best_http = max(v for k, v in rates.items() if k.startswith("http"))
        table.add_row(
            shape_name, *(f"{rates[c]:,.0f}" for c in columns), f"{best_http / rates['in-process']:.2f}"
        )
    Console(width=120).print(table)
    summary = {
        "batch": BATCH,
        "images_per_pass": args.images,
        "repeats": args.repeats,
        "images_per_second": rows,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "load_average": os.getloadavg(),
        },
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    target = HERE / "results" / "teacher_throughput.json"
    target.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"written to {target}")


if __name__ == "__main__":
    main()
