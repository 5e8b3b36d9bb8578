"""Give the students of an earlier run the batch-norm statistics today's code saves.

    python benchmarks/remeasure_statistics.py configs/cifar10.yaml --run runs/cifar10 --data-dir DIR

Training never depends on how the saved statistics are measured (that happens after the
last step), so a student's weights from a run made before ``student.batch_norm_statistics``
existed are the weights a fresh run trains. Measuring their statistics with the same
library function a fresh run calls (``measure_statistics_on_images``, on the seed's N few
images) and scoring on the test split gives the numbers a fresh run reports, without
retraining. Prints both and writes ``benchmarks/results/remeasure-<dataset>.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table
from run_setup import config_and_dataset, run_parser

from fsbbt.data import sample_fewshot_indices
from fsbbt.ship import load_student
from fsbbt.train import evaluate_classifier
from fsbbt.train.loop import measure_statistics_on_images

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = run_parser(__doc__.splitlines()[0], "the earlier run's --out folder")
    args = parser.parse_args()

    config, dataset = config_and_dataset(args.config, args.data_dir)
    rows = []
    for sidecar in sorted((args.run / "students").glob("*.json")):
        student, info = load_student(sidecar.with_suffix(".pt"))
        fewshot = sample_fewshot_indices(dataset.train_labels, config.n_fewshot,
                                         dataset.num_classes, info.seed)
        measure_statistics_on_images(student, dataset.train_images[fewshot],
                                     config.student.batch_size)
        scores = evaluate_classifier(student, dataset.test_images, dataset.test_labels,
                                     dataset.num_classes)
        rows.append({"student": f"{info.method}/{info.arch}", "seed": info.seed,
                     "saved_accuracy": info.test_accuracy,
                     "remeasured_accuracy": round(scores.accuracy, 4),
                     "remeasured_macro_f1": round(scores.macro_f1, 4)})

    table = Table(title=f"{config.dataset}: test accuracy % with the run's saved statistics "
                        "and with statistics measured on the few real images")
    for header in ("student", "seed", "saved", "measured on real"):
        table.add_column(header, justify="left" if header == "student" else "right")
    for row in rows:
        table.add_row(row["student"], str(row["seed"]), f"{100 * row['saved_accuracy']:.2f}",
                      f"{100 * row['remeasured_accuracy']:.2f}")
    Console(width=120).print(table)
    target = HERE / "results" / f"remeasure-{config.dataset}.json"
    target.write_text(json.dumps({"run": str(args.run), "rows": rows}, indent=2) + "\n")
    print(f"written to {target}")


if __name__ == "__main__":
    main()
