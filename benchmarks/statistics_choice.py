"""Which images should a student's saved batch-norm statistics be measured on?

    python benchmarks/statistics_choice.py configs/cifar10.yaml RUN_DIR alexnet-half \
        --data-dir <cifar10-jpeg>

The development experiment behind ``student.batch_norm_statistics`` (README, "Reading of
the paper"). It scores the seed-1 FS-BBT student of a run of CONFIG on 5,000 training
images outside the few-shot draw (a validation split, never the test split) after
measuring its statistics on: the few images + the seed's MixUp images in training
batches (the config's augmentation), the same without batch mixing, the few real images
shifted and flipped, and the few real images as they are. The CVAE images are left out
(rebuilding them means training the CVAE again); their effect is the first two rows'
difference. Writes benchmarks/results/statistics_choice-<arch>.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from run_setup import config_and_dataset, fewshot_indices, validation_indices

from fsbbt.core import precision
from fsbbt.core.tensors import uint8_to_float
from fsbbt.methods.base import student_recipe
from fsbbt.methods.fsbbt import seed_mixup
from fsbbt.ship import load_student
from fsbbt.train import evaluate_classifier
from fsbbt.train.augment import AugmentationMode
from fsbbt.train.batch_norm import measure_statistics
from fsbbt.train.loop import epoch_batches, measure_statistics_on_images

HERE = Path(__file__).resolve().parent
SEED = 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("run", type=Path)
    parser.add_argument("arch")
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()

    config, dataset = config_and_dataset(args.config, args.data_dir)
    validation = validation_indices(config, dataset, SEED)
    few = dataset.train_images[fewshot_indices(config, dataset, SEED)]
    mixup = seed_mixup(few, config.synthesis, config.synthesis.budget, SEED)
    model, _ = load_student(args.run / "students" / f"fsbbt__{args.arch}__seed{SEED}.pt")
    device = torch.device("cpu")
    mode = precision.mode_for(device)
    precision.prepare_model(model, mode)
    recipe = student_recipe(config, dataset.input_shape[0])

    def training_style(images: np.ndarray, augmentation: AugmentationMode
                       ) -> Iterator[torch.Tensor]:
        """One more epoch of training batches of ``images`` (targets do not matter here)."""
        tensors = precision.prepare_images(uint8_to_float(images), mode)
        targets = torch.full((len(images), dataset.num_classes), 1 / dataset.num_classes)
        changed = dataclasses.replace(recipe, augmentation=augmentation)
        return (batch for batch, _ in epoch_batches(tensors, targets, changed, SEED,
                                                    recipe.epochs + 1, mode))

    def accuracy() -> float:
        scores = evaluate_classifier(model, dataset.train_images[validation],
                                     dataset.train_labels[validation], dataset.num_classes)
        return round(scores.accuracy * 100, 2)

    row = {f"saved ({recipe.augmentation} batches incl. CVAE)": accuracy()}
    train_set = np.concatenate([few, mixup.images_uint8])
    for name, images, augmentation in [
            (f"few+mixup, {recipe.augmentation}", train_set, recipe.augmentation),
            ("few+mixup, no batch mixing", train_set, "standard"),
            ("few real only, geometric", few, "standard")]:
        measure_statistics(model, training_style(images, augmentation),
                           lambda: precision.autocast(mode, device))
        row[name] = accuracy()
        print(name, row[name], flush=True)
    measure_statistics_on_images(model, few, recipe.batch_size)  # what training now does
    row["few real only, none"] = accuracy()
    print("few real only, none", row["few real only, none"], flush=True)
    target = HERE / "results" / f"statistics_choice-{args.arch}.json"
    target.write_text(json.dumps({"run": str(args.run), "validation_accuracy": row},
                                 indent=2) + "\n")
    print(f"written to {target}")


if __name__ == "__main__":
    main()
