"""A labelled image-folder dataset: ``ROOT/train/<class>/*`` and ``ROOT/test/<class>/*``.

Class names are the sorted folder names of ``train/`` (for CIFAR-10 as JPEGs that is
CIFAR-10's own label order). Decoding tens of thousands of small JPEGs with PIL takes
a while, so the decoded uint8 arrays are cached as an ``.npz`` in the user cache,
keyed by the folder's path and every file's name, size and modification time: any
change to the tree makes a new key, and the second load only reads one file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from fsbbt.core import progress
from fsbbt.core.errors import FsbbtError
from fsbbt.data.dataset import ImageDataset
from fsbbt.data.folder import labelled_paths, read_images
from fsbbt.data.locate import user_cache_dir

SPLITS = ("train", "test")
CACHE_SUBDIR = "decoded"


def tree_class_names(root: Path) -> tuple[str, ...]:
    """Sorted names of the class folders under ``root/train``."""
    return tuple(sorted(p.name for p in (root / "train").iterdir() if p.is_dir()))


def is_image_tree(
    root: Path, class_names: tuple[str, ...] | None = None, class_count: int | None = None
) -> bool:
    """True if ``root`` has train/ and test/ folders, whose train classes are exactly
    ``class_names`` and number ``class_count`` when those are given."""
    if not all((root / split).is_dir() for split in SPLITS):
        return False
    found = tree_class_names(root)
    return (class_names is None or set(found) == set(class_names)) and (
        class_count is None or len(found) == class_count
    )


def _listing_key(root: Path, paths: list[Path]) -> str:
    """A hash of the tree's location and every file's relative name, size and mtime."""
    digest = hashlib.sha256(str(root.resolve()).encode())
    for path in paths:
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


def _image_shape(path: Path) -> tuple[int, int, int]:
    """(channels, height, width) the tree is read at, from its first image."""
    try:
        with Image.open(path) as image:
            channels = 1 if image.mode in ("L", "I", "I;16", "1", "F") else 3
            return (channels, image.height, image.width)
    except (UnidentifiedImageError, OSError) as exc:
        raise FsbbtError(
            f"{path} is not a readable image ({type(exc).__name__}); remove or replace the file"
        ) from exc


def _read_cache(cache: Path, counts: tuple[int, int]) -> tuple[np.ndarray, np.ndarray] | None:
    """The cached (train, test) arrays, or None if absent or unusable (then it is rebuilt)."""
    if not cache.is_file():
        return None
    try:
        with np.load(cache, allow_pickle=False) as arrays:
            train, test = arrays["train"], arrays["test"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if (len(train), len(test)) != counts or train.dtype != np.uint8 or train.ndim != 4:
        return None
    return train, test


def _write_cache(cache: Path, train: np.ndarray, test: np.ndarray) -> None:
    """Write the decoded arrays atomically; a cache that cannot be written is only slower."""
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=cache.parent, suffix=".part")
        with os.fdopen(handle, "wb") as out:
            np.savez(out, train=train, test=test)
        os.replace(temporary, cache)
    except OSError as exc:
        progress.status(
            f"could not cache decoded images in {cache.parent} ({exc.strerror}); "
            "the next load decodes them again"
        )


def load_image_tree(
    root: Path,
    name: str,
    class_names: tuple[str, ...] | None = None,
    input_shape: tuple[int, int, int] | None = None,
) -> ImageDataset:
    """The tree under ``root`` as a dataset, from the decoded cache when the tree is unchanged.

    ``class_names`` fixes the label order (default: sorted train folder names);
    ``input_shape`` fixes the size images are read at (default: the first image's).
    """
    if not is_image_tree(root):
        raise FsbbtError(
            f"{root} is not an image-folder dataset; expected {root}/train/CLASS/* and {root}/test/CLASS/*"
        )
    classes = class_names or tree_class_names(root)
    train_paths, train_labels = labelled_paths(root / "train", classes)
    test_paths, test_labels = labelled_paths(root / "test", classes)
    if not train_paths or not test_paths:
        raise FsbbtError(
            f"{root}: train/ has {len(train_paths)} and test/ {len(test_paths)} "
            "images; both need labelled images in class folders"
        )
    shape = input_shape or _image_shape(train_paths[0])
    key = _listing_key(root, train_paths + test_paths)
    cache = user_cache_dir() / CACHE_SUBDIR / f"{name}-{'x'.join(map(str, shape))}-{key}.npz"
    cached = _read_cache(cache, (len(train_paths), len(test_paths)))
    if cached is not None and cached[0].shape[1:] == shape:
        train_images, test_images = cached
    else:
        train_images = read_images(train_paths, shape, f"decode {name} train")
        test_images = read_images(test_paths, shape, f"decode {name} test")
        _write_cache(cache, train_images, test_images)
    return ImageDataset(name, train_images, train_labels, test_images, test_labels, classes)
