"""Class-balanced few-shot draws from a training split."""

from __future__ import annotations

import dataclasses

import numpy as np

from fsbbt.core.errors import FsbbtError
from fsbbt.data.dataset import ImageDataset


def check_fewshot_draw(labels: np.ndarray, n_total: int, num_classes: int) -> int:
    """Images per class of a balanced draw of ``n_total``, or a one-line error. Called
    as soon as the dataset is read, so a bad ``n_fewshot`` is refused before the
    teacher trains."""
    if n_total % num_classes:
        raise FsbbtError(
            f"n_fewshot={n_total} is not a multiple of the {num_classes} classes; "
            f"choose a multiple of {num_classes}"
        )
    per_class = n_total // num_classes
    counts = np.bincount(labels, minlength=num_classes)
    for class_index, count in enumerate(counts[:num_classes]):
        if count < per_class:
            raise FsbbtError(
                f"class {class_index} has {count} training images, fewer than "
                f"the {per_class} per class asked for; lower n_fewshot"
            )
    return per_class


def sample_fewshot_indices(labels: np.ndarray, n_total: int, num_classes: int, seed: int) -> np.ndarray:
    """Indices of ``n_total`` images, ``n_total / num_classes`` per class, drawn with ``seed``.

    The true labels are used here only to balance the draw, as in the paper; they
    are not handed on to anything but Student-Alone and evaluation.
    """
    per_class = check_fewshot_draw(labels, n_total, num_classes)
    rng = np.random.default_rng(seed)
    chosen = [
        rng.choice(np.flatnonzero(labels == class_index), size=per_class, replace=False)
        for class_index in range(num_classes)
    ]
    indices = np.concatenate(chosen)
    rng.shuffle(indices)
    return indices


def hold_out_validation(dataset: ImageDataset, count: int, seed: int = 0) -> ImageDataset:
    """``dataset`` with ``count`` training images (class-balanced, drawn with ``seed``)
    moved out of the training split to become its test split.

    For choosing a method's settings without the test set: the few-shot draws then come
    from the rest of the training split, and every accuracy is measured on images no
    method ever sees. The true test split is not touched.
    """
    indices = sample_fewshot_indices(dataset.train_labels, count, dataset.num_classes, seed)
    kept = np.setdiff1d(np.arange(len(dataset.train_labels)), indices)
    return dataclasses.replace(
        dataset,
        train_images=dataset.train_images[kept],
        train_labels=dataset.train_labels[kept],
        test_images=dataset.train_images[np.sort(indices)],
        test_labels=dataset.train_labels[np.sort(indices)],
    )
