"""Class-balanced few-shot draws from a training split."""

from __future__ import annotations

import numpy as np

from fsbbt.core.errors import FsbbtError


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
