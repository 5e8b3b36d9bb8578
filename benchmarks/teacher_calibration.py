"""Does the teacher's calibration move what an FS-BBT student learns?

    python benchmarks/teacher_calibration.py configs/cifar10.yaml --run runs/cifar10 \
        --data-dir <cifar10-jpeg> [--seed 1] [--arch alexnet] [--work-dir DIR]

``benchmarks/teacher_statistics.py`` showed that where the teacher's batch-norm statistics
are measured barely moves its accuracy but clearly moves its soft labels: measured on the
plain training split, the teacher is overconfident (test NLL 0.64 → 1.00). This asks
whether that reaches the student. It rebuilds the seed's synthetic set exactly as the run
did (proved by the run's ledger answering every image, so nothing is sent; the ledger is
copied, the run is never written to), lets the plain-statistics teacher answer the same
images, and trains the run's student recipe on those answers. Only the soft targets
differ between the two arms: the images, the CVAE (trained on the saved teacher's labels),
the recipe and the seed are the run's. Both students are scored on 5,000 training images
outside the few-shot draw, where a choice between the teachers would be made, and on the
test split, which is only reported. Writes benchmarks/results/teacher_calibration-<dataset>.json.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from run_setup import (
    config_and_dataset,
    finished_fsbbt_stage,
    plain_statistics_teacher,
    run_parser,
    seed_context,
    validation_indices,
)

from fsbbt.errors import FsbbtError
from fsbbt.methods.fsbbt import run_fsbbt, synthetic_set_for
from fsbbt.ship import load_student
from fsbbt.teacher import LocalTeacher, QueryOracle
from fsbbt.teacher.ledger import LEDGER_FILE
from fsbbt.train import evaluate_classifier, precision
from fsbbt.train.evaluate import predict_probabilities

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = run_parser(__doc__.splitlines()[0],
                        "a run of the config: its teacher, ledger, finished stages and students",
                        "alexnet")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="where the student checkpoints each epoch (resumes from it)")
    args = parser.parse_args()

    config, dataset = config_and_dataset(args.config, args.data_dir)
    key = f"fsbbt/{args.arch}"
    run_arm = finished_fsbbt_stage(args.run, config, args.arch, args.seed)
    if run_arm is None:
        raise FsbbtError(f"{args.run} has no finished {key} stage for seed {args.seed} with "
                         "this config; run it first")
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="teacher_calibration-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(args.run / LEDGER_FILE, work_dir / LEDGER_FILE)
    oracle = QueryOracle.keeping_answers_in(work_dir, LocalTeacher(args.run / "teacher"),
                                            config.query_batch_size)
    context = seed_context(config, dataset, oracle, args.seed,
                           checkpoint=work_dir / f"seed{args.seed}-{args.arch}-plain.ckpt")

    started = time.perf_counter()
    synthetic = synthetic_set_for(context)
    if oracle.queries_sent:
        raise FsbbtError(f"the rebuilt synthetic set sent {oracle.queries_sent} new queries, so "
                         "it differs from the run's; this comparison needs the same images")
    rebuild_seconds = time.perf_counter() - started
    plain_teacher = plain_statistics_teacher(args.run, dataset)
    plain_probs = predict_probabilities(plain_teacher, synthetic.images_uint8,
                                        mode=precision.FP32)  # as the black box answers
    context.shared = {shared: (dataclasses.replace(value, teacher_probs=plain_probs)
                               if value is synthetic else value)
                      for shared, value in context.shared.items()}
    outcome = run_fsbbt(context, args.arch)

    validation = validation_indices(config, dataset, args.seed)
    run_student, _ = load_student(args.run / "students" / f"fsbbt__{args.arch}__seed{args.seed}.pt")
    arms = {"training-style batches (run's)": (run_student, synthetic.teacher_probs),
            "plain training split": (outcome.student, plain_probs)}
    rows = {}
    for name, (student, targets) in arms.items():
        on_validation = evaluate_classifier(student, dataset.train_images[validation],
                                            dataset.train_labels[validation], dataset.num_classes)
        on_test = evaluate_classifier(student, dataset.test_images, dataset.test_labels,
                                      dataset.num_classes)
        rows[name] = {"targets_mean_top1": round(float(targets.max(axis=1).mean()), 4),
                      "validation_accuracy": round(on_validation.accuracy, 4),
                      "test_accuracy": round(on_test.accuracy, 4),
                      "test_macro_f1": round(on_test.macro_f1, 4)}

    table = Table(title=f"{config.dataset} {key} seed {args.seed}: the same images, soft "
                        "targets from the teacher with statistics measured on …")
    for header in ("teacher statistics", "targets' mean top-1", "validation %", "test %",
                   "test macro-F1 %"):
        table.add_column(header, justify="left" if header == "teacher statistics" else "right")
    for name, row in rows.items():
        table.add_row(name, f"{row['targets_mean_top1']:.3f}",
                      f"{100 * row['validation_accuracy']:.2f}",
                      f"{100 * row['test_accuracy']:.2f}", f"{100 * row['test_macro_f1']:.2f}")
    Console(width=120).print(table)
    result = {"run": str(args.run), "seed": args.seed, "student": key,
              "validation_images": len(validation), "rows": rows,
              "rebuild_seconds": round(rebuild_seconds, 1),
              "train_seconds": round(outcome.history.seconds, 1),
              "seconds": round(time.perf_counter() - started, 1)}
    target = HERE / "results" / f"teacher_calibration-{config.dataset}.json"
    target.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {target}")


if __name__ == "__main__":
    main()
