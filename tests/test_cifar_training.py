"""CIFAR networks, the conv CVAE, the CIFAR-100 learning-rate schedule and precision."""

from __future__ import annotations

import contextlib
import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from layer_helpers import conv_filters, dense_widths

from fsbbt.core import precision
from fsbbt.core.errors import FsbbtError
from fsbbt.experiment.config import load_config
from fsbbt.models import build_classifier, build_cvae
from fsbbt.synth import CvaeConfig, sample_cvae, train_cvae
from fsbbt.train import TrainRecipe, fit_classifier, loop
from fsbbt.train.augment import CIFAR_GEOMETRY, GREY_GEOMETRY, geometry_for, random_affine
from fsbbt.train.batch_norm import RunningAverages, measure_statistics
from fsbbt.train.checkpoint import load_checkpoint
from fsbbt.train.evaluate import predict_probabilities
from fsbbt.train.schedule import Cifar100Schedule, ConstantSchedule, CosineSchedule, make_schedule


def test_alexnet_and_half_have_the_papers_layers() -> None:
    full = build_classifier("alexnet", (3, 32, 32), 10)
    half = build_classifier("alexnet-half", (3, 32, 32), 10)
    assert conv_filters(full) == [48, 128, 192, 192, 128] and conv_filters(half) == [24, 64, 96, 96, 64]
    assert dense_widths(full) == [512, 256, 10] and dense_widths(half) == [256, 128, 10]
    assert [m.kernel_size for m in full.modules() if isinstance(m, torch.nn.Conv2d)] == [
        (5, 5),
        (5, 5),
        (3, 3),
        (3, 3),
        (3, 3),
    ]
    batch_norms = [m for m in full.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert len(batch_norms) == 7 and all(bn.eps == 1e-3 for bn in batch_norms)
    assert sum(isinstance(m, torch.nn.Dropout) for m in full.modules()) == 2
    assert full.classifier[1].in_features == 128 * 3 * 3  # 32 → 15 → 7 → 3 ("valid" pools)
    for model in (full, half):
        assert model.eval()(torch.rand(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("arch, depth", [("resnet20", 20), ("resnet32", 32)])
def test_cifar_resnets_have_6n_plus_2_layers(arch: str, depth: int) -> None:
    model = build_classifier(arch, (3, 32, 32), 100)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
    weighted_layers = len(convs) + 1  # + the final dense layer; 1×1 shortcuts are not counted
    assert weighted_layers == depth
    assert sorted({c.out_channels for c in convs}) == [16, 32, 64]
    assert model(torch.rand(3, 3, 32, 32)).shape == (3, 100)


def test_square_images_are_required_for_alexnet() -> None:
    with pytest.raises(FsbbtError, match="AlexNet needs square images"):
        build_classifier("alexnet", (3, 32, 24), 10)


def test_conv_cvae_shapes_and_training_on_rgb() -> None:
    model = build_cvae("conv", (3, 32, 32), 10, 2)
    assert conv_filters(model) == [32, 64, 128, 256, 512]
    assert [m.out_channels for m in model.modules() if isinstance(m, torch.nn.ConvTranspose2d)] == [
        256,
        128,
        64,
        32,
        3,
    ]
    assert model.condition_plane.out_features == 32 * 32
    assert dense_widths(model.encoder)[-2:] == [32, 16] and model.to_mean.out_features == 2
    reconstruction, mean, log_var = model(torch.rand(4, 3, 32, 32), torch.eye(10)[:4])
    assert reconstruction.shape == (4, 3, 32, 32) and mean.shape == log_var.shape == (4, 2)
    assert 0 <= reconstruction.min() and reconstruction.max() <= 1
    with pytest.raises(FsbbtError, match="divisible by 32"):
        build_cvae("conv", (3, 28, 28), 10, 2)

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 3, 32, 32), dtype=np.uint8)
    trained = train_cvae(
        images, np.arange(40) % 10, 10, CvaeConfig(kind="conv", epochs=1, batch_size=16), seed=0
    )
    samples, classes = sample_cvae(trained, 20, 10, "hybrid", rng)
    assert samples.shape == (20, 3, 32, 32) and samples.dtype == np.uint8
    assert np.bincount(classes, minlength=10).tolist() == [2] * 10


def test_cifar100_schedule_values_at_the_milestones() -> None:
    schedule = Cifar100Schedule(1e-3)
    expected = {
        1: 1e-3,
        80: 1e-3,
        81: 1e-4,
        120: 1e-4,
        121: 1e-5,
        160: 1e-5,
        161: 1e-6,
        180: 1e-6,
        181: 5e-7,
        200: 5e-7,
    }
    for epoch, lr in expected.items():
        assert math.isclose(schedule.lr_at(epoch), lr, rel_tol=1e-9), epoch
    assert isinstance(make_schedule("constant", 0.1, 200), ConstantSchedule)
    assert make_schedule("constant", 0.1, 200).lr_at(190) == 0.1


def test_cosine_starts_at_the_base_rate_halves_midway_and_ends_near_zero() -> None:
    schedule = make_schedule("cosine", 1e-3, 50)
    assert isinstance(schedule, CosineSchedule)
    assert schedule.lr_at(1) == 1e-3
    assert math.isclose(schedule.lr_at(26), 5e-4, rel_tol=1e-9)
    rates = [schedule.lr_at(epoch) for epoch in range(1, 51)]
    assert all(later < earlier for earlier, later in itertools.pairwise(rates))
    assert 0 < rates[-1] < 1e-5


def test_plateau_of_five_epochs_cuts_by_sqrt_point_one_down_to_the_floor() -> None:
    schedule = Cifar100Schedule(1e-3)
    for loss in (2.0, 1.5, 1.0):
        schedule.observe(loss)
    assert schedule.lr_at(10) == 1e-3
    for _ in range(4):
        schedule.observe(1.0)  # no improvement, not yet five epochs
    assert schedule.lr_at(10) == 1e-3
    schedule.observe(1.0 - 1e-5)  # the fifth flat epoch: less than min_delta better
    assert math.isclose(schedule.lr_at(10), 1e-3 * math.sqrt(0.1))
    assert math.isclose(schedule.lr_at(81), 1e-4 * math.sqrt(0.1))
    for _ in range(5 * 20):
        schedule.observe(1.0)
    assert schedule.lr_at(10) == 5e-7  # the floor
    restored = Cifar100Schedule(1e-3)
    restored.load_state_dict(schedule.state_dict())
    assert restored.lr_at(10) == schedule.lr_at(10)


def test_geometry_follows_the_images_unless_named() -> None:
    assert geometry_for("auto", 3) == CIFAR_GEOMETRY and geometry_for("auto", 1) == GREY_GEOMETRY
    assert geometry_for("grey", 3) == GREY_GEOMETRY
    assert CIFAR_GEOMETRY.rotation_deg == 0 and CIFAR_GEOMETRY.horizontal_flip
    # a pure flip of a left-right asymmetric image: some images mirrored, none rotated
    images = torch.zeros(64, 3, 8, 8)
    images[..., :4] = 1.0
    flip_only = CIFAR_GEOMETRY.__class__(rotation_deg=0, shift_fraction=0, horizontal_flip=True)
    moved = random_affine(images, np.random.default_rng(0), flip_only)
    mirrored = (moved[:, 0, 0, 0] < 0.5).sum().item()
    assert 10 < mirrored < 54


def test_precision_resolution_per_device(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    # float32 on the CPU is channels-last (oneDNN's faster layout), elsewhere as it comes
    assert precision.resolve("fp32", cpu) == precision.FP32_CHANNELS_LAST
    assert precision.resolve("fp32", cuda) == precision.FP32
    amp = precision.resolve("auto", cuda)
    assert amp.autocast_dtype == torch.float16 and amp.grad_scaling and amp.channels_last
    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: True)
    fast = precision.resolve("auto", cpu)
    assert fast.autocast_dtype == torch.bfloat16 and fast.channels_last and not fast.grad_scaling
    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: False)
    assert precision.resolve("auto", cpu) == precision.FP32_CHANNELS_LAST
    assert precision.resolve("bf16", cpu).autocast_dtype == torch.bfloat16  # asked for explicitly
    assert precision.resolve("fp16", cpu).grad_scaling


