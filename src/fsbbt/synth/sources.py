"""The seam between FS-BBT's synthetic set and the sources that fill it.

A source makes images for the teacher to label from the seed's few images, without
querying anything itself. The synthetic set asks each source in turn for what is left
of the budget M; a source may hand part of its share on to the next one (MixUp drops
near-copies and hands their count K to the CVAE). A new source is one file with a class
like :class:`~fsbbt.synth.mixup.MixupSource` and one entry in FS-BBT's source list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class SeedImages:
    """What every source draws from: one seed's few images and the teacher's top-1 labels."""

    images_uint8: np.ndarray
    teacher_labels: np.ndarray
    num_classes: int
    seed: int


@dataclass(frozen=True)
class SourceDraw:
    """The images a source made (uint8, the bytes the teacher will see) and how many of its
    share it left to the next source."""

    images_uint8: np.ndarray
    handed_on: int


class SyntheticSource(Protocol):
    """Anything that makes up to ``count`` images from the seed's few ones."""

    kind: str
    """The images' kind: a row of the sample grid, a value of ``kind_of_image``."""

    def draw(self, few: SeedImages, count: int) -> SourceDraw: ...
