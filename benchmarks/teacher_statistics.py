"""Would the teacher answer differently with batch-norm statistics of its plain images?

    python benchmarks/teacher_statistics.py configs/cifar10.yaml --run runs/cifar10 \
        --data-dir <cifar10-jpeg> [--seed 1]

A trained teacher is saved with statistics measured on one more epoch of training-style
(shifted, flipped) batches (train/batch_norm.py); a student's are measured on its real
images as they are. This asks whether the teacher's choice matters for what students learn:
it measures the run's teacher's statistics again on the training split as it is and
compares the two versions' answers, as the black box gives them (float32), on the test
split (accuracy, macro-F1, mean negative log-likelihood of the true class) and on the
images a seed's FS-BBT queries apart from the CVAE's: its few images and MixUp images
(top-1 agreement, mean total-variation distance between the probability vectors).
Writes benchmarks/results/teacher_statistics-<dataset>.json; the run is only read.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from run_setup import config_and_dataset, fewshot_indices, plain_statistics_teacher, run_parser

from fsbbt.core import precision
from fsbbt.methods.fsbbt import seed_mixup
from fsbbt.teacher.local import load_teacher_network
from fsbbt.train.evaluate import predict_probabilities, score_predictions

HERE = Path(__file__).resolve().parent


def test_scores(probabilities: np.ndarray, labels: np.ndarray, num_classes: int) -> dict:
    """Accuracy and macro-F1 say how often the top answer is right; the mean negative
    log-likelihood of the true class also says how well the probabilities a student
    learns from are calibrated."""
    scores = score_predictions(probabilities.argmax(axis=1), labels, num_classes)
    true_class = probabilities[np.arange(len(labels)), labels]
    return {"accuracy": round(scores.accuracy, 4), "macro_f1": round(scores.macro_f1, 4),
            "mean_nll": round(float(-np.log(np.clip(true_class, 1e-12, None)).mean()), 4)}


def answer_difference(first: np.ndarray, second: np.ndarray) -> dict:
    """How far two teachers' answers on the same images are from each other."""
    return {"top1_agreement": round(float(np.mean(first.argmax(1) == second.argmax(1))), 4),
            "mean_total_variation": round(float(0.5 * np.abs(first - second).sum(1).mean()), 4)}


def main() -> None:
    parser = run_parser(__doc__.splitlines()[0], "the run whose teacher is compared")
    parser.add_argument("--seed", type=int, default=1, help="whose few + MixUp images to use")
    args = parser.parse_args()
    config, dataset = config_and_dataset(args.config, args.data_dir)

    saved, metadata = load_teacher_network(args.run / "teacher")
    plain, _ = plain_statistics_teacher(args.run, dataset)

    few = dataset.train_images[fewshot_indices(config, dataset, args.seed)]
    mixup = seed_mixup(few, config.synthesis, config.synthesis.budget, args.seed).images_uint8
    queried = np.concatenate([few, mixup])
    answers = {name: {"test": predict_probabilities(model, dataset.test_images,
                                                     mode=precision.FP32),
                      "queried": predict_probabilities(model, queried, mode=precision.FP32)}
               for name, model in (("training-style batches", saved),
                                   ("plain training split", plain))}
    rows = {name: test_scores(answer["test"], dataset.test_labels, dataset.num_classes)
            for name, answer in answers.items()}
    first, second = answers.values()
    difference = {"test": answer_difference(first["test"], second["test"]),
                  "queried": answer_difference(first["queried"], second["queried"]),
                  "queried_images": len(queried)}

    table = Table(title=f"{config.dataset} teacher ({metadata.arch}) by where its batch-norm "
                        "statistics are measured")
    for header in ("statistics measured on", "test accuracy %", "macro-F1 %", "mean NLL"):
        table.add_column(header, justify="left" if header.startswith("statistics") else "right")
    for name, row in rows.items():
        table.add_row(name, f"{100 * row['accuracy']:.2f}", f"{100 * row['macro_f1']:.2f}",
                      f"{row['mean_nll']:.4f}")
    console = Console(width=120)
    console.print(table)
    for split in ("test", "queried"):
        console.print(f"{split}: top-1 agreement {100 * difference[split]['top1_agreement']:.2f} %,"
                      f" mean total-variation distance {difference[split]['mean_total_variation']}")
    target = HERE / "results" / f"teacher_statistics-{config.dataset}.json"
    target.write_text(json.dumps({"run": str(args.run), "seed": args.seed,
                                  "teacher": rows, "difference": difference}, indent=2) + "\n")
    print(f"written to {target}")


if __name__ == "__main__":
    main()
