"""Tiny CIFAR files in the canonical formats, written by tests (no download).

The batch files are dicts with bytes keys, ``b"data"`` a uint8 N×3072 array (the
three 32×32 planes of each image, row-major) and the labels a list of ints, as in
``cifar-10-batches-py`` / ``cifar-100-python``.
"""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _images(count: int, rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    """Random images whose mean brightness depends on the class, so a network can learn."""
    base = rng.integers(0, 120, (count, 3, 32, 32))
    return (base + (labels * 13 % 130)[:, None, None, None]).astype(np.uint8)


def _dump(path: Path, content: dict) -> None:
    with open(path, "wb") as handle:
        pickle.dump(content, handle, protocol=4)


def write_cifar10(
    folder: Path, per_batch: int = 20, n_test: int = 30, seed: int = 0
) -> dict[str, np.ndarray]:
    """``folder/cifar-10-batches-py`` with 5 train batches, a test batch and batches.meta."""
    rng = np.random.default_rng(seed)
    root = folder / "cifar-10-batches-py"
    root.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[np.ndarray]] = {"train_x": [], "train_y": []}
    for index in range(1, 6):
        labels = np.arange(per_batch) % 10
        images = _images(per_batch, rng, labels)
        _dump(
            root / f"data_batch_{index}",
            {
                b"batch_label": f"batch {index}".encode(),
                b"labels": labels.tolist(),
                b"data": images.reshape(per_batch, -1),
                b"filenames": [b"x.png"] * per_batch,
            },
        )
        written["train_x"].append(images)
        written["train_y"].append(labels)
    test_labels = np.arange(n_test) % 10
    test_images = _images(n_test, rng, test_labels)
    _dump(
        root / "test_batch",
        {
            b"batch_label": b"testing batch 1 of 1",
            b"labels": test_labels.tolist(),
            b"data": test_images.reshape(n_test, -1),
            b"filenames": [b"t.png"] * n_test,
        },
    )
    _dump(
        root / "batches.meta",
        {
            b"label_names": [n.encode() for n in CIFAR10_NAMES],
            b"num_cases_per_batch": per_batch,
            b"num_vis": 3072,
        },
    )
    return {
        "train_images": np.concatenate(written["train_x"]),
        "train_labels": np.concatenate(written["train_y"]),
        "test_images": test_images,
        "test_labels": test_labels,
    }


def write_cifar100(
    folder: Path, n_train: int = 200, n_test: int = 100, seed: int = 0
) -> dict[str, np.ndarray]:
    """``folder/cifar-100-python`` with train, test (fine and coarse labels) and meta."""
    rng = np.random.default_rng(seed)
    root = folder / "cifar-100-python"
    root.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, count in (("train", n_train), ("test", n_test)):
        fine = np.arange(count) % 100
        images = _images(count, rng, fine)
        _dump(
            root / split,
            {
                b"filenames": [b"f.png"] * count,
                b"batch_label": split.encode(),
                b"fine_labels": fine.tolist(),
                b"coarse_labels": (fine // 5).tolist(),
                b"data": images.reshape(count, -1),
            },
        )
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = images, fine
    _dump(
        root / "meta",
        {
            b"fine_label_names": [f"class{i:02d}".encode() for i in range(100)],
            b"coarse_label_names": [f"super{i:02d}".encode() for i in range(20)],
        },
    )
    return arrays


def write_tarball(source_dir: Path, archive: Path) -> None:
    """Pack ``source_dir`` (e.g. cifar-10-batches-py) the way the canonical tarball is."""
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source_dir, arcname=source_dir.name)


def write_image_tree(
    root: Path, classes: list[str], per_class: dict[str, int], size: int = 32, seed: int = 0
) -> None:
    """``root/SPLIT/CLASS/NNNN.(png|jpg)`` with random RGB images (PNG and JPEG mixed)."""
    rng = np.random.default_rng(seed)
    for split, count in per_class.items():
        for label, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(count):
                pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8) // 2 + label * 10
                suffix = "png" if index % 2 else "jpg"
                Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{index:04d}.{suffix}")