def test_precision_comes_from_the_config_and_the_default_is_fp32() -> None:
    assert precision.requested() == "fp32"  # a process that never configures stays float32
    assert load_config("cifar10").precision == "auto"
    assert load_config("cifar10", ["precision=bf16"]).precision == "bf16"
    with pytest.raises(FsbbtError, match="precision"):
        load_config("cifar10", ["precision=int8"])
    precision.configure("bf16")
    assert precision.mode_for(torch.device("cpu")).name == "bf16"


def _tiny_rgb(n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    return images, np.eye(10, dtype=np.float32)[rng.integers(0, 10, n)]


@pytest.mark.parametrize("name", ["fp32", "bf16"])
def test_resume_with_schedule_equals_uninterrupted(tmp_path: Path, name: str) -> None:
    precision.configure(name)
    images, targets = _tiny_rgb()
    recipe = TrainRecipe(
        epochs=3, batch_size=16, augmentation="combination", geometry=CIFAR_GEOMETRY, lr_schedule="cifar100"
    )

    def train(epochs: int, checkpoint: Path | None) -> torch.nn.Module:
        torch.manual_seed(0)
        model = build_classifier("alexnet-half", (3, 32, 32), 10)
        fit_classifier(
            model,
            images,
            targets,
            TrainRecipe(**{**recipe.__dict__, "epochs": epochs}),
            seed=1,
            checkpoint=checkpoint,
        )
        return model

    reference = train(3, None)
    checkpoint = tmp_path / "run.ckpt"
    train(2, checkpoint)
    saved = load_checkpoint(checkpoint)
    assert saved["epoch"] == 2 and set(saved["lr_schedule"]) == {
        "best_loss",
        "plateau_scale",
        "epochs_without_improvement",
    }
    # the checkpoint belongs to this precision: the same training in another one starts afresh
    two_epochs = TrainRecipe(**{**recipe.__dict__, "epochs": 2})
    network = build_classifier("alexnet-half", (3, 32, 32), 10)
    assert loop._fingerprint(network, images, targets, two_epochs, 1) == saved["fingerprint"]
    precision.configure("bf16" if name == "fp32" else "fp32")
    assert loop._fingerprint(network, images, targets, two_epochs, 1) != saved["fingerprint"]
    precision.configure(name)
    resumed = train(3, checkpoint)
    for key, tensor in reference.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], tensor), key
    if name == "bf16":
        assert next(resumed.parameters()).dtype == torch.float32  # master weights stay fp32
        assert resumed.features[0].weight.is_contiguous(memory_format=torch.channels_last)


