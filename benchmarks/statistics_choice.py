"""Which images should a student's saved batch-norm statistics be measured on?

    python benchmarks/statistics_choice.py RUN_DIR alexnet-half --data-dir <cifar10-jpeg>

The development experiment behind ``student.batch_norm_statistics`` (README, "Reading of
the paper"). It scores the seed-1 FS-BBT student of a CIFAR-10 run on 5,000 training
images outside the few-shot draw (a validation split, never the test split) after
measuring its statistics on: the few images + the seed's MixUp images in training
batches (combination), the same without batch mixing, the few real images shifted and
flipped, and the few real images as they are. The CVAE images are left out (rebuilding
them means training the CVAE again); their effect is the first two rows' difference.
Writes benchmarks/results/statistics_choice-<arch>.json.
"""
import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import torch

from fsbbt.data import load_dataset, sample_fewshot_indices
from fsbbt.models.saved import load_network
from fsbbt.synth import mixup_from_fewshot
from fsbbt.train import loop, precision
from fsbbt.train.augment import geometry_for
from fsbbt.train.batch_norm import measure_statistics
from fsbbt.train.evaluate import evaluate_classifier
from fsbbt.train.tensors import uint8_to_float

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("run", type=Path)
parser.add_argument("arch")
parser.add_argument("--data-dir", type=Path, required=True)
args = parser.parse_args()
run, arch = args.run, args.arch
ds = load_dataset("image-folder", args.data_dir)
idx = sample_fewshot_indices(ds.train_labels, 2000, 10, 1)
rest = np.setdiff1d(np.arange(len(ds.train_labels)), idx)
val = np.random.default_rng(123).choice(rest, 5000, replace=False)
val_x, val_y = ds.train_images[val], ds.train_labels[val]
few = ds.train_images[idx]
mix = mixup_from_fewshot(few, 40000, 1.0, 0.05, np.random.default_rng([1, 1]))
mode = precision.mode_for(torch.device("cpu"))
base = loop.TrainRecipe(epochs=100, batch_size=128, augmentation="combination",
                        geometry=geometry_for("auto", 3))


def batches(images, augmentation):
    x = precision.prepare_images(uint8_to_float(images), mode)
    t = torch.full((len(images), 10), 0.1)
    recipe = dataclasses.replace(base, augmentation=augmentation)
    return (batch for batch, _ in loop._epoch_batches(x, t, recipe, 1, 101, mode))

weights = run / "students" / f"fsbbt__{arch}__seed1.pt"
model = precision.prepare_model(load_network(arch, (3, 32, 32), 10, weights, what="the student",
                                             fix="give a CIFAR-10 run folder"), mode)


def acc() -> float:
    return round(evaluate_classifier(model, val_x, val_y, 10).accuracy * 100, 2)


row = {"saved (combination batches incl. CVAE)": acc()}
train_set = np.concatenate([few, mix.images_uint8])
for name, images, aug in [("few+mixup, combination", train_set, "combination"),
                          ("few+mixup, no batch mixing", train_set, "standard"),
                          ("few real only, geometric", few, "standard"),
                          ("few real only, none", few, "none")]:
    measure_statistics(model, batches(images, aug), lambda: precision.autocast(mode, torch.device("cpu")))
    row[name] = acc()
    print(name, row[name], flush=True)
target = Path(__file__).resolve().parent / "results" / f"statistics_choice-{arch}.json"
target.write_text(json.dumps({"run": str(run), "validation_accuracy": row}, indent=2) + "\n")
print(f"written to {target}")
