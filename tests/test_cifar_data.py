"""CIFAR-10/100 pickles (read safely), the archive path, and labelled image-folder trees."""

from __future__ import annotations

import hashlib
import os
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from cifar_fixtures import (
    CIFAR10_NAMES,
    write_cifar10,
    write_cifar100,
    write_image_tree,
    write_tarball,
)
from test_data import serve_folder

from fsbbt.core.errors import FsbbtError
from fsbbt.data import catalog, image_tree, load_dataset
from fsbbt.data.catalog import CIFAR10, load_cifar10
from fsbbt.data.cifar import read_cifar_pickle
from fsbbt.data.locate import RemoteFile


def test_cifar10_pickles_load_in_canonical_order(isolated_locations: Path) -> None:
    written = write_cifar10(isolated_locations / "data")
    dataset = load_dataset("cifar10", isolated_locations / "data")
    assert dataset.train_images.shape == (100, 3, 32, 32) and dataset.test_images.shape[0] == 30
    np.testing.assert_array_equal(dataset.train_images, written["train_images"])
    np.testing.assert_array_equal(dataset.train_labels, written["train_labels"])
    np.testing.assert_array_equal(dataset.test_images, written["test_images"])
    assert dataset.class_names == tuple(CIFAR10_NAMES) and dataset.input_shape == (3, 32, 32)
    # pointing at the extracted folder itself works too
    again = load_dataset("cifar10", isolated_locations / "data" / "cifar-10-batches-py")
    np.testing.assert_array_equal(again.test_labels, written["test_labels"])


def test_cifar100_uses_fine_labels_and_meta_names(isolated_locations: Path) -> None:
    written = write_cifar100(isolated_locations / "data")
    dataset = load_dataset("cifar100", isolated_locations / "data")
    assert dataset.num_classes == 100 and dataset.class_names[7] == "class07"
    np.testing.assert_array_equal(dataset.train_labels, written["train_labels"])
    assert dataset.train_labels.max() == 99  # fine, not the 20 coarse labels
    np.testing.assert_array_equal(dataset.test_images, written["test_images"])


