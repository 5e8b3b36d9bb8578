"""How much does the reference code's CVAE gain from being trained on other real images?

    python benchmarks/reference_cvae_draw.py configs/fashion-mnist.yaml --run runs/fmnist \
        --seeds 1,2,3 --arch lenet5

In the authors' code the CVAE script draws its 200 images per class with
``np.random.seed(123)``, trains on them (minus a 5 % validation split) and saves the
decoder; every student run then loads that one decoder while drawing its own few images
with ``np.random.seed(run)``. So the reference's CVAE images come from a second,
independent draw of real images: the student's synthetic set carries information from
up to 2N real images, not N. method.md (and fsbbt) train the CVAE on the student's own
few images, as the few-shot setting requires.

This script measures the size of that difference and nothing else: per seed, it builds
FS-BBT's synthetic set exactly as ``fsbbt run`` does (same MixUp images, same sampling of
the CVAE, same teacher) except that the CVAE is trained on the class-balanced draw of
``--cvae-seed`` (labelled by the teacher, those queries not counted as the reference did
not count them), trains the student with the run's recipe and scores it on the test split.
It is an explanation of a gap to the paper, not a setting: fsbbt keeps the few-shot CVAE.
Prints the table and writes ``benchmarks/results/reference_cvae_draw-<dataset>.json``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from run_setup import config_and_dataset, fewshot_indices, finished_fsbbt_stage, run_parser, seed_context

from fsbbt.data import sample_fewshot_indices
from fsbbt.methods.fsbbt import cvae_recipe, cvae_shared_key, run_fsbbt
from fsbbt.synth import train_cvae
from fsbbt.teacher import LocalTeacher, QueryOracle
from fsbbt.train import evaluate_classifier

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = run_parser(__doc__.splitlines()[0],
                        "a run of the config: its teacher, and its finished stages to compare",
                        "lenet5")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--cvae-seed", type=int, default=123,
                        help="seed of the CVAE's own draw (the reference's is 123)")
    args = parser.parse_args()

    config, dataset = config_and_dataset(args.config, args.data_dir)
    oracle = QueryOracle(LocalTeacher(args.run / "teacher"))
    recipe = cvae_recipe(config)
    cvae_indices = sample_fewshot_indices(dataset.train_labels, config.n_fewshot,
                                          dataset.num_classes, args.cvae_seed)
    cvae_images = dataset.train_images[cvae_indices]
    cvae_labels = oracle.query(cvae_images, "label the CVAE's draw").argmax(axis=1)
    # The reference trains on the first 95 % (Keras' validation_split=0.05).
    cvae_train = slice(0, int(0.95 * len(cvae_indices)))
    key = f"fsbbt/{args.arch}"

    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        context = seed_context(config, dataset, oracle, seed)
        started = time.perf_counter()
        context.shared[cvae_shared_key(recipe)] = train_cvae(
            cvae_images[cvae_train], cvae_labels[cvae_train], dataset.num_classes, recipe,
            seed=seed)
        outcome = run_fsbbt(context, args.arch)
        scores = evaluate_classifier(outcome.student, dataset.test_images, dataset.test_labels,
                                     dataset.num_classes)
        own = finished_fsbbt_stage(args.run, config, args.arch, seed)
        overlap = np.isin(cvae_indices, fewshot_indices(config, dataset, seed)).sum()
        rows.append({"seed": seed, "overlap_with_fewshot": int(overlap),
                     "own_draw_accuracy": None if own is None else own.accuracy,
                     "other_draw_accuracy": round(scores.accuracy, 4),
                     "seconds": round(time.perf_counter() - started, 1)})
        print(rows[-1], flush=True)

    table = Table(title=f"{config.dataset} {key}: test accuracy % with the CVAE trained on "
                        f"the few images (fsbbt) and on the draw of seed {args.cvae_seed} "
                        "(reference code)")
    for header in ("seed", "own draw (run)", "other draw", "shared images", "s"):
        table.add_column(header, justify="right")
    for row in rows:
        own = row["own_draw_accuracy"]
        table.add_row(str(row["seed"]), "—" if own is None else f"{100 * own:.2f}",
                      f"{100 * row['other_draw_accuracy']:.2f}",
                      str(row["overlap_with_fewshot"]), f"{row['seconds']:.0f}")
    Console(width=120).print(table)
    target = HERE / "results" / f"reference_cvae_draw-{config.dataset}.json"
    target.write_text(json.dumps({"run": str(args.run), "student": key,
                                  "cvae_seed": args.cvae_seed, "rows": rows}, indent=2) + "\n")
    print(f"written to {target}")


if __name__ == "__main__":
    main()
