"""Does bf16 cost accuracy? Same seeds, same data, fp32 vs bf16 (autocast + channels-last).

    python benchmarks/precision_check.py --data-dir /tmp/cifar10-jpeg [--threads 2]

* teacher: AlexNet on a class-balanced 10,000-image subset of the CIFAR-10 training
  split, 3 epochs (batch 128, shift/flip augmentation), test accuracy on all 10,000
  test images, each model evaluated in the precision it was trained in;
* student: AlexNet-half on N = 2,000 few-shot images labelled by the fp32 teacher
  (Standard-KD's data, the preset's combination augmentation), 15 epochs, batch 128,
  seeds 1 and 2, so the fp32-vs-bf16 gap can be read against the seed-to-seed spread.

Writes benchmarks/results/precision_check.json and prints the numbers. ~3-4 minutes on
2 cores with bf16 support.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from fsbbt import progress
from fsbbt.data import load_dataset, sample_fewshot_indices
from fsbbt.models import build_classifier
from fsbbt.train import TrainRecipe, evaluate_classifier, fit_classifier, precision
from fsbbt.train.augment import CIFAR_GEOMETRY
from fsbbt.train.evaluate import predict_probabilities
from fsbbt.train.tensors import one_hot

HERE = Path(__file__).resolve().parent
MODES = ("fp32", "bf16")


def train_and_score(arch: str, images: np.ndarray, targets: np.ndarray, recipe: TrainRecipe,
                    seed: int, mode: str, test: tuple[np.ndarray, np.ndarray]
                    ) -> tuple[torch.nn.Module, dict[str, float]]:
    """Train ``arch`` in ``mode`` and score it on the test split in the same mode."""
    precision.configure(mode)  # type: ignore[arg-type]
    torch.manual_seed(seed)
    model = build_classifier(arch, (3, 32, 32), 10)
    history = fit_classifier(model, images, targets, recipe, seed=seed)
    scores = evaluate_classifier(model, *test, 10)
    return model, {"accuracy": round(scores.accuracy, 4), "macro_f1": round(scores.macro_f1, 4),
                   "final_loss": round(history.epoch_loss[-1], 4),
                   "seconds": round(history.seconds, 1),
                   "images_per_second": round(history.images_per_second, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--teacher-images", type=int, default=10_000)
    parser.add_argument("--teacher-epochs", type=int, default=3)
    parser.add_argument("--student-epochs", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    progress.set_quiet(True)
    started = time.perf_counter()

    dataset = load_dataset("cifar10", args.data_dir)
    test = (dataset.test_images, dataset.test_labels)
    subset = sample_fewshot_indices(dataset.train_labels, args.teacher_images, 10, seed=0)
    teacher_recipe = TrainRecipe(epochs=args.teacher_epochs, batch_size=128,
                                 augmentation="standard", geometry=CIFAR_GEOMETRY)
    teachers, teacher_rows = {}, {}
    for mode in MODES:
        teachers[mode], teacher_rows[mode] = train_and_score(
            "alexnet", dataset.train_images[subset], one_hot(dataset.train_labels[subset], 10),
            teacher_recipe, 0, mode, test)
        print(f"teacher alexnet {mode}: {teacher_rows[mode]}", flush=True)

    precision.configure("fp32")
    fewshot = sample_fewshot_indices(dataset.train_labels, 2000, 10, seed=1)
    soft_labels = predict_probabilities(teachers["fp32"], dataset.train_images[fewshot])
    student_recipe = TrainRecipe(epochs=args.student_epochs, batch_size=128,
                                 augmentation="combination", geometry=CIFAR_GEOMETRY)
    student_rows: dict[str, dict[str, dict[str, float]]] = {mode: {} for mode in MODES}
    for seed in (1, 2):
        for mode in MODES:
            _, row = train_and_score("alexnet-half", dataset.train_images[fewshot], soft_labels,
                                     student_recipe, seed, mode, test)
            student_rows[mode][f"seed{seed}"] = row
            print(f"student alexnet-half seed {seed} {mode}: {row}", flush=True)
    precision.configure("fp32")

    def mean_accuracy(mode: str) -> float:
        return float(np.mean([r["accuracy"] for r in student_rows[mode].values()]))

    summary = {
        "teacher_accuracy_gap_bf16_minus_fp32": round(
            teacher_rows["bf16"]["accuracy"] - teacher_rows["fp32"]["accuracy"], 4),
        "student_mean_accuracy_gap_bf16_minus_fp32": round(
            mean_accuracy("bf16") - mean_accuracy("fp32"), 4),
        "student_seed_spread_fp32": round(abs(student_rows["fp32"]["seed1"]["accuracy"]
                                              - student_rows["fp32"]["seed2"]["accuracy"]), 4),
    }
    print(json.dumps(summary, indent=2))
    target = HERE / "results" / "precision_check.json"
    target.write_text(json.dumps({
        "what": "fp32 vs bf16 autocast + channels-last, same seeds and data",
        "data": f"cifar10 from {args.data_dir or 'the default search'}",
        "teacher": {"arch": "alexnet", "train_images": args.teacher_images,
                    "epochs": args.teacher_epochs, "batch": 128, **teacher_rows},
        "student": {"arch": "alexnet-half", "n_fewshot": 2000, "labels": "fp32 teacher's",
                    "epochs": args.student_epochs, "batch": 128, **student_rows},
        "summary": summary,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "machine": {"platform": platform.platform(), "torch": torch.__version__,
                    "threads": torch.get_num_threads()},
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }, indent=2) + "\n")
    print(f"written to {target}")


if __name__ == "__main__":
    main()
