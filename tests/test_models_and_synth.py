"""Networks as docs/method.md specifies them, and the synthesis rules of FS-BBT."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from layer_helpers import conv_filters, dense_widths

from fsbbt.core.errors import FsbbtError
from fsbbt.core.tensors import float_to_uint8
from fsbbt.models import build_classifier, build_cvae
from fsbbt.synth import CvaeConfig, mix_pairs, mixup_from_fewshot, sample_cvae, train_cvae
from fsbbt.synth.cvae import balanced_conditions, draw_latents
from fsbbt.synth.mixup import MIX_CHUNK


def test_lenet5_and_half_have_the_papers_layers() -> None:
    full = build_classifier("lenet5", (1, 28, 28), 10)
    half = build_classifier("lenet5-half", (1, 28, 28), 10)
    assert conv_filters(full) == [6, 16] and conv_filters(half) == [3, 8]
    assert dense_widths(full) == [120, 84, 10] == dense_widths(half)
    # second conv is "same"-padded: 16 × 6 × 6 features reach the first dense layer
    assert full.classifier[1].in_features == 16 * 6 * 6
    assert full(torch.zeros(4, 1, 28, 28)).shape == (4, 10)
    assert sum(p.numel() for p in half.parameters()) < sum(p.numel() for p in full.parameters())


def test_networks_start_keras_style() -> None:
    model = build_classifier("lenet5", (1, 28, 28), 10)
    for layer in model.modules():
        if isinstance(layer, torch.nn.Linear | torch.nn.Conv2d):
            assert torch.count_nonzero(layer.bias) == 0


def test_unknown_architecture_is_refused() -> None:
    with pytest.raises(FsbbtError, match="choose one of"):
        build_classifier("resnet9000", (1, 28, 28), 10)


def test_mlp_cvae_shapes_and_latent_size() -> None:
    cvae = build_cvae("mlp", (1, 28, 28), 10, latent_dim=2)
    images, conditions = torch.rand(5, 1, 28, 28), torch.eye(10)[:5]
    reconstruction, mean, log_var = cvae(images, conditions)
    assert reconstruction.shape == images.shape and mean.shape == log_var.shape == (5, 2)
    assert 0 <= reconstruction.min() and reconstruction.max() <= 1


def test_mixup_drops_near_copies_and_counts_them() -> None:
    images = np.random.default_rng(0).integers(0, 256, (50, 1, 28, 28), dtype=np.uint8)
    draw = mixup_from_fewshot(images, budget=2000, alpha=1.0, threshold=0.05, rng=np.random.default_rng(1))
    assert len(draw.images_uint8) + draw.dropped_count == 2000
    assert draw.mixing_weights.min() > 0.05 and draw.mixing_weights.max() < 0.95
    # λ is rounded to 2 decimals; with Beta(1, 1) about 11 % of pairs are near-copies
    np.testing.assert_allclose(draw.mixing_weights, np.round(draw.mixing_weights, 2), atol=1e-6)
    assert 0.07 < draw.dropped_count / 2000 < 0.15
    again = mixup_from_fewshot(images, 2000, 1.0, 0.05, np.random.default_rng(1))
    np.testing.assert_array_equal(draw.images_uint8, again.images_uint8)


def test_mix_pairs_is_the_rounded_blend_across_chunk_boundaries() -> None:
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (7, 1, 5, 5), dtype=np.uint8)
    count = 2 * MIX_CHUNK + 5  # three chunks, the last a short one
    first, second = rng.integers(0, 7, (2, count))
    weights = rng.uniform(0, 1, count).astype(np.float32)
    lam = weights[:, None, None, None]
    blend = lam * images[first].astype(np.float32) + (1 - lam) * images[second].astype(np.float32)
    mixed = mix_pairs(images, first, second, weights)
    assert mixed.dtype == np.uint8 and mixed.shape == (count, 1, 5, 5)
    # byte for byte what one pass over all pairs gives
    np.testing.assert_array_equal(mixed, float_to_uint8(blend / 255.0))
    np.testing.assert_array_equal(mix_pairs(images, first, second, 0.25)[-3:],
                                  mix_pairs(images, first[-3:], second[-3:], 0.25))  # fmt: skip


def test_mixup_threshold_sets_how_many_pairs_are_dropped() -> None:
    images = np.full((10, 1, 4, 4), 200, np.uint8)
    # τ = 0 drops only λ rounded to exactly 0 or 1 (≈ 1 %); τ = 0.2 drops ≈ 41 %
    loose = mixup_from_fewshot(images, 2000, 1.0, 0.0, np.random.default_rng(0))
    strict = mixup_from_fewshot(images, 2000, 1.0, 0.2, np.random.default_rng(0))
    assert loose.dropped_count < 50 < 600 < strict.dropped_count < 1000
    assert (loose.images_uint8 == 200).all()  # mixing equal images gives the same image


def test_latent_sampling_modes() -> None:
    rng = np.random.default_rng(0)
    gaussian = draw_latents(4000, 2, "gaussian", rng)
    uniform = draw_latents(4000, 2, "uniform", rng)
    hybrid = draw_latents(4000, 2, "hybrid", rng)
    assert abs(gaussian.std() - 1) < 0.05 and np.abs(uniform).max() <= 3
    assert abs(uniform.std() - np.sqrt(3)) < 0.05  # Uniform(−3, 3) has std √3
    assert np.abs(hybrid[2000:]).max() <= 3 and abs(hybrid[:2000].std() - 1) < 0.06


def test_conditions_are_class_balanced() -> None:
    classes = balanced_conditions(105, 10, np.random.default_rng(0))
    counts = np.bincount(classes, minlength=10)
    assert counts.max() - counts.min() <= 1 and counts.sum() == 105


def test_cvae_trains_and_samples_uint8_of_the_right_shape() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (64, 1, 28, 28), dtype=np.uint8)
    labels = np.arange(64) % 10
    cvae = train_cvae(images, labels, 10, CvaeConfig(epochs=2, batch_size=32), seed=0)
    samples, classes = sample_cvae(cvae, 25, 10, "hybrid", np.random.default_rng(0))
    assert samples.shape == (25, 1, 28, 28) and samples.dtype == np.uint8
    assert np.bincount(classes, minlength=10).min() >= 2
