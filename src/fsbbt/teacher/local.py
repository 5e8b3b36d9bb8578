"""A teacher saved by ``fsbbt teacher train``: weights plus a small JSON of metadata.

Weights are read through :class:`~fsbbt.core.model_file.ModelFile`, so a teacher file
cannot run code and a bad one is a one-line error.
The module is private to :class:`LocalTeacher`; callers get ``predict_proba`` only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import nn

from fsbbt.core.errors import FsbbtError
from fsbbt.core.model_file import ModelFile
from fsbbt.core.precision import FP32
from fsbbt.models.saved import load_network, read_description, save_network
from fsbbt.train.evaluate import predict_probabilities

WEIGHTS_FILE = "teacher.pt"
METADATA_FILE = "teacher.json"


@dataclass(frozen=True)
class TeacherMetadata:
    """What a user (or a later run) needs to know about a saved teacher without loading it."""

    arch: str
    dataset: str
    input_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    test_accuracy: float
    epochs: int
    seed: int
    # wall time of the training that produced it, summed over resumed processes;
    # None for teachers saved before this was recorded
    train_seconds: float | None = None
    # hash of the training recipe and the training data (see train_local.training_identity);
    # None for teachers saved before it was recorded
    training_identity: str | None = None


def save_teacher(model: nn.Module, metadata: TeacherMetadata, directory: Path) -> None:
    """Write weights and metadata; the JSON goes last so its presence means "complete"."""
    save_network(model, metadata, directory / WEIGHTS_FILE, directory / METADATA_FILE)


def file_fingerprint(path: Path) -> str:
    """SHA-256 of a model file: the identity of its answers in the query ledger."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise FsbbtError(f"cannot read teacher file {path} ({exc.strerror}); check the path") from exc
    return digest.hexdigest()


def read_metadata(directory: Path) -> TeacherMetadata:
    """What a saved teacher is, without loading its weights (one-line error if absent)."""
    return read_description(
        directory / METADATA_FILE,
        TeacherMetadata,
        missing=f"no saved teacher in {directory} ({METADATA_FILE} missing); "
        "train one with `fsbbt teacher train`",
        what="teacher description",
        fix="re-train the teacher",
    )


def load_teacher_network(directory: Path) -> tuple[nn.Module, TeacherMetadata]:
    """A saved teacher's network and description, for the teacher's owner only: the
    :class:`LocalTeacher` that answers queries, and benchmarks that study the teacher
    itself. Distillation code never calls this; it sees ``predict_proba``."""
    metadata = read_metadata(directory)
    model = load_network(
        metadata.arch,
        metadata.input_shape,
        len(metadata.class_names),
        ModelFile(directory / WEIGHTS_FILE, "teacher weights", "re-train the teacher"),
    )
    return model, metadata


class LocalTeacher:
    """A saved fsbbt teacher answering queries in this process."""

    def __init__(self, directory: Path) -> None:
        self._model, self.metadata = load_teacher_network(directory)
        self.input_shape = self.metadata.input_shape
        self.class_names = self.metadata.class_names
        self.fingerprint = f"local:{file_fingerprint(directory / WEIGHTS_FILE)}"

    def predict_proba(self, images_uint8: np.ndarray) -> np.ndarray:
        """Float32 answers whatever the run's precision: they are data the ledger keeps,
        and must not depend on which machine (bf16 or not) computed them."""
        return predict_probabilities(self._model, images_uint8, mode=FP32)
