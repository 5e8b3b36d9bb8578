"""A seed's trained CVAE, kept on disk so that nothing trains it twice.

The conv CVAE is the longest part of CIFAR synthesis (600 epochs, ~15 min on a 2-core
CPU). Without a copy on disk, a run killed while a student trains rebuilds its synthetic
set on resume and trains the CVAE again, and a benchmark that revisits a run's synthetic
set pays for it once more. The file is named by everything the trained weights depend
on (the few images, the teacher's labels for them, the recipe, the seed, the precision),
so a different draw, teacher or recipe never picks up a stale CVAE.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fsbbt.core import distributed, precision, progress
from fsbbt.core.errors import FsbbtError
from fsbbt.models import build_cvae
from fsbbt.synth.cvae import CvaeRecipe, train_cvae
from fsbbt.train.checkpoint import save_checkpoint

CVAE_DIR = "cvae"
"""The folder of a run directory that holds its seeds' trained CVAEs."""


def cvae_file(store: Path, images_uint8: np.ndarray, teacher_labels: np.ndarray,
              num_classes: int, recipe: CvaeRecipe, seed: int) -> Path:
    """Where the CVAE trained from exactly these inputs lives in ``store``."""
    mode = precision.mode_for(distributed.current().device)
    digest = hashlib.sha256()
    for part in (np.ascontiguousarray(images_uint8), np.ascontiguousarray(teacher_labels,
                                                                          np.int64)):
        digest.update(str(part.shape).encode())
        digest.update(part.tobytes())
    digest.update(f"{num_classes}|{recipe}|{seed}|{mode.name}".encode())
    return store / f"seed{seed}-{recipe.kind}-{digest.hexdigest()[:16]}.pt"


def _stored_cvae(file: Path, weights: dict[str, torch.Tensor], images_uint8: np.ndarray, num_classes: int,
                recipe: CvaeRecipe) -> nn.Module:
    model = build_cvae(recipe.kind, tuple(images_uint8.shape[1:]), num_classes,
                       recipe.latent_dim)
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        raise FsbbtError(f"the trained CVAE {file} does not fit this CVAE recipe; "
                         "delete it and the CVAE is trained again") from exc
    return model.eval()


def _read_weights(file: Path) -> dict[str, torch.Tensor]:
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:
        raise FsbbtError(f"cannot read the trained CVAE {file} ({type(exc).__name__}); "
                         "delete it and the CVAE is trained again") from exc


def stored_or_trained_cvae(images_uint8: np.ndarray, teacher_labels: np.ndarray,
                           num_classes: int, recipe: CvaeRecipe, seed: int,
                           store: Path | None) -> nn.Module:
    """The CVAE of :func:`~fsbbt.synth.cvae.train_cvae`, read from ``store`` when an earlier
    process trained it from the same inputs, else trained and written there.

    Rank 0 decides and its weights go to every rank, so torchrun ranks without a shared
    disk still agree on whether to train (training is collective under DDP).
    """
    if store is None:
        return train_cvae(images_uint8, teacher_labels, num_classes, recipe, seed)
    file = cvae_file(store, images_uint8, teacher_labels, num_classes, recipe, seed)
    found = file.is_file() if distributed.is_main_process() else None
    stored_weights = distributed.broadcast_object(_read_weights(file) if found else None)
    if stored_weights is not None:
        progress.status(f"CVAE trained by an earlier run: {file}")
        return _stored_cvae(file, stored_weights, images_uint8, num_classes, recipe)
    model = train_cvae(images_uint8, teacher_labels, num_classes, recipe, seed)
    if distributed.is_main_process():
        save_checkpoint(file, model.state_dict())  # atomic: a kill mid-write leaves no half file
    return model
