"""The conditional VAE of FS-BBT: trained on the few images with the teacher's top-1 labels,
then sampled with class-balanced conditions (steps 2 and 4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

from fsbbt.core import distributed, precision, progress
from fsbbt.core.tensors import float_to_uint8, one_hot, uint8_to_float
from fsbbt.models import build_cvae
from fsbbt.models.cvae_base import cvae_loss
from fsbbt.train.loop import epoch_generators

LatentSampling = Literal["gaussian", "uniform", "hybrid"]
UNIFORM_RANGE = 3.0


@dataclass(frozen=True)
class CvaeRecipe:
    kind: str = "mlp"
    latent_dim: int = 2
    epochs: int = 200
    batch_size: int = 256
    lr: float = 1e-3


def train_cvae(images_uint8: np.ndarray, teacher_labels: np.ndarray, num_classes: int,
               recipe: CvaeRecipe, seed: int) -> nn.Module:
    """Fit a CVAE to the few images conditioned on ``teacher_labels`` (never the true labels).

    Shuffling, sharding across torchrun ranks and per-epoch seeding are the classifier
    loop's (:func:`~fsbbt.train.loop.epoch_generators`), so the CVAE scales out the same way.
    Training runs in this process's precision (:mod:`fsbbt.core.precision`). The model
    comes back on the CPU, where sampling happens.
    """
    torch.manual_seed(seed)  # the initial weights; DDP copies rank 0's to every rank
    device = distributed.current().device
    mode = precision.mode_for(device)
    images = precision.prepare_images(uint8_to_float(images_uint8).to(device), mode)
    conditions = torch.from_numpy(one_hot(teacher_labels, num_classes)).to(device)
    model = build_cvae(recipe.kind, tuple(images.shape[1:]), num_classes, recipe.latent_dim)
    trained_model = distributed.wrap_model(precision.prepare_model(model, mode))
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    scaler = precision.grad_scaler(mode, device)
    n = len(images)
    trained_model.train()
    with progress.bar("train CVAE", recipe.epochs, "epoch") as cvae_bar:
        for epoch in range(1, recipe.epochs + 1):
            order_rng, _ = epoch_generators(seed, epoch)
            loss_sum, seen = 0.0, 0
            for index_array in distributed.rank_batches(order_rng.permutation(n),
                                                        recipe.batch_size):
                index = torch.from_numpy(index_array).to(device)
                with precision.autocast(mode, device):
                    reconstruction, mean, log_var = trained_model(images[index],
                                                                  conditions[index])
                loss = cvae_loss(reconstruction, images[index], mean, log_var)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                loss_sum += loss.item() * len(index)
                seen += len(index)
            cvae_bar.advance(1, loss=distributed.sum_over_ranks(loss_sum)
                             / distributed.sum_over_ranks(seen))
    return model.to("cpu").eval()


def draw_latents(count: int, latent_dim: int, sampling: LatentSampling,
                 rng: np.random.Generator) -> np.ndarray:
    """Latent codes: N(0, I), Uniform(−3, 3)^d, or half of each ("hybrid", the paper's)."""
    gaussian = rng.standard_normal((count, latent_dim))
    uniform = rng.uniform(-UNIFORM_RANGE, UNIFORM_RANGE, (count, latent_dim))
    if sampling == "gaussian":
        return gaussian.astype(np.float32)
    if sampling == "uniform":
        return uniform.astype(np.float32)
    half = count // 2
    return np.concatenate([gaussian[:half], uniform[half:]]).astype(np.float32)


def balanced_conditions(count: int, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` class indices, count/C of each (the first count mod C classes get one more)."""
    return rng.permutation(np.arange(count) % num_classes)


@torch.no_grad()
def sample_cvae(model: nn.Module, count: int, num_classes: int, sampling: LatentSampling,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``count`` decoded images (uint8) and the class each was conditioned on."""
    latents = torch.from_numpy(draw_latents(count, model.latent_dim, sampling, rng))
    classes = balanced_conditions(count, num_classes, rng)
    # float32 on purpose: decoding a few thousand images is cheap, and bf16's 8-bit mantissa
    # would shift pixels by a grey level before they are quantised and sent to the teacher
    decoded = model.decode(latents, torch.from_numpy(one_hot(classes, num_classes)))
    return float_to_uint8(decoded), classes
