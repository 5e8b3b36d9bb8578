"""Does the teacher's calibration move what a student learns from it?

    python benchmarks/teacher_calibration.py configs/cifar10.yaml --run runs/cifar10 \
        --data-dir <cifar10-jpeg> [--method fsbbt|standard-kd] [--arch alexnet] [--seed 1] \
        [--work-dir DIR]

``benchmarks/teacher_statistics.py`` showed that where the teacher's batch-norm statistics
are measured barely moves its accuracy but clearly moves its soft labels: measured on the
plain training split, the teacher is overconfident (test NLL 0.64 → 1.00). This asks
whether that reaches the student: it trains the run's student recipe again with the
answers of that plain-statistics teacher (saved in the work directory as a teacher of its
own, answering in float32 like the black box) and scores it beside the run's student of
the same seed and method.

* ``fsbbt``: the seed's synthetic set is rebuilt exactly as the run built it (proved by
  the run's ledger answering every image, so nothing is sent; the ledger and the run's
  trained CVAE are copied, the run is never written to), and the plain-statistics
  teacher answers the same images.
  Only the soft targets differ: the images, the CVAE (trained on the saved teacher's
  labels), the recipe and the seed are the run's.
* ``standard-kd``: the plain-statistics teacher answers the seed's few images.

Both students are scored on 5,000 training images outside the few-shot draw, where a
choice between the teachers would be made, and on the test split, which is only reported.
Writes benchmarks/results/teacher_calibration-<dataset>-<method>-<arch>-seed<seed>.json.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from run_setup import (
    config_and_dataset,
    copy_of_run,
    plain_statistics_teacher,
    run_oracle,
    run_parser,
    seed_context,
    validation_indices,
)

from fsbbt.core.errors import FsbbtError
from fsbbt.data import ImageDataset
from fsbbt.methods import MethodContext, MethodOutcome
from fsbbt.methods.fsbbt import run_fsbbt, synthetic_set_for
from fsbbt.methods.standard_kd import run_standard_kd
from fsbbt.ship import load_student
from fsbbt.synth.cvae_store import CVAE_DIR
from fsbbt.teacher import LocalTeacher, QueryOracle
from fsbbt.teacher.local import METADATA_FILE, save_teacher
from fsbbt.train import evaluate_classifier

HERE = Path(__file__).resolve().parent
RUN_ARM = "training-style batches (run's)"
PLAIN_ARM = "plain training split"


def plain_teacher_in(work_dir: Path, run: Path, dataset: ImageDataset) -> LocalTeacher:
    """The plain-statistics teacher, measured once per work directory: measuring in bf16 is
    not bit-reproducible, so every seed studied in one directory sees the same teacher."""
    directory = work_dir / "plain-statistics-teacher"
    if not (directory / METADATA_FILE).is_file():
        network, metadata = plain_statistics_teacher(run, dataset)
        save_teacher(network, metadata, directory)
    return LocalTeacher(directory)


def fsbbt_arm(context: MethodContext, run_oracle: QueryOracle, plain_oracle: QueryOracle,
              arch: str) -> tuple[MethodOutcome, np.ndarray, np.ndarray]:
    """The run's synthetic set, re-answered by the plain-statistics teacher; the student, and
    the run's and the plain teacher's targets."""
    synthetic = synthetic_set_for(context)
    if run_oracle.queries_sent:
        raise FsbbtError(f"the rebuilt synthetic set sent {run_oracle.queries_sent} new queries, "
                         "so it differs from the run's; this comparison needs the same images")
    plain_probs = plain_oracle.query(synthetic.images_uint8, "plain-statistics teacher")
    context.shared = {key: (dataclasses.replace(value, teacher_probs=plain_probs)
                            if value is synthetic else value)
                      for key, value in context.shared.items()}
    return run_fsbbt(context, arch), synthetic.teacher_probs, plain_probs


def standard_kd_arm(context: MethodContext, run_oracle: QueryOracle, plain_oracle: QueryOracle,
                    arch: str) -> tuple[MethodOutcome, np.ndarray, np.ndarray]:
    """Standard-KD on the few images answered by the plain-statistics teacher."""
    few = context.fewshot.images_uint8
    run_probs = run_oracle.query(few, "the run's answers")
    if run_oracle.queries_sent:
        raise FsbbtError(f"the run's ledger lacks {run_oracle.queries_sent} of the seed's few "
                         "images; run the seed's standard-kd stage first")
    context.oracle = plain_oracle
    return run_standard_kd(context, arch), run_probs, plain_oracle.query(few)


ARMS = {"fsbbt": fsbbt_arm, "standard-kd": standard_kd_arm}


def main() -> None:
    parser = run_parser(__doc__.splitlines()[0],
                        "a run of the config: its teacher, ledger and students", "alexnet")
    parser.add_argument("--method", choices=sorted(ARMS), default="fsbbt")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="keeps the plain-statistics teacher and the student's per-epoch "
                             "checkpoint (resumes from it)")
    args = parser.parse_args()

    config, dataset = config_and_dataset(args.config, args.data_dir)
    key = f"{args.method}/{args.arch}"
    run_student_file = args.run / "students" / f"{args.method}__{args.arch}__seed{args.seed}.pt"
    if not run_student_file.is_file():
        raise FsbbtError(f"{args.run} has no {key} student for seed {args.seed}; run it first")
    work_dir = copy_of_run(args.run, args.work_dir, "teacher_calibration-")
    run_answers = run_oracle(args.run, config, work_dir)
    plain_oracle = QueryOracle(plain_teacher_in(work_dir, args.run, dataset),
                               config.query_batch_size)
    checkpoint = work_dir / f"seed{args.seed}-{args.method}-{args.arch}-plain.ckpt"
    context = seed_context(config, dataset, run_answers, args.seed, checkpoint=checkpoint,
                           cvae_store=work_dir / CVAE_DIR)

    started = time.perf_counter()
    outcome, run_targets, plain_targets = ARMS[args.method](context, run_answers, plain_oracle,
                                                            args.arch)
    run_student, _ = load_student(run_student_file)
    validation = validation_indices(config, dataset, args.seed)
    rows = {}
    for name, student, targets in ((RUN_ARM, run_student, run_targets),
                                   (PLAIN_ARM, outcome.student, plain_targets)):
        on_validation = evaluate_classifier(student, dataset.train_images[validation],
                                            dataset.train_labels[validation], dataset.num_classes)
        on_test = evaluate_classifier(student, dataset.test_images, dataset.test_labels,
                                      dataset.num_classes)
        rows[name] = {"targets_mean_top1": round(float(targets.max(axis=1).mean()), 4),
                      "validation_accuracy": round(on_validation.accuracy, 4),
                      "test_accuracy": round(on_test.accuracy, 4),
                      "test_macro_f1": round(on_test.macro_f1, 4)}

    table = Table(title=f"{config.dataset} {key} seed {args.seed}: the student's targets from "
                        "the teacher with statistics measured on …")
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
              "train_seconds": round(outcome.history.seconds, 1),
              "seconds": round(time.perf_counter() - started, 1)}
    target = (HERE / "results" /
              f"teacher_calibration-{config.dataset}-{args.method}-{args.arch}-seed{args.seed}.json")
    target.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {target}")


if __name__ == "__main__":
    main()
