"""Dataset name → loader: the one place a new dataset is registered."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from fsbbt.core.errors import FsbbtError
from fsbbt.data.cifar import load_cifar_pickles
from fsbbt.data.dataset import ImageDataset
from fsbbt.data.digits import load_digits_dataset
from fsbbt.data.idx import read_idx
from fsbbt.data.image_tree import is_image_tree, load_image_tree
from fsbbt.data.locate import FileSetSpec, RemoteFile, complete_in, locate, locate_files

_IDX_ROLES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def _idx_file_set(
    name: str, sha256s: tuple[str, str, str, str], mirrors: tuple[str, ...], system_dir: Path
) -> FileSetSpec:
    """The four IDX files of an MNIST-layout dataset, with their published checksums."""
    return FileSetSpec(
        name=name,
        files=tuple(RemoteFile(f, s) for f, s in zip(_IDX_ROLES, sha256s, strict=True)),
        mirrors=mirrors,
        system_dirs=(system_dir,),
    )


MNIST = _idx_file_set(
    "mnist",
    (
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    ),
    ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    Path("/usr/share/datasets/mnist"),
)

FASHION_MNIST = _idx_file_set(
    "fashion-mnist",
    (
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    ),
    (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
    # Debian's dataset-fashion-mnist; its files are re-compressed, so their gzip bytes differ
    # from the published checksums although the contents are the same.
    Path("/usr/share/datasets/fashion-mnist"),
)

FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def load_idx_dataset(
    spec: FileSetSpec, class_names: tuple[str, ...], data_dir: Path | None = None
) -> ImageDataset:
    """Load a four-file IDX dataset (MNIST layout), found or fetched by :func:`locate_files`."""
    paths = locate_files(spec, data_dir)
    train_x, train_y, test_x, test_y = (read_idx(paths[role]) for role in _IDX_ROLES)
    for images, labels, split in ((train_x, train_y, "train"), (test_x, test_y, "t10k")):
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise FsbbtError(
                f"{spec.name}: {split} images {images.shape} and labels "
                f"{labels.shape} do not match; replace the {split} files"
            )
        if labels.max(initial=0) >= len(class_names):
            raise FsbbtError(
                f"{spec.name}: {split} labels go up to {labels.max()}, "
                f"but there are {len(class_names)} classes; replace the files"
            )
    return ImageDataset(
        spec.name,
        train_x[:, None],
        train_y.astype(np.int64),
        test_x[:, None],
        test_y.astype(np.int64),
        class_names,
    )


_TREE_LAYOUT = "an image-folder tree (train/CLASS/*.jpg, test/CLASS/*.jpg)"
TORONTO = "https://www.cs.toronto.edu/~kriz/"

CIFAR10 = FileSetSpec(
    name="cifar10",
    files=(
        RemoteFile(
            "cifar-10-python.tar.gz", "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
        ),
    ),
    mirrors=(TORONTO, "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"),
    members=tuple(
        f"cifar-10-batches-py/{name}"
        for name in (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta")
    ),
    also_accepted=_TREE_LAYOUT,
)

CIFAR100 = FileSetSpec(
    name="cifar100",
    files=(
        RemoteFile(
            "cifar-100-python.tar.gz", "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"
        ),
    ),
    mirrors=(TORONTO,),
    members=tuple(f"cifar-100-python/{name}" for name in ("train", "test", "meta")),
    also_accepted=_TREE_LAYOUT,
)

# CIFAR-10's label order; also the sorted folder names of an image-folder copy of it.
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR_SHAPE = (3, 32, 32)

DatasetThunk = Callable[[], ImageDataset]


def _cifar_probe(
    spec: FileSetSpec,
    read_pickles: Callable[[list[Path]], ImageDataset],
    tree_classes: tuple[str, ...] | None,
    class_count: int,
) -> Callable[[Path], DatasetThunk | None]:
    """Accept a folder holding the canonical pickles or, failing that, an image-folder copy
    with the dataset's classes (exactly ``tree_classes`` if given, else ``class_count`` of them)."""

    def probe(directory: Path) -> DatasetThunk | None:
        files = complete_in(directory, spec)
        if files is not None:
            return lambda: read_pickles([files[member] for member in spec.members])
        if is_image_tree(directory, tree_classes, class_count):
            return lambda: load_image_tree(directory, spec.name, tree_classes, CIFAR_SHAPE)
        return None

    return probe


def load_cifar10(data_dir: Path | None = None) -> ImageDataset:
    """CIFAR-10: the canonical pickles (found, extracted or downloaded), or a JPEG/PNG tree."""

    def read(paths: list[Path]) -> ImageDataset:
        *train, test, meta = paths
        return load_cifar_pickles("cifar10", train, test, meta, "labels", "label_names")

    return locate(CIFAR10, data_dir, _cifar_probe(CIFAR10, read, CIFAR10_CLASSES, 10))()


def load_cifar100(data_dir: Path | None = None) -> ImageDataset:
    """CIFAR-100 with its 100 fine labels (names from ``meta``), or an image-folder tree of
    100 class folders (labels in sorted folder order)."""

    def read(paths: list[Path]) -> ImageDataset:
        train, test, meta = paths
        return load_cifar_pickles("cifar100", [train], test, meta, "fine_labels", "fine_label_names")

    return locate(CIFAR100, data_dir, _cifar_probe(CIFAR100, read, None, 100))()


def load_image_folder_dataset(data_dir: Path | None) -> ImageDataset:
    """Any labelled tree ``DATA_DIR/train/CLASS/*``, ``DATA_DIR/test/CLASS/*``."""
    if data_dir is None:
        raise FsbbtError(
            "dataset image-folder needs a folder; pass --data-dir ROOT (or set "
            "data_dir) with ROOT/train/CLASS/* and ROOT/test/CLASS/*"
        )
    return load_image_tree(Path(data_dir), "image-folder")


LOADERS: dict[str, Callable[[Path | None], ImageDataset]] = {
    "digits": lambda data_dir: load_digits_dataset(),
    "mnist": lambda data_dir: load_idx_dataset(MNIST, tuple(str(d) for d in range(10)), data_dir),
    "fashion-mnist": lambda data_dir: load_idx_dataset(FASHION_MNIST, FASHION_CLASSES, data_dir),
    "cifar10": load_cifar10,
    "cifar100": load_cifar100,
    "image-folder": load_image_folder_dataset,
}


def load_dataset(name: str, data_dir: Path | None = None) -> ImageDataset:
    """The dataset called ``name``; raises a one-line error for an unknown name."""
    if name not in LOADERS:
        raise FsbbtError(f"unknown dataset {name!r}; choose one of {', '.join(sorted(LOADERS))}")
    return LOADERS[name](data_dir)
