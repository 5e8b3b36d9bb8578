"""Images from a folder (PNG, JPEG, BMP, any size), converted to a teacher's input shape.

``fsbbt distill`` reads a user's unlabeled images this way, and a labelled test set as
a ``class_name/`` folder tree. Files are read in sorted order so that the same folder
always gives the same array, hence the same ledger keys.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image, UnidentifiedImageError

from fsbbt.config.schema import USER_IMAGES
from fsbbt.core import progress
from fsbbt.core.errors import FsbbtError
from fsbbt.data.dataset import ImageDataset

T = TypeVar("T")

# what Pillow reads that users keep images in; the same set for distill, CIFAR-style
# image trees and predict
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")


class UnreadableImage(FsbbtError):
    """A file that does not decode as an image; ``problem`` says what for the skip list."""

    def __init__(self, path: Path, reason: str) -> None:
        self.problem = f"{path} is not a readable image ({reason})"
        super().__init__(f"{self.problem}; remove or replace the file")


def list_images(directory: Path) -> list[Path]:
    """Image files under ``directory`` (recursively), sorted."""
    if not directory.is_dir():
        raise FsbbtError(f"{directory} is not a directory; give a folder of images")
    return sorted(
        path for path in directory.rglob("*") if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
    )


def read_image(path: Path, input_shape: tuple[int, int, int]) -> np.ndarray:
    """One file as uint8 C×H×W: grey or RGB as the teacher takes, resized if needed."""
    channels, height, width = input_shape
    try:
        with Image.open(path) as image:
            converted = image.convert("L" if channels == 1 else "RGB")
            if converted.size != (width, height):
                converted = converted.resize((width, height), Image.Resampling.BILINEAR)
            pixels = np.asarray(converted, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise UnreadableImage(path, type(exc).__name__) from exc
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)


def read_images(paths: list[Path], input_shape: tuple[int, int, int], description: str) -> np.ndarray:
    """Decode ``paths`` into one preallocated uint8 N×C×H×W array, with a progress bar."""
    images = np.empty((len(paths), *input_shape), dtype=np.uint8)
    for row, path in enumerate(progress.track(paths, description, len(paths), "img")):
        images[row] = read_image(path, input_shape)
    return images


def read_readable_images(
    paths: list[Path], input_shape: tuple[int, int, int], description: str
) -> tuple[np.ndarray, list[int], list[str]]:
    """Like :func:`read_images`, but a file that does not decode is left out and named
    (``--skip-unreadable``): the images, the indices into ``paths`` kept, and one
    "path: problem" line per file skipped, each also shown as it happens."""
    images = np.empty((len(paths), *input_shape), dtype=np.uint8)
    kept: list[int] = []
    skipped: list[str] = []
    for index, path in enumerate(progress.track(paths, description, len(paths), "img")):
        try:
            images[len(kept)] = read_image(path, input_shape)
        except UnreadableImage as exc:
            skipped.append(exc.problem)
            progress.status(f"skipped {skipped[-1]}")
            continue
        kept.append(index)
    return images[: len(kept)], kept, skipped


def _unreadable_hint(read: Callable[[], T]) -> T:
    """``read()``, its unreadable-image error extended with the way around it."""
    try:
        return read()
    except UnreadableImage as exc:
        raise FsbbtError(f"{exc}, or pass --skip-unreadable to leave such files out") from exc


def load_image_folder(
    directory: Path, input_shape: tuple[int, int, int], skip_unreadable: bool = False
) -> tuple[np.ndarray, list[str]]:
    """Every image under ``directory`` as one uint8 N×C×H×W array, and the files skipped
    as unreadable (always none unless ``skip_unreadable``)."""
    paths = list_images(directory)
    if not paths:
        raise FsbbtError(f"no {'/'.join(s[1:] for s in IMAGE_SUFFIXES)} images in {directory}")
    description = f"read {directory.name}"
    if not skip_unreadable:
        return _unreadable_hint(lambda: read_images(paths, input_shape, description)), []
    images, _, skipped = read_readable_images(paths, input_shape, description)
    if not len(images):
        raise FsbbtError(f"none of the {len(paths)} images in {directory} is readable; check the folder")
    return images, skipped


def labelled_paths(directory: Path, class_names: tuple[str, ...]) -> tuple[list[Path], np.ndarray]:
    """The files of a ``class_name/image`` tree (sorted) and their labels indexing ``class_names``."""
    if not directory.is_dir():
        raise FsbbtError(f"{directory} is not a directory; give a folder of class folders")
    index_of = {name: i for i, name in enumerate(class_names)}
    paths: list[Path] = []
    labels: list[int] = []
    for class_dir in sorted(p for p in directory.iterdir() if p.is_dir()):
        if class_dir.name not in index_of:
            raise FsbbtError(
                f"folder {class_dir} is not one of the classes "
                f"({', '.join(class_names)}); rename or remove it"
            )
        class_paths = list_images(class_dir)
        paths += class_paths
        labels += [index_of[class_dir.name]] * len(class_paths)
    return paths, np.asarray(labels, dtype=np.int64)


def load_labelled_folder(
    directory: Path,
    input_shape: tuple[int, int, int],
    class_names: tuple[str, ...],
    skip_unreadable: bool = False,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A ``class_name/image`` tree as (images, labels, files skipped as unreadable),
    labels indexing ``class_names``."""
    paths, labels = labelled_paths(directory, class_names)
    if not paths:
        raise FsbbtError(f"no labelled images in {directory}; expected {directory}/CLASS/*.png")
    description = f"read {directory.name}"
    if not skip_unreadable:
        return _unreadable_hint(lambda: read_images(paths, input_shape, description)), labels, []
    images, kept, skipped = read_readable_images(paths, input_shape, description)
    return images, labels[kept], skipped


def load_user_images(
    images_dir: Path,
    input_shape: tuple[int, int, int],
    class_names: tuple[str, ...],
    test_dir: Path | None = None,
    skip_unreadable: bool = False,
) -> ImageDataset:
    """The user's own images as a dataset: every image of ``images_dir`` a training image
    without a label (-1, so any accidental use shows), and the labelled ``test_dir`` tree
    (``CLASS/*.png``) as its test split, or an empty one. With ``skip_unreadable`` a file
    that does not decode is left out and listed in the dataset's ``skipped_files``."""
    train_images, skipped = load_image_folder(images_dir, input_shape, skip_unreadable)
    if test_dir is not None:
        test_images, test_labels, skipped_tests = load_labelled_folder(
            test_dir, input_shape, class_names, skip_unreadable
        )
        skipped += skipped_tests
    else:
        test_images = np.empty((0, *input_shape), np.uint8)
        test_labels = np.empty(0, np.int64)
    return ImageDataset(
        USER_IMAGES,
        train_images,
        np.full(len(train_images), -1, np.int64),
        test_images,
        test_labels,
        tuple(class_names),
        tuple(skipped),
    )
