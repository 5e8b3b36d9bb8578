"""Synthetic images for the teacher to label: MixUp of real pairs and CVAE samples."""

from fsbbt.synth.cvae import CvaeRecipe, sample_cvae, train_cvae
from fsbbt.synth.mixup import MixupDraw, mix_pairs, mixup_from_fewshot

__all__ = ["CvaeRecipe", "MixupDraw", "mix_pairs", "mixup_from_fewshot", "sample_cvae", "train_cvae"]
