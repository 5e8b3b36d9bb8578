"""The training loop, its augmentations, evaluation, and the config's refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fsbbt.core.errors import FsbbtError
from fsbbt.core.tensors import float_to_uint8, one_hot, uint8_to_float
from fsbbt.data.digits import load_digits_dataset
from fsbbt.experiment.config import load_config
from fsbbt.models import build_classifier
from fsbbt.train import TrainRecipe, evaluate_classifier, fit_classifier
from fsbbt.train.augment import GREY_GEOMETRY, mix_with_random_batch, random_affine
from fsbbt.train.evaluate import score_predictions


def test_uint8_float_round_trip_is_exact() -> None:
    images = np.arange(256, dtype=np.uint8).reshape(1, 1, 16, 16)
    np.testing.assert_array_equal(float_to_uint8(uint8_to_float(images)), images)


def test_affine_moves_pixels_but_keeps_shape() -> None:
    images = torch.zeros(8, 1, 28, 28)
    images[:, :, 10:18, 10:18] = 1.0
    moved = random_affine(images, np.random.default_rng(0), GREY_GEOMETRY)
    assert moved.shape == images.shape
    assert not torch.allclose(moved, images)


def test_batch_mixing_interpolates_soft_targets() -> None:
    rng = np.random.default_rng(0)
    images = torch.rand(16, 1, 8, 8)
    targets = torch.from_numpy(one_hot(np.arange(16) % 4, 4))
    mixed_images, mixed_targets = mix_with_random_batch(images, targets, images, targets, rng)
    torch.testing.assert_close(mixed_targets.sum(1), torch.ones(16))
    assert mixed_images.min() >= 0 and mixed_images.max() <= 1
    assert (mixed_targets.max(1).values < 1).any()  # some rows really are mixtures


def test_fit_learns_digits_and_is_deterministic() -> None:
    data = load_digits_dataset()
    targets = one_hot(data.train_labels, 10)
    accuracies = []
    for _ in range(2):
        torch.manual_seed(0)
        model = build_classifier("lenet5-half", data.input_shape, 10)
        history = fit_classifier(
            model,
            data.train_images,
            targets,
            TrainRecipe(epochs=3, batch_size=64, augmentation="combination"),
            seed=0,
        )
        assert history.epoch_loss[-1] < history.epoch_loss[0]
        accuracies.append(evaluate_classifier(model, data.test_images, data.test_labels, 10).accuracy)
    assert accuracies[0] == accuracies[1] and accuracies[0] > 0.5


def test_macro_f1_counts_every_class() -> None:
    scores = score_predictions(np.array([0, 0, 1, 1]), np.array([0, 0, 1, 2]), 3)
    assert scores.accuracy == 0.75
    assert abs(scores.macro_f1 - (1 + 2 / 3 + 0) / 3) < 1e-9


def test_presets_load_with_the_papers_settings() -> None:
    fashion = load_config("fashion-mnist")
    assert (fashion.n_fewshot, fashion.synthesis.budget, fashion.cvae.epochs) == (2000, 48000, 200)
    assert (fashion.student.epochs, fashion.student.batch_size) == (50, 64)
    mnist = load_config("mnist")
    assert (mnist.synthesis.budget, mnist.cvae.epochs) == (24000, 100)
    assert (mnist.teacher.epochs, mnist.teacher.batch_size) == (20, 64)


def test_unknown_key_is_named_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("dataset: digits\nstudent: {epoch: 3}\n")
    with pytest.raises(FsbbtError, match="unknown config key 'student.epoch'") as error:
        load_config(path)
    assert "\n" not in str(error.value)
    with pytest.raises(FsbbtError, match="unknown config key 'synthesis.budgett'"):
        load_config("digits", ["synthesis.budgett=3"])


def test_overrides_are_parsed_as_yaml() -> None:
    config = load_config("digits", ["student.epochs=3", "seeds=[4, 5]", "cvae.sampling=uniform"])
    assert config.student.epochs == 3 and config.seeds == [4, 5]
    assert config.cvae.sampling == "uniform"
    with pytest.raises(FsbbtError, match="student.augmentation"):
        load_config("digits", ["student.augmentation=sideways"])
    with pytest.raises(FsbbtError, match="METHOD/STUDENT_ARCH"):
        load_config("digits", ["methods=[fsbbt]"])
