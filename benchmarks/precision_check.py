"""Does bf16 cost accuracy? Same seeds, same data, fp32 vs bf16 (autocast + channels-last).

    python benchmarks/precision_check.py --data-dir /tmp/cifar10-jpeg [--threads 2]

* teacher: AlexNet on a class-balanced 10,000-image subset of the CIFAR-10 training
  split, 4 epochs (batch 128, shift/flip augmentation), seeds 0 and 1, test accuracy on
  all 10,000 test images, each model evaluated in the precision it was trained in;
* student: AlexNet-half on N = 2,000 few-shot images labelled by the fp32 seed-0 teacher
  (Standard-KD's data, the preset's combination augmentation), 15 epochs, batch 128,
  seeds 1 and 2.

Runs this short sit early on the learning curve, where test accuracy still swings by
points from one epoch or seed to the next; read the fp32-vs-bf16 gap against the
seed-to-seed spread within fp32, and the final training losses, which the noise of
evaluation does not touch. Writes benchmarks/results/precision_check.json and prints the
numbers. ~4 minutes on 2 cores with bf16 support.
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

from fsbbt.core import precision, progress
from fsbbt.core.tensors import one_hot
from fsbbt.data import load_dataset, sample_fewshot_indices
from fsbbt.models import build_classifier
from fsbbt.train import TrainRecipe, evaluate_classifier, fit_classifier
from fsbbt.train.augment import CIFAR_GEOMETRY
from fsbbt.train.evaluate import predict_probabilities

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
    parser.add_argument("--teacher-epochs", type=int, default=4)
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
    teachers: dict[str, torch.nn.Module] = {}
    teacher_rows: dict[str, dict[str, dict[str, float]]] = {mode: {} for mode in MODES}
    for seed in (0, 1):
        for mode in MODES:
            model, row = train_and_score(
                "alexnet", dataset.train_images[subset], one_hot(dataset.train_labels[subset], 10),
                teacher_recipe, seed, mode, test)
            teacher_rows[mode][f"seed{seed}"] = row
            teachers.setdefault(mode, model)  # seed 0's
            print(f"teacher alexnet seed {seed} {mode}: {row}", flush=True)

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

    def compare(rows: dict[str, dict[str, dict[str, float]]]) -> dict[str, float]:
        def mean(mode: str, key: str) -> float:
            return float(np.mean([r[key] for r in rows[mode].values()]))

        fp32_accuracies = [r["accuracy"] for r in rows["fp32"].values()]
        return {"fp32_mean_accuracy": round(mean("fp32", "accuracy"), 4),
                "bf16_mean_accuracy": round(mean("bf16", "accuracy"), 4),
                "accuracy_gap_bf16_minus_fp32": round(mean("bf16", "accuracy")
                                                      - mean("fp32", "accuracy"), 4),
                "fp32_seed_spread": round(max(fp32_accuracies) - min(fp32_accuracies), 4),
                "fp32_mean_final_loss": round(mean("fp32", "final_loss"), 4),
                "bf16_mean_final_loss": round(mean("bf16", "final_loss"), 4),
                "bf16_speedup": round(mean("bf16", "images_per_second")
                                      / mean("fp32", "images_per_second"), 2)}

    summary = {"teacher": compare(teacher_rows), "student": compare(student_rows)}
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
