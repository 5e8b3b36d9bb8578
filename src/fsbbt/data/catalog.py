"""Dataset name → loader: the one place a new dataset is registered."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from fsbbt.data.dataset import ImageDataset
from fsbbt.data.digits import load_digits_dataset
from fsbbt.data.idx import read_idx
from fsbbt.data.locate import FileSetSpec, RemoteFile, locate_files
from fsbbt.errors import FsbbtError

_IDX_ROLES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
              "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

MNIST = FileSetSpec(
    name="mnist",
    files=tuple(RemoteFile(f, s) for f, s in zip(_IDX_ROLES, (
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    ), strict=True)),
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
             "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    system_dirs=(Path("/usr/share/datasets/mnist"),),
)

FASHION_MNIST = FileSetSpec(
    name="fashion-mnist",
    files=tuple(RemoteFile(f, s) for f, s in zip(_IDX_ROLES, (
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    ), strict=True)),
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
             "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
    # Debian's dataset-fashion-mnist; its files are re-compressed, so their gzip bytes differ
    # from the published checksums although the contents are the same.
    system_dirs=(Path("/usr/share/datasets/fashion-mnist"),),
)

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")


def load_idx_dataset(spec: FileSetSpec, class_names: tuple[str, ...],
                     data_dir: Path | None = None) -> ImageDataset:
    """Load a four-file IDX dataset (MNIST layout), found or fetched by :func:`locate_files`."""
    paths = locate_files(spec, data_dir)
    train_x, train_y, test_x, test_y = (read_idx(paths[role]) for role in _IDX_ROLES)
    for images, labels, split in ((train_x, train_y, "train"), (test_x, test_y, "t10k")):
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise FsbbtError(f"{spec.name}: {split} images {images.shape} and labels "
                             f"{labels.shape} do not match; replace the {split} files")
        if labels.max(initial=0) >= len(class_names):
            raise FsbbtError(f"{spec.name}: {split} labels go up to {labels.max()}, "
                             f"but there are {len(class_names)} classes; replace the files")
    return ImageDataset(spec.name, train_x[:, None], train_y.astype(np.int64),
                        test_x[:, None], test_y.astype(np.int64), class_names)


LOADERS: dict[str, Callable[[Path | None], ImageDataset]] = {
    "digits": lambda data_dir: load_digits_dataset(),
    "mnist": lambda data_dir: load_idx_dataset(MNIST, tuple(str(d) for d in range(10)), data_dir),
    "fashion-mnist": lambda data_dir: load_idx_dataset(FASHION_MNIST, FASHION_CLASSES, data_dir),
}


def load_dataset(name: str, data_dir: Path | None = None) -> ImageDataset:
    """The dataset called ``name``; raises a one-line error for an unknown name."""
    if name not in LOADERS:
        raise FsbbtError(f"unknown dataset {name!r}; choose one of {', '.join(sorted(LOADERS))}")
    return LOADERS[name](data_dir)