class _RunsShell:
    """What an attacker would put in a file named data_batch_1."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple:
        return (os.system, (self.command,))


class _Evaluates:
    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self) -> tuple:
        return (eval, (self.code,))


@pytest.mark.parametrize("payload", ["shell", "eval"])
def test_crafted_pickle_is_refused_without_running_anything(isolated_locations: Path, payload: str) -> None:
    write_cifar10(isolated_locations / "data")
    marker = isolated_locations / "pwned"
    attack = (
        _RunsShell(f"touch {marker}")
        if payload == "shell"
        else _Evaluates(f"open({str(marker)!r}, 'w').close()")
    )
    batch = isolated_locations / "data" / "cifar-10-batches-py" / "data_batch_1"
    batch.write_bytes(pickle.dumps({b"data": attack, b"labels": [0]}, protocol=4))
    with pytest.raises(FsbbtError) as error:
        load_dataset("cifar10", isolated_locations / "data")
    message = str(error.value)
    assert "\n" not in message and "refused" in message and "data_batch_1" in message
    assert ("system" in message) or ("eval" in message)
    assert not marker.exists()


@pytest.mark.parametrize(
    "content, needle",
    [
        (b"this is not a pickle", "not a readable CIFAR pickle"),
        (pickle.dumps([1, 2, 3], protocol=4), "not a CIFAR batch dict"),
        (
            pickle.dumps({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, protocol=4),
            "should be uint8",
        ),
        (
            pickle.dumps({b"data": np.zeros((3, 3072), np.uint8), b"labels": [0, 1]}, protocol=4),
            "3 images but 2 labels",
        ),
        (
            pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, protocol=4),
            "outside 0..9",
        ),
        (pickle.dumps({b"labels": [0]}, protocol=4), "no 'data' entry"),
    ],
)
def test_bad_batch_files_are_one_line_errors(isolated_locations: Path, content: bytes, needle: str) -> None:
    write_cifar10(isolated_locations / "data")
    (isolated_locations / "data" / "cifar-10-batches-py" / "data_batch_3").write_bytes(content)
    with pytest.raises(FsbbtError, match=needle) as error:
        load_dataset("cifar10", isolated_locations / "data")
    message = str(error.value)
    assert "\n" not in message and ("replace" in message or "fetch" in message)


def test_truncated_pickle_is_a_one_line_error(isolated_locations: Path) -> None:
    write_cifar10(isolated_locations / "data")
    batch = isolated_locations / "data" / "cifar-10-batches-py" / "test_batch"
    batch.write_bytes(batch.read_bytes()[:5000])
    with pytest.raises(FsbbtError, match="not a readable CIFAR pickle"):
        read_cifar_pickle(batch)


def test_archive_in_data_dir_is_extracted_into_the_cache(isolated_locations: Path) -> None:
    written = write_cifar10(isolated_locations / "build")
    (isolated_locations / "mine").mkdir()
    write_tarball(
        isolated_locations / "build" / "cifar-10-batches-py",
        isolated_locations / "mine" / "cifar-10-python.tar.gz",
    )
    dataset = load_dataset("cifar10", isolated_locations / "mine")
    np.testing.assert_array_equal(dataset.train_images, written["train_images"])
    assert (isolated_locations / "cache" / "cifar10" / "cifar-10-batches-py" / "data_batch_5").is_file()
    assert not list((isolated_locations / "cache").rglob("*.part"))


def test_archive_download_is_verified_then_extracted(
    isolated_locations: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = write_cifar10(isolated_locations / "build")
    served = isolated_locations / "served"
    served.mkdir()
    archive = served / "cifar-10-python.tar.gz"
    write_tarball(isolated_locations / "build" / "cifar-10-batches-py", archive)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    monkeypatch.setenv("FSBBT_OFFLINE", "0")
    with serve_folder(served) as url:
        bad = replace(CIFAR10, files=(RemoteFile(archive.name, "0" * 64),), mirrors=(url,))
        monkeypatch.setattr(catalog, "CIFAR10", bad)
        with pytest.raises(FsbbtError, match="checksum mismatch") as error:
            load_cifar10()
        assert "cifar-10-batches-py/ folder" in str(error.value)
        assert "image-folder tree" in str(error.value)
        assert not (isolated_locations / "cache" / "cifar10" / archive.name).exists()
        good = replace(CIFAR10, files=(RemoteFile(archive.name, digest),), mirrors=(url,))
        monkeypatch.setattr(catalog, "CIFAR10", good)
        dataset = load_cifar10()
    np.testing.assert_array_equal(dataset.test_images, written["test_images"])


def test_nothing_found_names_both_layouts(isolated_locations: Path) -> None:
    with pytest.raises(FsbbtError) as error:
        load_dataset("cifar100", isolated_locations / "nowhere")
    message = str(error.value)
    assert "cifar-100-python.tar.gz" in message and "image-folder tree" in message
    assert "\n" not in message


def test_cifar10_from_an_image_tree_is_decoded_once_then_cached(
    isolated_locations: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = isolated_locations / "jpeg"
    write_image_tree(root, CIFAR10_NAMES, {"train": 3, "test": 2})
    first = load_dataset("cifar10", root)
    assert first.train_images.shape == (30, 3, 32, 32) and first.test_images.shape == (20, 3, 32, 32)
    assert first.class_names == tuple(CIFAR10_NAMES)
    np.testing.assert_array_equal(first.train_labels, np.repeat(np.arange(10), 3))
    assert len(list((isolated_locations / "cache" / "decoded").glob("cifar10-*.npz"))) == 1

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("the second load must come from the cache")

    monkeypatch.setattr(image_tree, "read_images", no_decoding)
    second = load_dataset("cifar10", root)
    np.testing.assert_array_equal(second.train_images, first.train_images)
    np.testing.assert_array_equal(second.test_labels, first.test_labels)

    # a changed tree is a new key: decoded again, never served stale
    monkeypatch.undo()
    monkeypatch.setenv("FSBBT_CACHE", str(isolated_locations / "cache"))
    monkeypatch.setenv("FSBBT_OFFLINE", "1")
    write_image_tree(root, CIFAR10_NAMES[:1], {"train": 4}, seed=5)
    third = load_dataset("cifar10", root)
    assert len(third.train_images) == 31


def test_generic_image_folder_needs_data_dir_and_reads_any_classes(isolated_locations: Path) -> None:
    with pytest.raises(FsbbtError, match="needs a folder; pass --data-dir"):
        load_dataset("image-folder")
    root = isolated_locations / "pets"
    write_image_tree(root, ["cat", "dog", "fish"], {"train": 2, "test": 1}, size=20)
    dataset = load_dataset("image-folder", root)
    assert dataset.class_names == ("cat", "dog", "fish")
    assert dataset.input_shape == (3, 20, 20) and len(dataset.train_images) == 6
    (root / "test" / "bird").mkdir()
    (root / "test" / "bird" / "x.png").write_bytes(b"")
    with pytest.raises(FsbbtError, match="not one of the classes"):
        load_dataset("image-folder", root)


def test_unreadable_image_in_a_tree_is_named(isolated_locations: Path) -> None:
    root = isolated_locations / "tree"
    write_image_tree(root, ["a", "b"], {"train": 2, "test": 1})
    (root / "train" / "a" / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(FsbbtError, match="broken.jpg is not a readable image"):
        load_dataset("image-folder", root)