def test_batch_norm_statistics_are_usable_after_a_short_run() -> None:
    """Eval-mode accuracy after 50 steps on an easy 4-class problem: 50 % with Keras' plain
    0.99 average (measured), whose running variance is still far from the real one; the
    warm-started average forgets the start (see train/batch_norm.py)."""
    rng = np.random.default_rng(0)
    labels = np.arange(320) % 4
    images = rng.integers(0, 60, (320, 3, 32, 32)) + labels[:, None, None, None] * 60
    torch.manual_seed(0)
    model = build_classifier("alexnet-half", (3, 32, 32), 4)
    fit_classifier(
        model,
        images.astype(np.uint8),
        np.eye(4, dtype=np.float32)[labels],
        TrainRecipe(epochs=5, batch_size=32),
        seed=0,
    )
    predicted = predict_probabilities(model, images.astype(np.uint8)).argmax(1)
    assert (predicted == labels).mean() > 0.9


def test_batch_norm_averages_every_batch_then_the_last_hundred() -> None:
    """The first batches are averaged with equal weight (the initial variance of 1 is
    gone after one step); from step 100 on, Keras' 0.99 exponential average."""
    layer = torch.nn.BatchNorm1d(1)
    batches = [
        torch.full((4, 1), float(value)) + torch.tensor([[-1.0], [1.0], [-1.0], [1.0]])
        for value in range(150)
    ]
    layer.train()
    averages = RunningAverages(layer)
    for step, batch in enumerate(batches):
        averages.before_step()
        layer(batch)
        if step == 49:
            assert layer.running_mean.item() == pytest.approx(np.mean(range(50)), abs=1e-4)
    expected = np.mean(range(100))
    for value in range(100, 150):
        expected = 0.99 * expected + 0.01 * value
    assert layer.running_mean.item() == pytest.approx(expected, abs=1e-3)


