"""The one training loop for every classifier: teachers, students, all methods.

It knows nothing about distillation: it fits a network to (uint8 images, soft
targets) with soft-target cross-entropy. A hard label is a one-hot target.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fsbbt import progress
from fsbbt.train.augment import (
    GREY_GEOMETRY,
    AugmentationMode,
    GeometricRange,
    mix_with_random_batch,
    random_affine,
)
from fsbbt.train.tensors import uint8_to_float


@dataclass(frozen=True)
class TrainRecipe:
    """How to train: the paper's knobs, nothing method-specific."""

    epochs: int
    batch_size: int
    lr: float = 1e-3
    augmentation: AugmentationMode = "none"
    geometry: GeometricRange = GREY_GEOMETRY
    mix_alpha: float = 1.0


@dataclass
class TrainHistory:
    """What happened during training, for curves and the results table."""

    epoch_loss: list[float] = field(default_factory=list)
    eval_epochs: list[int] = field(default_factory=list)
    eval_accuracy: list[float] = field(default_factory=list)
    seconds: float = 0.0
    images_per_second: float = 0.0


def fit_classifier(model: nn.Module, images_uint8: np.ndarray, targets: np.ndarray,
                   recipe: TrainRecipe, seed: int, description: str = "train",
                   evaluate: Callable[[nn.Module], float] | None = None,
                   eval_every: int = 0) -> TrainHistory:
    """Train ``model`` in place on ``images_uint8`` against soft ``targets`` (rows sum to 1).

    Adam at ``recipe.lr``; each epoch is one shuffled pass in mini-batches. ``evaluate``
    (e.g. test accuracy) is called every ``eval_every`` epochs and after the last, for
    the training curves only: the returned model is always the last epoch's.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    all_images = uint8_to_float(images_uint8)
    all_targets = torch.as_tensor(targets, dtype=torch.float32)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    n = len(all_images)
    steps_per_epoch = max(1, -(-n // recipe.batch_size))
    history = TrainHistory()
    started = time.perf_counter()
    model.train()
    with progress.bar(description, recipe.epochs * steps_per_epoch, "step") as train_bar:
        for epoch in range(1, recipe.epochs + 1):
            order = torch.from_numpy(rng.permutation(n))
            loss_sum = 0.0
            for step in range(steps_per_epoch):
                index = order[step * recipe.batch_size:(step + 1) * recipe.batch_size]
                batch_images, batch_targets = all_images[index], all_targets[index]
                if recipe.augmentation == "combination":
                    batch_images, batch_targets = mix_with_random_batch(
                        batch_images, batch_targets, all_images, all_targets, rng, recipe.mix_alpha)
                if recipe.augmentation in ("standard", "combination"):
                    batch_images = random_affine(batch_images, rng, recipe.geometry)
                loss = F.cross_entropy(model(batch_images), batch_targets)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += loss.item() * len(index)
                train_bar.advance(1)
            history.epoch_loss.append(loss_sum / n)
            if evaluate is not None and eval_every and (
                    epoch % eval_every == 0 or epoch == recipe.epochs):
                history.eval_epochs.append(epoch)
                history.eval_accuracy.append(evaluate(model))
                model.train()
            train_bar.advance(0, epoch=epoch, loss=history.epoch_loss[-1])
    history.seconds = time.perf_counter() - started
    history.images_per_second = recipe.epochs * n / max(history.seconds, 1e-9)
    model.eval()
    return history
