"""Projected wall time of a preset at paper scale: one measured epoch per stage × its epochs.

    python benchmarks/epoch_time.py configs/cifar100.yaml [--threads 2] [--precision auto]

For every training stage of CONFIG (teacher, CVAE, each method's student) this trains
ONE real epoch with the preset's batch size, augmentation, schedule and network on
random images of the dataset's shape and training-set size (time does not depend on
pixel values), and multiplies by the preset's epoch count. Teacher queries (N + M
images, float32 as the teacher always answers) and the test-set evaluations of the
training curves are timed once and counted as often as a run does them. Writes
benchmarks/results/epoch_time-<dataset>.json and prints the table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from fsbbt.core import precision, progress
from fsbbt.core.tensors import one_hot
from fsbbt.experiment.config import load_config
from fsbbt.methods.base import student_recipe
from fsbbt.models import build_classifier
from fsbbt.synth import train_cvae
from fsbbt.teacher.train_local import teacher_recipe
from fsbbt.train import TrainRecipe, fit_classifier
from fsbbt.train.evaluate import predict_probabilities

HERE = Path(__file__).resolve().parent
# dataset → (input shape, classes, training images, test images) of the real splits
SHAPES = {
    "cifar10": ((3, 32, 32), 10, 50_000, 10_000),
    "cifar100": ((3, 32, 32), 100, 50_000, 10_000),
    "mnist": ((1, 28, 28), 10, 60_000, 10_000),
    "fashion-mnist": ((1, 28, 28), 10, 60_000, 10_000),
}


def _random(count: int, shape: tuple[int, int, int], classes: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return (rng.integers(0, 256, (count, *shape), dtype=np.uint8), rng.integers(0, classes, count))


def one_epoch_seconds(
    arch: str, count: int, shape: tuple[int, int, int], classes: int, recipe: TrainRecipe
) -> float:
    """Seconds of one real training epoch of ``arch`` on ``count`` images."""
    images, labels = _random(count, shape, classes)
    torch.manual_seed(0)
    model = build_classifier(arch, shape, classes)
    one = dataclasses.replace(recipe, epochs=1)
    return fit_classifier(model, images, one_hot(labels, classes), one, seed=0).seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    progress.set_quiet(True)
    config = load_config(args.config, [f"precision={args.precision}"])
    shape, classes, train_count, test_count = SHAPES[config.dataset]
    precision.configure(config.precision)
    n, m = config.n_fewshot, config.synthesis.budget
    rows: list[dict] = []

    def add(stage: str, epoch_s: float, epochs: int) -> None:
        rows.append(
            {
                "stage": stage,
                "seconds_per_epoch": round(epoch_s, 2),
                "epochs": epochs,
                "projected_seconds": round(epoch_s * epochs, 1),
            }
        )
        print(rows[-1], flush=True)

    teacher = config.teacher
    add(
        f"teacher {teacher.arch} ({train_count:,} images, batch {teacher.batch_size})",
        one_epoch_seconds(teacher.arch, train_count, shape, classes, teacher_recipe(teacher, shape[0])),
        teacher.epochs,
    )

    torch.manual_seed(0)
    query_model = build_classifier(teacher.arch, shape, classes)
    images, labels = _random(n + m, shape, classes)
    started = time.perf_counter()
    predict_probabilities(query_model, images, mode=precision.FP32)
    add(f"teacher queries ({n + m:,} images, fp32)", time.perf_counter() - started, 1)

    cvae = config.cvae
    started = time.perf_counter()
    train_cvae(images[:n], labels[:n], classes, config.cvae.model_copy(update={"epochs": 1}), seed=0)
    add(
        f"CVAE {cvae.kind} ({n:,} images, batch {cvae.batch_size})",
        time.perf_counter() - started,
        cvae.epochs,
    )

    student = config.student
    evaluations = config.curve_points + 1
    for entry in config.methods:
        method, arch = entry.split("/")
        count = n + m if method == "fsbbt" else n
        augmentation = student.augmentation if method == "fsbbt" else student.baseline_augmentation
        recipe = student_recipe(config, shape[0], augmentation)
        add(
            f"{entry} ({count:,} images, batch {student.batch_size})",
            one_epoch_seconds(arch, count, shape, classes, recipe),
            student.epochs,
        )
        torch.manual_seed(0)
        model = build_classifier(arch, shape, classes)
        test_images, _ = _random(test_count, shape, classes)
        started = time.perf_counter()
        predict_probabilities(model, test_images)
        add(f"{entry} test evaluations ({test_count:,} images)", time.perf_counter() - started, evaluations)
    precision.configure("fp32")

    total = sum(row["projected_seconds"] for row in rows)
    table = Table(
        title=f"{config.dataset} at paper scale, {args.threads} threads, precision "
        f"{precision.resolve(config.precision, torch.device('cpu')).name} "
        f"(one seed): projected {total / 3600:.1f} h"
    )
    for header in ("stage", "s/epoch", "epochs", "projected"):
        table.add_column(header, justify="left" if header == "stage" else "right", no_wrap=True)
    for row in rows:
        table.add_row(
            row["stage"],
            f"{row['seconds_per_epoch']:.1f}",
            str(row["epochs"]),
            f"{row['projected_seconds'] / 60:,.1f} min",
        )
    Console(width=130).print(table)
    target = HERE / "results" / f"epoch_time-{config.dataset}.json"
    target.write_text(
        json.dumps(
            {
                "config": args.config,
                "precision": config.precision,
                "resolved_precision": precision.resolve(config.precision, torch.device("cpu")).name,
                "threads": args.threads,
                "rows": rows,
                "projected_total_seconds": round(total, 1),
                "projected_total_hours": round(total / 3600, 2),
                "machine": {"platform": platform.platform(), "torch": torch.__version__},
                "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            },
            indent=2,
        )
        + "\n"
    )
    print(f"written to {target}")


if __name__ == "__main__":
    main()