def test_saved_statistics_are_measured_with_the_final_weights() -> None:
    """After the measuring pass the running statistics are the equal-weight average of the
    per-batch statistics; a network without batch norm does not even read the batches."""
    layer = torch.nn.Sequential(torch.nn.BatchNorm1d(2))
    layer[0].running_mean.fill_(100.0)
    batches = [torch.randn(8, 2) + shift for shift in (0.0, 2.0, 4.0)]
    measure_statistics(layer, batches, contextlib.nullcontext)
    expected_mean = torch.stack([images.mean(0) for images in batches]).mean(0)
    expected_var = torch.stack([images.var(0) for images in batches]).mean(0)
    assert torch.allclose(layer[0].running_mean, expected_mean, atol=1e-6)
    assert torch.allclose(layer[0].running_var, expected_var, atol=1e-5)
    assert layer[0].momentum == 0.1 and layer.training

    def no_batches():
        raise AssertionError("a network without batch norm read the batches")
        yield

    measure_statistics(build_classifier("lenet5-half", (1, 28, 28), 10), no_batches(), contextlib.nullcontext)


@pytest.mark.parametrize("given", [True, False])
def test_statistics_images_replace_the_training_batches_for_the_saved_statistics(given: bool) -> None:
    """A student's saved statistics come from its real images as they are, not from the
    mixed and shifted training batches: a first batch norm sees exactly their pixels."""
    rng = np.random.default_rng(0)
    training_images = rng.integers(0, 100, size=(64, 1, 4, 4), dtype=np.uint8)
    real_images = np.full((24, 1, 4, 4), 200, dtype=np.uint8)
    targets = np.eye(2, dtype=np.float32)[rng.integers(0, 2, size=64)]
    model = torch.nn.Sequential(torch.nn.BatchNorm2d(1), torch.nn.Flatten(), torch.nn.Linear(16, 2))
    recipe = TrainRecipe(epochs=1, batch_size=16, augmentation="combination")
    fit_classifier(
        model, training_images, targets, recipe, seed=0, statistics_images=real_images if given else None
    )
    mean, var = model[0].running_mean.item(), model[0].running_var.item()
    if given:
        assert mean == pytest.approx(200 / 255, abs=1e-5) and var == pytest.approx(0, abs=1e-6)
    else:
        assert mean < 100 / 255 and var > 0.001


def test_raising_the_epochs_continues_a_training_unless_every_rate_depends_on_them() -> None:
    """A cosine schedule set for 3 epochs is another training than one set for 5: its
    checkpoint is not continued; a constant rate's is."""
    images, targets = _tiny_rgb(8)
    network = build_classifier("lenet5-half", (3, 32, 32), 10)

    def fingerprint(schedule: str, epochs: int) -> str:
        recipe = TrainRecipe(epochs=epochs, batch_size=4, lr_schedule=schedule)
        return loop._fingerprint(network, images, targets, recipe, 1)

    assert fingerprint("constant", 3) == fingerprint("constant", 5)
    assert fingerprint("cosine", 3) != fingerprint("cosine", 5)
