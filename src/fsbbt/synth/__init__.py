"""Synthetic images for the teacher to label: sources (MixUp of real pairs, CVAE samples)
behind one seam, and the synthetic set they fill."""

from fsbbt.synth.cvae import CvaeConfig, sample_cvae, train_cvae
from fsbbt.synth.mixup import MixupDraw, MixupSource, mix_pairs, mixup_from_fewshot
from fsbbt.synth.sources import SeedImages, SourceDraw, SyntheticSource

__all__ = [
    "CvaeConfig",
    "MixupDraw",
    "MixupSource",
    "SeedImages",
    "SourceDraw",
    "SyntheticSource",
    "mix_pairs",
    "mixup_from_fewshot",
    "sample_cvae",
    "train_cvae",
]
