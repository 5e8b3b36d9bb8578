"""The conditional VAE of FS-BBT: trained on the few images with the teacher's top-1
labels, then sampled with class-balanced conditions (docs/method.md, steps 2 and 4).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn

from fsbbt.config.schema import Strict
from fsbbt.core import precision
from fsbbt.core.tensors import float_to_uint8, one_hot
from fsbbt.models import build_cvae
from fsbbt.models.cvae_base import cvae_loss
from fsbbt.train.loop import TrainRecipe, fit_network

LatentSampling = Literal["gaussian", "uniform", "hybrid"]
UNIFORM_RANGE = 3.0


class CvaeConfig(Strict):
    """The config's ``cvae`` section: the network, its training recipe, how it is sampled."""

    kind: Literal["mlp", "conv"] = "mlp"
    latent_dim: int = Field(2, ge=1)
    epochs: int = Field(200, ge=1)
    batch_size: int = Field(256, ge=1)
    lr: float = Field(1e-3, gt=0)
    sampling: LatentSampling = "hybrid"


def _reconstruction_and_kl(
    model: nn.Module,
    images: torch.Tensor,
    conditions: torch.Tensor,
    mode: precision.ComputeMode,
    device: torch.device,
) -> torch.Tensor:
    """The CVAE's objective for the training loop: the network in the process's
    precision, the loss in float32 (:func:`~fsbbt.models.cvae_base.cvae_loss`)."""
    with precision.autocast(mode, device):
        reconstruction, mean, log_var = model(images, conditions)
    return cvae_loss(reconstruction, images, mean, log_var)


def train_cvae(
    images_uint8: np.ndarray, teacher_labels: np.ndarray, num_classes: int, settings: CvaeConfig, seed: int
) -> nn.Module:
    """Fit a CVAE to the few images conditioned on ``teacher_labels`` (never the true labels).

    Trained by the one training loop (:func:`~fsbbt.train.loop.fit_network`): shuffling,
    sharding across torchrun ranks, per-epoch seeding and precision are the classifiers'.
    The model comes back on the CPU, where sampling happens.
    """
    torch.manual_seed(seed)  # the initial weights; DDP copies rank 0's to every rank
    model = build_cvae(settings.kind, tuple(images_uint8.shape[1:]), num_classes, settings.latent_dim)
    recipe = TrainRecipe(epochs=settings.epochs, batch_size=settings.batch_size, lr=settings.lr)
    fit_network(
        model,
        images_uint8,
        one_hot(teacher_labels, num_classes),
        recipe,
        seed,
        _reconstruction_and_kl,
        "train CVAE",
    )
    return model


def draw_latents(
    count: int, latent_dim: int, sampling: LatentSampling, rng: np.random.Generator
) -> np.ndarray:
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
def sample_cvae(
    model: nn.Module, count: int, num_classes: int, sampling: LatentSampling, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` decoded images (uint8) and the class each was conditioned on."""
    latents = torch.from_numpy(draw_latents(count, model.latent_dim, sampling, rng))
    classes = balanced_conditions(count, num_classes, rng)
    # float32 on purpose: decoding a few thousand images is cheap, and bf16's 8-bit mantissa
    # would shift pixels by a grey level before they are quantised and sent to the teacher
    decoded = model.decode(latents, torch.from_numpy(one_hot(classes, num_classes)))
    return float_to_uint8(decoded), classes
