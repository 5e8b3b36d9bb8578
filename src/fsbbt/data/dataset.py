"""The in-memory form every loader returns: uint8 images, int labels, class names."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ImageDataset:
    """A labelled train/test split held as uint8 N×C×H×W arrays.

    uint8 is the form a teacher receives (and the query ledger hashes), so images
    stay uint8 until a network needs floats.
    """

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: tuple[str, ...]
    # "path: problem" of each file left out as unreadable (``--skip-unreadable``)
    skipped_files: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for split, images, labels in (
            ("train", self.train_images, self.train_labels),
            ("test", self.test_images, self.test_labels),
        ):
            if images.dtype != np.uint8 or images.ndim != 4:
                raise ValueError(f"{split} images must be uint8 N×C×H×W, got {images.dtype} {images.shape}")
            if len(images) != len(labels):
                raise ValueError(f"{split}: {len(images)} images but {len(labels)} labels")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one image."""
        c, h, w = self.train_images.shape[1:]
        return (int(c), int(h), int(w))

    @property
    def num_classes(self) -> int:
        return len(self.class_names)
