"""Dataset loading: IDX parsing, the search order, verified downloads, few-shot draws."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from fsbbt.core.errors import FsbbtError
from fsbbt.data import hold_out_validation, load_dataset, sample_fewshot_indices
from fsbbt.data.catalog import FASHION_MNIST, MNIST, load_idx_dataset
from fsbbt.data.digits import load_digits_dataset
from fsbbt.data.idx import read_idx, write_idx
from fsbbt.data.locate import FileSetSpec, RemoteFile, locate_files

ROLES = [f.filename for f in MNIST.files]


def write_tiny_idx_set(folder: Path, n_train: int = 30, n_test: int = 20, seed: int = 0) -> dict:
    """Four MNIST-layout files with random images; returns the arrays written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        ROLES[0]: rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        ROLES[1]: (np.arange(n_train) % 10).astype(np.uint8),
        ROLES[2]: rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        ROLES[3]: (np.arange(n_test) % 10).astype(np.uint8),
    }
    for name, array in arrays.items():
        write_idx(folder / name, array)
    return arrays


def test_idx_round_trip_gz_and_raw(tmp_path: Path) -> None:
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    for name in ("a.idx.gz", "a.idx"):
        write_idx(tmp_path / name, images)
        np.testing.assert_array_equal(read_idx(tmp_path / name), images)


