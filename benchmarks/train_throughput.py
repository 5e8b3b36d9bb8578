"""Training throughput (images/s) of the networks, in float32 and on the fast path.

    python benchmarks/train_throughput.py [--threads 2] [--steps 8] [--repeats 3]

Each row times the real training code: ``fit_classifier`` (shuffled batches, the
preset's augmentation, soft-target loss, Adam) for the classifiers and ``train_cvae``
for the CVAEs, on random images of the right shape, once with ``precision=fp32`` and
once with ``bf16`` (autocast + channels-last). Modes alternate, each is run
``--repeats`` times after a warm-up, and the best pass is reported (as ``timeit`` does:
the machine is shared, and other work only ever slows a pass down); every pass is kept
in the JSON.
Writes benchmarks/results/train_throughput.json and prints the table.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from fsbbt.config.names import AugmentationName
from fsbbt.core import precision, progress
from fsbbt.core.tensors import one_hot
from fsbbt.models import build_classifier
from fsbbt.synth import CvaeConfig, train_cvae
from fsbbt.train import TrainRecipe, fit_classifier
from fsbbt.train.augment import geometry_for

HERE = Path(__file__).resolve().parent
MODES = ("fp32", "bf16")


@dataclass(frozen=True)
class Case:
    """One network at the batch size and augmentation a preset trains it with."""

    name: str
    input_shape: tuple[int, int, int]
    batch: int
    augmentation: AugmentationName = "none"
    cvae_kind: str | None = None  # set for CVAE rows


CASES = (
    Case("alexnet", (3, 32, 32), 512, "standard"),  # CIFAR-10 teacher
    Case("alexnet-half", (3, 32, 32), 512, "standard"),  # the brief's reference numbers
    Case("alexnet-half", (3, 32, 32), 128, "combination"),  # CIFAR-10 student
    Case("alexnet", (3, 32, 32), 128, "combination"),  # CIFAR-10 FS-BBT*
    Case("resnet32", (3, 32, 32), 32, "standard"),  # CIFAR-100 teacher
    Case("resnet20", (3, 32, 32), 16, "standard"),  # CIFAR-100 student
    Case("resnet20", (3, 32, 32), 128, "standard"),
    Case("lenet5", (1, 28, 28), 64, "none"),  # MNIST/Fashion teacher
    Case("lenet5-half", (1, 28, 28), 64, "combination"),  # MNIST/Fashion student
    Case("cvae conv", (3, 32, 32), 64, cvae_kind="conv"),  # CIFAR CVAE
    Case("cvae mlp", (1, 28, 28), 256, cvae_kind="mlp"),  # grey CVAE
)


def images_per_second(case: Case, mode: str, steps: int) -> float:
    """Train ``steps`` batches of ``case`` in ``mode``; images per second of that pass."""
    precision.configure(mode)  # type: ignore[arg-type]
    rng = np.random.default_rng(0)
    count = case.batch * steps
    images = rng.integers(0, 256, (count, *case.input_shape), dtype=np.uint8)
    labels = rng.integers(0, 10, count)
    torch.manual_seed(0)
    if case.cvae_kind is not None:
        recipe = CvaeConfig(kind=case.cvae_kind, epochs=1, batch_size=case.batch)
        started = time.perf_counter()
        train_cvae(images, labels, 10, recipe, seed=0)
        return count / (time.perf_counter() - started)
    model = build_classifier(case.name, case.input_shape, 10)
    recipe = TrainRecipe(
        epochs=1,
        batch_size=case.batch,
        augmentation=case.augmentation,
        geometry=geometry_for("auto", case.input_shape[0]),
    )
    return fit_classifier(model, images, one_hot(labels, 10), recipe, seed=0).images_per_second


def measure(case: Case, steps: int, repeats: int) -> dict[str, list[float]]:
    """Images/s of every pass per mode, modes interleaved so drifting load hits both alike."""
    for mode in MODES:  # warm-up: oneDNN picks and caches its kernels on first use
        images_per_second(case, mode, 2)
    runs: dict[str, list[float]] = {mode: [] for mode in MODES}
    for _ in range(repeats):
        for mode in MODES:
            runs[mode].append(round(images_per_second(case, mode, steps), 1))
    return runs


def machine() -> dict[str, object]:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_has_fast_bf16": precision.cpu_has_fast_bf16(),
        "auto_resolves_to": precision.resolve("auto", torch.device("cpu")).name,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8, help="batches per timed pass")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--only",
        nargs="*",
        default=None,
        help="network names to (re-)measure; the other rows of an existing JSON are kept",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    progress.set_quiet(True)

    rows = []
    for case in CASES:
        if args.only and case.name not in args.only:
            continue
        runs = measure(case, args.steps, args.repeats)
        best = {mode: max(values) for mode, values in runs.items()}
        rows.append(
            {
                "network": case.name,
                "input": "x".join(map(str, case.input_shape)),
                "batch": case.batch,
                "augmentation": case.augmentation,
                "fp32": best["fp32"],
                "bf16": best["bf16"],
                "speedup": round(best["bf16"] / best["fp32"], 2),
                "median_fp32": statistics.median(runs["fp32"]),
                "median_bf16": statistics.median(runs["bf16"]),
                "passes": runs,
            }
        )
        print(f"{case.name} batch {case.batch}: {runs}", flush=True)
    precision.configure("fp32")
    target = HERE / "results" / "train_throughput.json"
    if args.only and target.is_file():
        fresh = {(row["network"], row["batch"]): row for row in rows}
        kept = json.loads(target.read_text())["rows"]
        rows = [fresh.pop((row["network"], row["batch"]), row) for row in kept] + list(fresh.values())

    table = Table(title=f"training images/s, {args.threads} threads (best of {args.repeats})")
    for header in ("network", "input", "batch", "augmentation", "fp32", "bf16+CL", "speed-up"):
        table.add_column(header, justify="left" if header == "network" else "right")
    for row in rows:
        table.add_row(
            row["network"],
            row["input"],
            str(row["batch"]),
            row["augmentation"],
            f"{row['fp32']:,.0f}",
            f"{row['bf16']:,.0f}",
            f"{row['speedup']:.2f}×",
        )
    Console(width=120).print(table)
    target.write_text(
        json.dumps(
            {
                "what": "training images/s of fit_classifier / train_cvae, fp32 vs bf16 autocast + "
                "channels-last, best pass of the repeats (all passes under 'passes')",
                "steps_per_pass": args.steps,
                "repeats": args.repeats,
                "rows": rows,
                "machine": machine(),
                "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            },
            indent=2,
        )
        + "\n"
    )
    print(f"written to {target}")


if __name__ == "__main__":
    main()
