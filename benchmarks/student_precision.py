"""Does bf16 cost a student accuracy over a whole paper-length training?

    python benchmarks/student_precision.py configs/cifar10.yaml --run runs/cifar10 \
        --seed 2 --arch alexnet --precision fp32 --data-dir <cifar10-jpeg>

``benchmarks/precision_check.py`` compares precisions on short trainings (a few epochs),
where seed-to-seed swings are several points. This script removes everything but the
precision: it rebuilds the seed's synthetic set in the run's precision, exactly as
``fsbbt run`` did (proved by the run's ledger answering every image, so no query is
sent), then trains the student with the run's recipe in ``--precision`` and scores it on
the test split in that precision. The run's own student of the same seed is the other
arm. The run's ledger and trained CVAE are copied first, so the run is never written to.
Prints the table and writes ``benchmarks/results/student_precision-<dataset>.json``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from run_setup import (
    config_and_dataset,
    copy_of_run,
    finished_fsbbt_stage,
    run_oracle,
    run_parser,
    seed_context,
)

from fsbbt.core import distributed, precision
from fsbbt.core.errors import FsbbtError
from fsbbt.methods.fsbbt import run_fsbbt, synthetic_set_for
from fsbbt.synth.cvae_store import CVAE_DIR
from fsbbt.train import evaluate_classifier

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = run_parser(__doc__.splitlines()[0],
                        "a run of the config: its teacher, ledger and finished stages", "alexnet")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"],
                        help="the student's training and evaluation precision")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="where the student checkpoints each epoch (resumes from it)")
    args = parser.parse_args()

    config, dataset = config_and_dataset(args.config, args.data_dir)
    work_dir = copy_of_run(args.run, args.work_dir, "student_precision-")
    oracle = run_oracle(args.run, config, work_dir)
    context = seed_context(config, dataset, oracle, args.seed,
                           checkpoint=work_dir / f"seed{args.seed}-{args.arch}.ckpt",
                           cvae_store=work_dir / CVAE_DIR)
    key = f"fsbbt/{args.arch}"
    run_arm = finished_fsbbt_stage(args.run, config, args.arch, args.seed)
    if run_arm is None:
        raise FsbbtError(f"{args.run} has no finished {key} stage for seed {args.seed} with "
                         "this config; run it first")

    started = time.perf_counter()
    run_mode = precision.mode_for(distributed.current().device).name  # what auto resolved to
    synthetic_set_for(context)
    if oracle.queries_sent:
        raise FsbbtError(f"the rebuilt synthetic set sent {oracle.queries_sent} new queries, so "
                         "it differs from the run's; this comparison needs the same images")
    precision.configure(args.precision)
    outcome = run_fsbbt(context, args.arch)
    scores = evaluate_classifier(outcome.student, dataset.test_images, dataset.test_labels,
                                 dataset.num_classes)
    row = {"student": key, "seed": args.seed,
           "run_precision": run_mode, "run_accuracy": run_arm.accuracy,
           "run_train_seconds": run_arm.train_seconds,
           "precision": args.precision, "accuracy": round(scores.accuracy, 4),
           "macro_f1": round(scores.macro_f1, 4),
           "train_seconds": round(outcome.history.seconds, 1),
           "answers_from_ledger": oracle.answers_from_ledger,
           "seconds": round(time.perf_counter() - started, 1)}

    table = Table(title=f"{config.dataset} {key} seed {args.seed}: the same synthetic set, "
                        "two student precisions")
    for header in ("precision", "test accuracy %", "training s"):
        table.add_column(header, justify="right")
    table.add_row(f"{run_mode} (run)", f"{100 * run_arm.accuracy:.2f}", f"{run_arm.train_seconds:.0f}")
    table.add_row(args.precision, f"{100 * row['accuracy']:.2f}", f"{row['train_seconds']:.0f}")
    Console(width=120).print(table)
    target = HERE / "results" / f"student_precision-{config.dataset}.json"
    rows = json.loads(target.read_text())["rows"] if target.is_file() else []
    rows = [r for r in rows if (r["student"], r["seed"], r["precision"])
            != (key, args.seed, args.precision)] + [row]
    target.write_text(json.dumps({"run": str(args.run), "rows": rows}, indent=2) + "\n")
    print(f"written to {target}")


if __name__ == "__main__":
    main()
