"""A seed's trained CVAE, kept on disk so that nothing trains it twice.

The conv CVAE is the longest part of CIFAR synthesis (600 epochs, ~15 min on a 2-core
CPU). Without a copy on disk, a run killed while a student trains, a re-run of
``fsbbt distill`` or FS-BBT* added to a finished FS-BBT run rebuilds the seed's synthetic
set and would train the CVAE again. The file is named by everything the trained weights depend
on (the few images, the teacher's labels for them, the recipe, the seed, the precision),
so a different draw, teacher or recipe never picks up a stale CVAE.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from fsbbt.core import distributed, progress
from fsbbt.core.identity import identity
from fsbbt.core.model_file import ModelFile
from fsbbt.models import build_cvae
from fsbbt.synth.cvae import CvaeConfig, train_cvae
from fsbbt.synth.sources import SeedImages
from fsbbt.train.checkpoint import save_checkpoint

CVAE_DIR = "cvae"
"""The folder of a run directory that holds its seeds' trained CVAEs."""


def cvae_identity(
    images_uint8: np.ndarray, teacher_labels: np.ndarray, num_classes: int, settings: CvaeConfig, seed: int
) -> str:
    """Everything a trained CVAE's weights depend on (not its sampling, which comes after)."""
    return identity(
        "trained cvae",
        images=images_uint8,
        labels=np.asarray(teacher_labels, np.int64),
        num_classes=num_classes,
        recipe=settings.model_dump(mode="json", exclude={"sampling"}),
        seed=seed,
    )


def cvae_file(store: Path, settings: CvaeConfig, seed: int, key: str) -> Path:
    """Where the CVAE of identity ``key`` lives in ``store``."""
    return store / f"seed{seed}-{settings.kind}-{key}.pt"


def _stored(file: Path) -> ModelFile:
    return ModelFile(file, "the trained CVAE", "delete it and the CVAE is trained again")


def _stored_cvae(
    file: Path, weights: dict[str, torch.Tensor], few: SeedImages, settings: CvaeConfig
) -> nn.Module:
    model = build_cvae(settings.kind, tuple(few.images_uint8.shape[1:]), few.num_classes, settings.latent_dim)
    return _stored(file).load_into(model, "this CVAE recipe", weights)


def stored_or_trained_cvae(few: SeedImages, settings: CvaeConfig, key: str, store: Path | None) -> nn.Module:
    """The CVAE of :func:`~fsbbt.synth.cvae.train_cvae` for ``few``, read from ``store`` when
    an earlier process trained it from the same inputs (identity ``key``), else trained and
    written there.

    Rank 0 decides and its weights go to every rank, so torchrun ranks without a shared
    disk still agree on whether to train (training is collective under DDP).
    """

    def train() -> nn.Module:
        return train_cvae(few.images_uint8, few.teacher_labels, few.num_classes, settings, few.seed)

    if store is None:
        return train()
    file = cvae_file(store, settings, few.seed, key)
    found = file.is_file() if distributed.is_main_process() else None
    stored_weights = distributed.broadcast_object(_stored(file).state_dict() if found else None)
    if stored_weights is not None:
        stored = _stored_cvae(file, stored_weights, few, settings)
        progress.status(f"CVAE trained by an earlier run: {file}")
        return stored
    model = train()
    if distributed.is_main_process():
        save_checkpoint(file, model.state_dict())  # atomic: a kill mid-write leaves no half file
    return model
