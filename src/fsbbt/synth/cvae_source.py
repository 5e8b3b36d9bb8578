"""Synthesis source "cvae": the images MixUp handed on (its near-copies), made by a CVAE
trained on the seed's few images with the teacher's labels (docs/method.md, steps 2, 4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import nn

from fsbbt.synth.cvae import CvaeConfig, sample_cvae
from fsbbt.synth.cvae_store import cvae_identity, stored_or_trained_cvae
from fsbbt.synth.sources import SeedImages, SourceDraw


class CvaeSource:
    """Synthesis source "cvae": samples of a CVAE trained on the seed's few images.

    The trained CVAE depends on the few images, the teacher's labels, the recipe and the
    seed only, so variants changing M, τ or the sampling reuse it: ``trained`` holds the
    seed's CVAEs by identity, ``store`` (a run's ``OUT/cvae``) keeps them across processes.
    """

    kind = "cvae"

    def __init__(self, settings: CvaeConfig, trained: dict[str, nn.Module], store: Path | None) -> None:
        self._settings = settings
        self._trained = trained
        self._store = store

    def draw(self, few: SeedImages, count: int) -> SourceDraw:
        if count <= 0:
            return SourceDraw(few.images_uint8[:0], 0)
        key = cvae_identity(few.images_uint8, few.teacher_labels, few.num_classes, self._settings, few.seed)
        if key not in self._trained:
            self._trained[key] = stored_or_trained_cvae(few, self._settings, key, self._store)
        images, _ = sample_cvae(
            self._trained[key],
            count,
            few.num_classes,
            self._settings.sampling,
            np.random.default_rng([few.seed, 2]),
        )
        return SourceDraw(images, 0)