def test_truncated_idx_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "x-idx3-ubyte"
    write_idx(path, np.zeros((5, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(FsbbtError, match="truncated or corrupt") as error:
        read_idx(path)
    assert "\n" not in str(error.value)
    path.write_bytes(b"<html>not idx</html>")
    with pytest.raises(FsbbtError, match="bad magic"):
        read_idx(path)


def test_mnist_loads_from_data_dir_in_canonical_shape(isolated_locations: Path) -> None:
    arrays = write_tiny_idx_set(isolated_locations / "mine" / "mnist")
    dataset = load_dataset("mnist", isolated_locations / "mine")
    assert dataset.train_images.shape == (30, 1, 28, 28) and dataset.test_images.shape[0] == 20
    np.testing.assert_array_equal(dataset.train_images[:, 0], arrays[ROLES[0]])
    assert dataset.num_classes == 10 and dataset.input_shape == (1, 28, 28)


def test_search_order_prefers_data_dir_then_env_then_cache(
    isolated_locations: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tiny_idx_set(isolated_locations / "explicit", seed=1)
    write_tiny_idx_set(isolated_locations / "env", seed=2)
    write_tiny_idx_set(isolated_locations / "cache" / "fashion-mnist", seed=3)
    monkeypatch.setenv("FSBBT_DATA", str(isolated_locations / "env"))
    spec = replace(FASHION_MNIST, system_dirs=())
    assert locate_files(spec, isolated_locations / "explicit")[ROLES[0]].parent.name == "explicit"
    assert locate_files(spec, None)[ROLES[0]].parent.name == "env"
    monkeypatch.delenv("FSBBT_DATA")
    assert locate_files(spec, None)[ROLES[0]].parent.name == "fashion-mnist"


def test_nothing_found_lists_every_place_tried(isolated_locations: Path) -> None:
    spec = replace(MNIST, system_dirs=(isolated_locations / "system",))
    with pytest.raises(FsbbtError) as error:
        locate_files(spec, isolated_locations / "nowhere")
    message = str(error.value)
    for place in ("nowhere", "cache", "system", "FSBBT_OFFLINE", "--data-dir"):
        assert place in message
    assert "\n" not in message


@contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """A real HTTP server on loopback serving ``folder``; yields its base URL."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _spec_for(folder: Path, mirrors: tuple[str, ...], tamper: bool = False) -> FileSetSpec:
    files = []
    for role in ROLES:
        digest = hashlib.sha256((folder / role).read_bytes()).hexdigest()
        files.append(RemoteFile(role, "0" * 64 if tamper and role == ROLES[0] else digest))
    return FileSetSpec("mnist", tuple(files), mirrors, ())


def test_download_from_mirror_verifies_and_caches(
    isolated_locations: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = isolated_locations / "served"
    arrays = write_tiny_idx_set(served)
    monkeypatch.setenv("FSBBT_OFFLINE", "0")
    with serve_folder(served) as url:
        # the first mirror is dead: the loader must fall through to the next one
        spec = _spec_for(served, ("http://127.0.0.1:9/", url))
        dataset = load_idx_dataset(spec, tuple(str(d) for d in range(10)))
    np.testing.assert_array_equal(dataset.test_images[:, 0], arrays[ROLES[2]])
    cached = isolated_locations / "cache" / "mnist"
    assert sorted(p.name for p in cached.iterdir()) == sorted(ROLES)


def test_download_with_wrong_checksum_keeps_nothing(
    isolated_locations: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = isolated_locations / "served"
    write_tiny_idx_set(served)
    monkeypatch.setenv("FSBBT_OFFLINE", "0")
    with serve_folder(served) as url:
        with pytest.raises(FsbbtError, match="checksum mismatch"):
            locate_files(_spec_for(served, (url,), tamper=True))
    cache = isolated_locations / "cache" / "mnist"
    assert not cache.exists() or not any(cache.iterdir())


def test_mirror_from_environment_is_tried_first(
    isolated_locations: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = isolated_locations / "served"
    write_tiny_idx_set(served)
    monkeypatch.setenv("FSBBT_OFFLINE", "0")
    with serve_folder(served) as url:
        monkeypatch.setenv("FSBBT_MIRRORS", url)
        found = locate_files(_spec_for(served, ("http://127.0.0.1:9/",)))
    assert set(found) == set(ROLES)


def test_digits_is_upscaled_and_split_the_same_way_every_time() -> None:
    first, second = load_digits_dataset(), load_digits_dataset()
    assert first.train_images.shape == (1347, 1, 28, 28)
    assert first.test_images.shape == (450, 1, 28, 28)
    assert first.train_images.dtype == np.uint8 and first.train_images.max() > 200
    np.testing.assert_array_equal(first.test_labels, second.test_labels)


def test_fewshot_is_balanced_seeded_and_distinct() -> None:
    labels = np.repeat(np.arange(10), 50)
    picked = sample_fewshot_indices(labels, 200, 10, seed=3)
    assert len(set(picked.tolist())) == 200
    assert np.bincount(labels[picked], minlength=10).tolist() == [20] * 10
    np.testing.assert_array_equal(picked, sample_fewshot_indices(labels, 200, 10, seed=3))
    assert not np.array_equal(picked, sample_fewshot_indices(labels, 200, 10, seed=4))
    with pytest.raises(FsbbtError, match="multiple of"):
        sample_fewshot_indices(labels, 205, 10, seed=0)
    with pytest.raises(FsbbtError, match="fewer than"):
        sample_fewshot_indices(labels, 600, 10, seed=0)


def test_a_validation_split_is_held_out_of_the_training_split() -> None:
    digits = load_dataset("digits")
    held = hold_out_validation(digits, 200, seed=0)
    assert np.bincount(held.test_labels, minlength=10).tolist() == [20] * 10
    # the two parts are exactly the training split, each image on one side only
    together = np.concatenate([held.train_images, held.test_images])
    labels = np.concatenate([held.train_labels, held.test_labels])
    order = np.lexsort(together.reshape(len(together), -1).T)
    original = np.lexsort(digits.train_images.reshape(len(digits.train_images), -1).T)
    np.testing.assert_array_equal(together[order], digits.train_images[original])
    assert sorted(labels.tolist()) == sorted(digits.train_labels.tolist())
    assert len(held.train_images) == len(digits.train_images) - 200
    np.testing.assert_array_equal(hold_out_validation(digits, 200, seed=0).test_images, held.test_images)
