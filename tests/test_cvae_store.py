"""A seed's trained CVAE is kept on disk: a later process reads it instead of training it
again, and only when it was trained from exactly the same inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fsbbt.core.errors import FsbbtError
from fsbbt.synth import CvaeConfig, SeedImages, cvae_store
from fsbbt.synth.cvae_store import CVAE_DIR, cvae_file, cvae_identity, stored_or_trained_cvae

RECIPE = CvaeConfig(kind="mlp", epochs=2, batch_size=32)


def _cvae(images, labels, settings: CvaeConfig, seed: int, store: Path | None):
    """The stored or trained CVAE of these inputs, named by their identity."""
    key = cvae_identity(images, labels, 10, settings, seed)
    return stored_or_trained_cvae(SeedImages(images, labels, 10, seed), settings, key, store)


def _file(store: Path, images, labels, settings: CvaeConfig, seed: int) -> Path:
    return cvae_file(store, settings, seed, cvae_identity(images, labels, 10, settings, seed))


@pytest.fixture
def few() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (64, 1, 28, 28), dtype=np.uint8), rng.integers(0, 10, 64)


@pytest.fixture
def trainings(monkeypatch) -> list[int]:
    """The seeds of every CVAE training that actually ran."""
    seeds: list[int] = []
    real_train = cvae_store.train_cvae

    def counted(*args, **kwargs):
        seeds.append(args[-1])
        return real_train(*args, **kwargs)

    monkeypatch.setattr(cvae_store, "train_cvae", counted)
    return seeds


def test_second_call_reads_the_stored_cvae(tmp_path: Path, few, trainings) -> None:
    images, labels = few
    first = _cvae(images, labels, RECIPE, 1, tmp_path)
    second = _cvae(images, labels, RECIPE, 1, tmp_path)
    assert trainings == [1]
    assert not second.training
    for key, tensor in first.state_dict().items():
        assert torch.equal(second.state_dict()[key], tensor), key
    assert [path.name for path in tmp_path.iterdir()] == [_file(tmp_path, images, labels, RECIPE, 1).name]


def test_other_inputs_train_a_cvae_of_their_own(tmp_path: Path, few, trainings) -> None:
    images, labels = few
    _cvae(images, labels, RECIPE, 1, tmp_path)
    other_teacher = (labels + 1) % 10
    _cvae(images, other_teacher, RECIPE, 1, tmp_path)
    _cvae(images, labels, RECIPE, 2, tmp_path)
    _cvae(images, labels, CvaeConfig(kind="mlp", epochs=3, batch_size=32), 1, tmp_path)
    assert trainings == [1, 1, 2, 1]
    assert len(list(tmp_path.glob("*.pt"))) == 4


def test_without_a_store_nothing_is_written(tmp_path: Path, few, trainings) -> None:
    images, labels = few
    _cvae(images, labels, RECIPE, 1, None)
    _cvae(images, labels, RECIPE, 1, None)
    assert trainings == [1, 1]


def test_unreadable_stored_cvae_is_a_one_line_error(tmp_path: Path, few) -> None:
    images, labels = few
    _file(tmp_path, images, labels, RECIPE, 1).write_bytes(b"not a state dict")
    with pytest.raises(FsbbtError, match="delete it and the CVAE is trained again"):
        _cvae(images, labels, RECIPE, 1, tmp_path)


def test_resumed_run_reuses_the_seeds_cvae(run_cli, tmp_path: Path) -> None:
    """FS-BBT* added to a finished FS-BBT run builds the same synthetic set in a new process:
    its CVAE is read from the run directory, so the resumed synthesis skips the training."""
    common = [
        "run",
        "digits",
        "--set",
        "n_fewshot=200",
        "--set",
        "teacher.epochs=1",
        "--set",
        "student.epochs=1",
        "--set",
        "cvae.epochs=3",
        "--set",
        "synthesis.budget=400",
        "--set",
        "curve_points=0",
    ]
    out = tmp_path / "run"
    first = run_cli(*common, "--set", "methods=[fsbbt/lenet5-half]", "--out", out)
    assert "train CVAE" in first.stderr
    stored = list((out / CVAE_DIR).glob("seed1-mlp-*.pt"))
    assert len(stored) == 1
    written = stored[0].stat().st_mtime_ns

    resumed = run_cli(*common, "--set", "methods=[fsbbt/lenet5-half,fsbbt/lenet5]", "--out", out)
    assert f"CVAE trained by an earlier run: {stored[0]}" in resumed.stderr
    assert "train CVAE" not in resumed.stderr
    assert stored[0].stat().st_mtime_ns == written
    results = json.loads((out / "results.json").read_text())
    assert set(results["methods"]) == {"fsbbt/lenet5-half", "fsbbt/lenet5"}
    assert results["queries"]["sent"] == 0  # the ledger answers the rebuilt set
