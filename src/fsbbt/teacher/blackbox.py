"""The black-box boundary: uint8 images in, probability vectors out, every image counted.

Distillation code holds a :class:`QueryOracle` and nothing else of the teacher: it
cannot reach weights, gradients or logits, and every answer passes validation before
anyone sees it.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

import numpy as np

from fsbbt import progress
from fsbbt.errors import FsbbtError


class BlackBoxTeacher(Protocol):
    """Anything that answers a uint8 N×C×H×W batch with an N×classes probability array."""

    input_shape: tuple[int, int, int]
    class_names: tuple[str, ...]

    def predict_proba(self, images_uint8: np.ndarray) -> np.ndarray: ...


def validate_probabilities(answer: object, batch_size: int, num_classes: int,
                           where: str) -> np.ndarray:
    """The answer as float32 N×C, or a one-line error saying what is wrong with it."""
    try:
        probs = np.asarray(answer, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise FsbbtError(f"teacher answer for {where} is not numeric ({exc}); "
                         "check the teacher returns probabilities") from exc
    if probs.shape != (batch_size, num_classes):
        raise FsbbtError(f"teacher answer for {where} has shape {probs.shape}, expected "
                         f"({batch_size}, {num_classes}); check the teacher's class count")
    if not np.isfinite(probs).all():
        raise FsbbtError(f"teacher answer for {where} contains NaN or inf; "
                         "check the teacher's output layer")
    if (probs < 0).any():
        raise FsbbtError(f"teacher answer for {where} has negative values; if it returns "
                         "logits, declare output: logits")
    row_sums = probs.sum(axis=1)
    if np.abs(row_sums - 1.0).max() > 1e-3:
        raise FsbbtError(f"teacher answer for {where} has rows summing to "
                         f"{row_sums.min():.4f}..{row_sums.max():.4f}, not 1; if it returns "
                         "logits, declare output: logits")
    return probs


def image_keys(images_uint8: np.ndarray) -> list[str]:
    """SHA-256 of each image's shape and bytes: the identity of a query."""
    shape = "x".join(str(d) for d in images_uint8.shape[1:]).encode()
    return [hashlib.sha256(shape + b"|" + image.tobytes()).hexdigest() for image in images_uint8]


class QueryOracle:
    """The only handle distillation code gets on the teacher.

    Answers are remembered by image hash, so an image asked for twice (by two methods,
    or by FS-BBT and Standard-KD on the same few images) is paid for once.
    ``queries_sent`` counts images that actually reached the teacher.
    """

    def __init__(self, teacher: BlackBoxTeacher, batch_size: int = 256) -> None:
        self._teacher = teacher
        self.batch_size = batch_size
        self.input_shape = tuple(teacher.input_shape)
        self.class_names = tuple(teacher.class_names)
        self._answers: dict[str, np.ndarray] = {}
        self.queries_sent = 0
        self.answers_reused = 0

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def query(self, images_uint8: np.ndarray, description: str = "query teacher") -> np.ndarray:
        """Teacher probabilities for each image, sending only images not answered before."""
        if images_uint8.dtype != np.uint8 or tuple(images_uint8.shape[1:]) != self.input_shape:
            raise FsbbtError(f"images sent to the teacher must be uint8 {self.input_shape}, got "
                             f"{images_uint8.dtype} {images_uint8.shape[1:]}")
        keys = image_keys(images_uint8)
        first_index_of_unseen: dict[str, int] = {}
        for i, key in enumerate(keys):
            if key not in self._answers:
                first_index_of_unseen.setdefault(key, i)
        to_send = list(first_index_of_unseen.values())
        self.answers_reused += len(keys) - len(to_send)
        with progress.bar(description, len(to_send), "img") as query_bar:
            for start in range(0, len(to_send), self.batch_size):
                batch_index = to_send[start:start + self.batch_size]
                answer = self._teacher.predict_proba(images_uint8[batch_index])
                probs = validate_probabilities(
                    answer, len(batch_index), self.num_classes,
                    f"batch {start // self.batch_size} "
                    f"(images {start}..{start + len(batch_index) - 1})")
                for i, row in zip(batch_index, probs, strict=True):
                    self._answers[keys[i]] = row
                self.queries_sent += len(batch_index)
                query_bar.advance(len(batch_index))
        if not keys:
            return np.zeros((0, self.num_classes), np.float32)
        return np.stack([self._answers[k] for k in keys])
