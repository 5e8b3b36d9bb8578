"""MixUp images from pairs of the few real images: FS-BBT step 3 (docs/method.md).

A pure function of (images, rng): the same seed gives the same images, hence the
same ledger keys, so a re-run pays for nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fsbbt.core.tensors import float_to_uint8
from fsbbt.synth.sources import SeedImages, SourceDraw


@dataclass(frozen=True)
class MixupDraw:
    """The MixUp images kept, and how many pairs were dropped as near-copies (K)."""

    images_uint8: np.ndarray
    mixing_weights: np.ndarray
    dropped_count: int


def mixup_from_fewshot(
    fewshot_images_uint8: np.ndarray, budget: int, alpha: float, threshold: float, rng: np.random.Generator
) -> MixupDraw:
    """Draw ``budget`` pairs of the few images, mix them, drop the near-copies.

    The few images are repeated ⌈M/N⌉ times and two independent permutations of that
    set give the pairs. λ ~ Beta(α, α) is rounded to 2 decimals (as the reference code
    does); pairs with λ ≤ τ or λ ≥ 1 − τ are near-copies of a real image and are
    dropped: their count K becomes the number of CVAE images.
    """
    n = len(fewshot_images_uint8)
    if budget <= 0 or n == 0:
        return MixupDraw(fewshot_images_uint8[:0], np.zeros(0, np.float32), 0)
    repeats = -(-budget // n)
    pool = np.tile(np.arange(n), repeats)
    first = rng.permutation(pool)[:budget]
    second = rng.permutation(pool)[:budget]
    weights = np.round(rng.beta(alpha, alpha, budget), 2).astype(np.float32)
    keep = (weights > threshold) & (weights < 1.0 - threshold)
    first, second, weights = first[keep], second[keep], weights[keep]
    return MixupDraw(
        mix_pairs(fewshot_images_uint8, first, second, weights), weights, int(budget - keep.sum())
    )


MIX_CHUNK = 4096
"""Pairs mixed at a time: the float copies of a chunk stay in cache, where one pass over a
pool of 384,000 Fashion-MNIST pairs made 1.2 GB temporaries and ran 7–10× slower."""


def mix_pairs(
    images_uint8: np.ndarray, first: np.ndarray, second: np.ndarray, weights: np.ndarray | float
) -> np.ndarray:
    """``w·images[first] + (1 − w)·images[second]`` per pair, quantised to uint8.

    Quantising here, not later, means the bytes a student scores, the teacher labels and
    the ledger keys are one and the same image (FS-BBT's and BBKD's mixes alike).
    """
    all_weights = np.broadcast_to(np.asarray(weights, np.float32), (len(first),))
    mixed = np.empty((len(first), *images_uint8.shape[1:]), np.uint8)
    for start in range(0, len(first), MIX_CHUNK):
        part = slice(start, start + MIX_CHUNK)
        lam = all_weights[part][:, None, None, None]
        blend = lam * images_uint8[first[part]].astype(np.float32) + (1.0 - lam) * images_uint8[
            second[part]
        ].astype(np.float32)
        mixed[part] = float_to_uint8(blend / 255.0)
    return mixed


class MixupSource:
    """Synthesis source "mixup": convex mixes of pairs of the few images, its near-copies
    handed on to the next source (docs/method.md, step 3). Its pairs come from the seed's
    own random stream, so a re-run draws the same images and the ledger answers them."""

    kind = "mixup"

    def __init__(self, alpha: float, threshold: float) -> None:
        self._alpha = alpha
        self._threshold = threshold

    def draw(self, few: SeedImages, count: int) -> SourceDraw:
        drawn = mixup_from_fewshot(
            few.images_uint8, count, self._alpha, self._threshold, np.random.default_rng([few.seed, 1])
        )
        return SourceDraw(drawn.images_uint8, drawn.dropped_count)
