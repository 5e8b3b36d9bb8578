"""Turning what a teacher returns into the probability targets a student trains on.

* ``probabilities``: used as they are (validated by the oracle).
* ``logits``: N×C finite reals; softmax is applied.
* ``label``: N class indices; each becomes a one-hot row (the teacher's full confidence).
* ``topk``: for each image k (class index, probability) pairs; the given probabilities are
  kept on their classes and the remaining mass ``1 − Σp`` is spread evenly over the other
  C − k classes, the least informative completion of what the teacher disclosed.

A top-k answer is the tuple ``(indices N×k, probabilities N×k)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fsbbt.core.errors import FsbbtError
from fsbbt.teacher.blackbox import BlackBoxTeacher

OUTPUT_MODES = ("probabilities", "logits", "label", "topk")


def logits_to_probabilities(answer: Any, num_classes: int) -> np.ndarray:
    logits = _numeric(answer, np.float64, "logits")
    if logits.ndim != 2 or logits.shape[1] != num_classes:
        raise FsbbtError(f"logits have shape {logits.shape}, expected (N, {num_classes})")
    if not np.isfinite(logits).all():
        raise FsbbtError("logits contain NaN or inf; check the teacher's output layer")
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)


def labels_to_probabilities(answer: Any, num_classes: int) -> np.ndarray:
    labels = _numeric(answer, np.float64, "labels")
    if labels.ndim != 1 or not np.isfinite(labels).all() or (labels != np.round(labels)).any():
        raise FsbbtError(f"label answer must be N integer class indices, got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise FsbbtError(f"label answer has class indices outside 0..{num_classes - 1}")
    targets = np.zeros((len(labels), num_classes), np.float32)
    targets[np.arange(len(labels)), labels.astype(np.int64)] = 1.0
    return targets


def topk_to_probabilities(answer: Any, num_classes: int) -> np.ndarray:
    if not (isinstance(answer, tuple | list) and len(answer) == 2):
        raise FsbbtError("top-k answer must be (indices N×k, probabilities N×k)")
    indices = _numeric(answer[0], np.float64, "top-k indices")
    probs = _numeric(answer[1], np.float64, "top-k probabilities")
    if indices.ndim != 2 or indices.shape != probs.shape or indices.shape[1] > num_classes:
        raise FsbbtError(
            f"top-k indices {indices.shape} and probabilities {probs.shape} must "
            f"both be N×k with k ≤ {num_classes}"
        )
    if not (np.isfinite(indices).all() and np.isfinite(probs).all()):
        raise FsbbtError("top-k answer contains NaN or inf")
    if (
        (indices != np.round(indices)).any()
        or indices.min(initial=0) < 0
        or indices.max(initial=0) >= num_classes
    ):
        raise FsbbtError(f"top-k answer has class indices outside 0..{num_classes - 1}")
    indices = indices.astype(np.int64)
    if any(len(set(row)) != len(row) for row in indices.tolist()):
        raise FsbbtError("top-k answer repeats a class within one image")
    if (probs < 0).any() or (probs.sum(axis=1) > 1 + 1e-3).any():
        raise FsbbtError("top-k probabilities must be non-negative and sum to at most 1")
    count, k = indices.shape
    rest = np.clip(1.0 - probs.sum(axis=1), 0.0, None)
    spread = rest / (num_classes - k) if k < num_classes else np.zeros(count)
    targets = np.repeat(spread[:, None], num_classes, axis=1)
    np.put_along_axis(targets, indices, probs, axis=1)
    if k == num_classes:
        targets /= targets.sum(axis=1, keepdims=True)
    return targets.astype(np.float32)


_CONVERTERS = {
    "logits": logits_to_probabilities,
    "label": labels_to_probabilities,
    "topk": topk_to_probabilities,
}


def _numeric(answer: Any, dtype: type, what: str) -> np.ndarray:
    try:
        return np.asarray(answer, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise FsbbtError(f"{what} in the teacher's answer are not numeric ({exc})") from exc


class ConvertedTeacher:
    """A teacher whose answers (logits, labels or top-k) are turned into probabilities."""

    def __init__(self, teacher: BlackBoxTeacher, output: str) -> None:
        self._teacher = teacher
        self._convert = _CONVERTERS[output]
        self.output = output
        self.input_shape = tuple(teacher.input_shape)
        self.class_names = tuple(teacher.class_names)
        inner = getattr(teacher, "fingerprint", type(teacher).__name__)
        self.fingerprint = f"{inner}|{output}"

    def predict_proba(self, images_uint8: np.ndarray) -> np.ndarray:
        return self._convert(self._teacher.predict_proba(images_uint8), len(self.class_names))

    def transport_counts(self) -> dict[str, int]:
        """The wrapped teacher's transport counts (a remote teacher's), if it counts them."""
        counts = getattr(self._teacher, "transport_counts", None)
        return counts() if callable(counts) else {}


def with_output(teacher: BlackBoxTeacher, output: str) -> BlackBoxTeacher:
    """``teacher`` as a probability teacher, whatever its declared ``output`` mode."""
    if output not in OUTPUT_MODES:
        raise FsbbtError(f"unknown teacher output {output!r}; choose one of {', '.join(OUTPUT_MODES)}")
    return teacher if output == "probabilities" else ConvertedTeacher(teacher, output)
