"""FS-BBT's synthetic set: the few images and every source's images, labelled by the teacher
(docs/method.md, steps 1-5). Built once per seed and shared by every student size."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from fsbbt.core import progress
from fsbbt.synth.sources import SeedImages, SyntheticSource
from fsbbt.teacher.blackbox import QueryOracle

SAMPLES_PER_KIND = 10


@dataclass(frozen=True)
class SyntheticSet:
    """The few images plus the synthetic ones, with the teacher's answers for all of them."""

    images_uint8: np.ndarray
    teacher_probs: np.ndarray
    kind_of_image: np.ndarray  # "real" or a source's kind, per row
    seconds: float  # all of it, teacher queries included
    source_seconds: dict[str, float] = field(default_factory=dict)  # of which each source

    def samples_by_kind(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """A few images of each kind with the teacher's top-1 label, for the sample grid."""
        samples = {}
        for kind in dict.fromkeys(self.kind_of_image.tolist()):
            rows = np.flatnonzero(self.kind_of_image == kind)[:SAMPLES_PER_KIND]
            samples[kind] = (self.images_uint8[rows], self.teacher_probs[rows].argmax(1))
        return samples


def build_synthetic_set(
    fewshot_images_uint8: np.ndarray,
    oracle: QueryOracle,
    sources: Sequence[SyntheticSource],
    budget: int,
    seed: int,
) -> SyntheticSet:
    """Label the few images, let each source fill what is left of ``budget`` in turn, label
    everything the sources made."""
    started = time.perf_counter()
    fewshot_probs = oracle.query(fewshot_images_uint8, "label the few images")
    few = SeedImages(fewshot_images_uint8, fewshot_probs.argmax(axis=1), oracle.num_classes, seed)
    parts: list[tuple[str, np.ndarray]] = []
    source_seconds: dict[str, float] = {}
    remaining = budget
    for source in sources:
        source_started = time.perf_counter()
        drawn = source.draw(few, remaining)
        source_seconds[source.kind] = time.perf_counter() - source_started
        parts.append((source.kind, drawn.images_uint8))
        remaining = drawn.handed_on
    progress.status(
        "synthetic set: " + " + ".join(f"{len(images)} {kind}" for kind, images in parts) + " images"
    )
    synthetic_images = np.concatenate([fewshot_images_uint8[:0]] + [im for _, im in parts])
    synthetic_probs = oracle.query(synthetic_images, "label synthetic images")
    kinds = np.array(
        ["real"] * len(fewshot_images_uint8) + [kind for kind, images in parts for _ in range(len(images))]
    )
    return SyntheticSet(
        images_uint8=np.concatenate([fewshot_images_uint8, synthetic_images]),
        teacher_probs=np.concatenate([fewshot_probs, synthetic_probs]),
        kind_of_image=kinds,
        seconds=time.perf_counter() - started,
        source_seconds=source_seconds,
    )
