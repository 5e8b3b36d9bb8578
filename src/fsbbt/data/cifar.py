"""CIFAR-10 and CIFAR-100 from the canonical python pickles, read without running code.

The canonical files are Python pickles, and unpickling can call any importable
function. :class:`DataOnlyUnpickler` admits only what those files contain (dicts,
lists, bytes, numbers and numpy arrays), so a crafted file is refused before it can
run anything.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from fsbbt.core.errors import FsbbtError
from fsbbt.data.dataset import ImageDataset

try:  # numpy ≥ 2 moved the module; pickles written by either spelling name one of the two
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct

# (module, name) a canonical CIFAR pickle refers to → the object it may get. Nothing is
# imported by the name found in the file: the file can only pick from this table.
_ADMITTED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}

IMAGE_SIDE = 32
PIXELS_PER_IMAGE = 3 * IMAGE_SIDE * IMAGE_SIDE


class RefusedGlobal(pickle.UnpicklingError):
    """A pickle named a callable or class outside the admitted table."""


class DataOnlyUnpickler(pickle.Unpickler):
    """An unpickler whose ``find_class`` knows only numpy array reconstruction."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ADMITTED[(module, name)]
        except KeyError:
            raise RefusedGlobal(f"{module}.{name}") from None


def read_cifar_pickle(path: Path) -> dict[str, Any]:
    """One CIFAR pickle as a dict with str keys; refuses anything but plain data."""
    try:
        with open(path, "rb") as handle:
            content = DataOnlyUnpickler(handle, encoding="bytes").load()
    except RefusedGlobal as exc:
        raise FsbbtError(
            f"{path} asks to load {exc}, which no CIFAR file does (refused, "
            "nothing was run); delete it and fetch the canonical archive"
        ) from None
    except (
        pickle.UnpicklingError,
        OSError,
        EOFError,
        ValueError,
        TypeError,
        IndexError,
        AttributeError,
        KeyError,
    ) as exc:
        raise FsbbtError(
            f"{path} is not a readable CIFAR pickle ({type(exc).__name__}); "
            "delete it and fetch the canonical archive again"
        ) from None
    if not isinstance(content, dict):
        raise FsbbtError(
            f"{path} holds a {type(content).__name__}, not a CIFAR batch dict; "
            "delete it and fetch the canonical archive again"
        )
    return {key.decode("latin1") if isinstance(key, bytes) else key: value for key, value in content.items()}


def _field(batch: dict[str, Any], key: str, path: Path) -> Any:
    if key not in batch:
        raise FsbbtError(
            f"{path} has no {key!r} entry; it is not a CIFAR "
            f"{'meta' if key.endswith('names') else 'batch'} file: replace it"
        )
    return batch[key]


def read_batch(path: Path, label_key: str, class_count: int) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 N×3×32×32 images, int64 labels) of one batch file, checked for consistency."""
    batch = read_cifar_pickle(path)
    data = _field(batch, "data", path)
    if not (
        isinstance(data, np.ndarray)
        and data.dtype == np.uint8
        and data.ndim == 2
        and data.shape[1] == PIXELS_PER_IMAGE
    ):
        shape = getattr(data, "shape", None)
        raise FsbbtError(
            f"{path}: 'data' should be uint8 N×{PIXELS_PER_IMAGE}, got "
            f"{getattr(data, 'dtype', type(data).__name__)} {shape}; replace the file"
        )
    try:
        labels = np.asarray(_field(batch, label_key, path), dtype=np.int64)
    except (TypeError, ValueError) as exc:
        raise FsbbtError(f"{path}: {label_key!r} is not a list of integers; replace the file") from exc
    if labels.shape != (len(data),):
        raise FsbbtError(
            f"{path}: {len(data)} images but {labels.size} {label_key}; the file is "
            "truncated or corrupt: replace it"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= class_count):
        raise FsbbtError(f"{path}: {label_key} outside 0..{class_count - 1}; replace the file")
    return data.reshape(-1, 3, IMAGE_SIDE, IMAGE_SIDE), labels


def read_class_names(path: Path, key: str) -> tuple[str, ...]:
    """The class names stored under ``key`` in a CIFAR meta file."""
    names = _field(read_cifar_pickle(path), key, path)
    if not isinstance(names, list) or not names or not all(isinstance(n, bytes | str) for n in names):
        raise FsbbtError(f"{path}: {key!r} is not a list of names; replace the file")
    return tuple(n.decode("utf-8") if isinstance(n, bytes) else n for n in names)


def load_cifar_pickles(
    name: str, train_files: list[Path], test_file: Path, meta_file: Path, label_key: str, names_key: str
) -> ImageDataset:
    """A CIFAR dataset from its batch files (train batches in order) and meta file."""
    class_names = read_class_names(meta_file, names_key)
    train = [read_batch(path, label_key, len(class_names)) for path in train_files]
    test_images, test_labels = read_batch(test_file, label_key, len(class_names))
    return ImageDataset(
        name,
        np.concatenate([images for images, _ in train]),
        np.concatenate([labels for _, labels in train]),
        test_images,
        test_labels,
        class_names,
    )
