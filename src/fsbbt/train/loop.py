"""The one training loop: teachers, students of every method, and FS-BBT's CVAE.

It knows nothing about distillation: it fits a network to (uint8 images, targets) with
an objective, by default soft-target cross-entropy (a hard label is a one-hot target);
the CVAE brings its own objective (reconstruction + KL, conditioned on the targets).
Shuffling, augmentation, precision, DDP, checkpoints and progress are the loop's, so
every network scales out and resumes the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from fsbbt.config.names import AugmentationName, LrScheduleName
from fsbbt.core import distributed, precision, progress, threads
from fsbbt.core.identity import identity
from fsbbt.core.tensors import uint8_to_float
from fsbbt.train.augment import (
    GREY_GEOMETRY,
    GeometricRange,
    mix_with_random_batch,
    random_affine,
)
from fsbbt.train.batch_norm import RunningAverages, measure_statistics
from fsbbt.train.checkpoint import load_checkpoint, save_checkpoint
from fsbbt.train.schedule import SET_BY_EPOCH_COUNT, LrSchedule, make_schedule


@dataclass(frozen=True)
class TrainRecipe:
    """How to train: the paper's knobs, nothing method-specific."""

    epochs: int
    batch_size: int
    lr: float = 1e-3
    augmentation: AugmentationName = "none"
    geometry: GeometricRange = GREY_GEOMETRY
    mix_alpha: float = 1.0
    lr_schedule: LrScheduleName = "constant"
    # > 0: the returned weights are an exponential moving average of the trained ones
    # over about this many epochs (0: the last step's weights, the paper's)
    average_epochs: float = 0.0


@dataclass
class TrainHistory:
    """What happened during training, for curves and the results table."""

    epoch_loss: list[float] = field(default_factory=list)
    eval_epochs: list[int] = field(default_factory=list)
    eval_accuracy: list[float] = field(default_factory=list)
    seconds: float = 0.0  # wall time of all epochs, added up across resumed processes
    images_per_second: float = 0.0  # of this process's epochs, without the statistics pass


def epoch_generators(seed: int, epoch: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Seed torch for ``epoch`` and return the epoch's (shuffle, augmentation) generators.

    Every draw is a function of (seed, epoch, rank) alone. The shuffle is the same on
    every rank (ranks split one global permutation); augmentation and torch's own noise
    (dropout, CVAE sampling) differ per rank. Because nothing carries over from the
    previous epoch, a resumed run draws exactly what an uninterrupted one would, so the
    checkpoint needs the epoch number and not the generators' internal states.
    """
    rank = distributed.current().rank
    torch.manual_seed(int(np.random.SeedSequence([seed, epoch, 2, rank]).generate_state(1)[0]))
    return (np.random.default_rng([seed, epoch, 0]), np.random.default_rng([seed, epoch, 1, rank]))


Objective = Callable[
    [nn.Module, torch.Tensor, torch.Tensor, precision.ComputeMode, torch.device], torch.Tensor
]
"""(trained model, batch images, batch targets, compute mode, device) → the batch's loss."""


def soft_target_cross_entropy(
    model: nn.Module,
    images: torch.Tensor,
    targets: torch.Tensor,
    mode: precision.ComputeMode,
    device: torch.device,
) -> torch.Tensor:
    """A classifier's objective: cross-entropy against soft targets, the loss in float32."""
    with precision.autocast(mode, device):
        logits = model(images)
    return F.cross_entropy(logits.float(), targets)


def _fingerprint(
    model: nn.Module, images_uint8: np.ndarray, targets: np.ndarray, recipe: TrainRecipe, seed: int
) -> str:
    """What a checkpoint must match to be resumed: the same network, training data, recipe
    and precision (continuing in another precision would not give the same weights). The
    epoch count is left out, so raising it continues an interrupted training, except
    under a schedule whose every rate depends on it (``SET_BY_EPOCH_COUNT``)."""
    shapes = {name: list(tensor.shape) for name, tensor in model.state_dict().items()}
    settings = {
        key: value
        for key, value in asdict(recipe).items()
        if key != "epochs" or recipe.lr_schedule in SET_BY_EPOCH_COUNT
    }
    return identity(
        "training checkpoint",
        images=np.asarray(images_uint8),
        targets=np.asarray(targets, np.float32),
        seed=seed,
        recipe=settings,
        network=shapes,
    )


@dataclass
class _TrainingState:
    """Everything besides the epoch number that a resumed run must get back."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: LrSchedule
    scaler: torch.amp.GradScaler
    history: TrainHistory
    averaged: AveragedModel | None = None

    def to_checkpoint(self) -> dict:
        history = self.history
        return {
            "averaged": self.averaged.state_dict() if self.averaged is not None else None,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "lr_schedule": self.schedule.state_dict(),
            "grad_scaler": self.scaler.state_dict(),
            "history": {
                "epoch_loss": history.epoch_loss,
                "eval_epochs": history.eval_epochs,
                "eval_accuracy": history.eval_accuracy,
                "seconds": history.seconds,
            },
        }

    def load(self, saved: dict) -> None:
        self.model.load_state_dict(saved["model"])
        if self.averaged is not None:
            self.averaged.load_state_dict(saved["averaged"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.schedule.load_state_dict(saved.get("lr_schedule", {}))
        if saved.get("grad_scaler"):
            self.scaler.load_state_dict(saved["grad_scaler"])
        for name, values in saved["history"].items():
            setattr(self.history, name, values)


def _weight_average(model: nn.Module, steps: float) -> AveragedModel | None:
    """An exponential moving average of ``model``'s weights (and buffers) over about
    ``steps`` optimizer steps, or None for ``steps`` = 0.

    With a constant learning rate the last step's weights are one noisy point: on
    Fashion-MNIST a student's accuracy swings by a point from one epoch to the next late in
    training. Their average over the last epochs is steadier, without the shorter
    effective training a decaying rate costs.
    """
    if steps <= 0:
        return None
    decay = max(0.0, 1.0 - 1.0 / steps)
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def _resume(checkpoint: Path | None, fingerprint: str, epochs: int, state: _TrainingState) -> int:
    """Load the checkpoint into model/optimiser/history; the number of epochs it had done.

    A checkpoint of fewer epochs than ``epochs`` is continued (raising the epoch count
    of an interrupted run is fine); one past ``epochs`` or of another recipe is ignored.
    """
    if checkpoint is None:
        return 0
    saved = distributed.broadcast_object(
        load_checkpoint(checkpoint) if distributed.is_main_process() else None
    )
    if saved is None:
        return 0
    if saved.get("fingerprint") != fingerprint or saved["epoch"] > epochs:
        progress.status(
            f"checkpoint {checkpoint} does not match this training (network, "
            "recipe or epochs); starting afresh"
        )
        return 0
    state.load(saved)
    progress.status(f"resuming from {checkpoint} after epoch {saved['epoch']}")
    return int(saved["epoch"])


def epoch_batches(
    all_images: torch.Tensor,
    all_targets: torch.Tensor,
    recipe: TrainRecipe,
    seed: int,
    epoch: int,
    mode: precision.ComputeMode,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """This rank's (images, targets) batches of ``epoch``: shuffled, mixed and transformed
    as ``recipe.augmentation`` says, every draw a function of (seed, epoch, rank)."""
    order_rng, augment_rng = epoch_generators(seed, epoch)
    for index_array in distributed.rank_batches(order_rng.permutation(len(all_images)), recipe.batch_size):
        index = torch.from_numpy(index_array).to(all_images.device)
        batch_images, batch_targets = all_images[index], all_targets[index]
        if recipe.augmentation == "combination":
            batch_images, batch_targets = mix_with_random_batch(
                batch_images, batch_targets, all_images, all_targets, augment_rng, recipe.mix_alpha
            )
        if recipe.augmentation in ("standard", "combination"):
            batch_images = precision.prepare_images(
                random_affine(batch_images, augment_rng, recipe.geometry), mode
            )
        yield batch_images, batch_targets


def _measure_statistics_on_images(model: nn.Module, images_uint8: np.ndarray, batch_size: int) -> None:
    """Set ``model``'s batch-norm statistics to those of ``images_uint8`` as they are (no
    mixing, no transform), in this process's precision, this rank's share under torchrun."""
    device = next(model.parameters()).device
    mode = precision.mode_for(device)
    precision.prepare_model(model, mode)

    def batches() -> Iterator[torch.Tensor]:
        for index_array in distributed.rank_batches(np.arange(len(images_uint8)), batch_size):
            batch = uint8_to_float(images_uint8[index_array]).to(device)
            yield precision.prepare_images(batch, mode)

    measure_statistics(model, batches(), lambda: precision.autocast(mode, device))


def fit_classifier(
    model: nn.Module,
    images_uint8: np.ndarray,
    targets: np.ndarray,
    recipe: TrainRecipe,
    seed: int,
    description: str = "train",
    evaluate: Callable[[nn.Module], float] | None = None,
    eval_every: int = 0,
    checkpoint: Path | None = None,
    statistics_images: np.ndarray | None = None,
) -> TrainHistory:
    """Train a classifier in place on ``images_uint8`` against soft ``targets`` (rows sum
    to 1), then give its batch norms statistics measured for its final weights
    (:mod:`fsbbt.train.batch_norm`): on ``statistics_images`` as they are when given (a
    student's few real images, the kind it will classify), else on one more epoch of
    training-style batches. See :func:`fit_network` for the rest."""
    return fit_network(
        model,
        images_uint8,
        targets,
        recipe,
        seed,
        soft_target_cross_entropy,
        description,
        evaluate,
        eval_every,
        checkpoint,
        batch_norm=True,
        statistics_images=statistics_images,
    )


@threads.restores_thread_count
def fit_network(
    model: nn.Module,
    images_uint8: np.ndarray,
    targets: np.ndarray,
    recipe: TrainRecipe,
    seed: int,
    objective: Objective,
    description: str = "train",
    evaluate: Callable[[nn.Module], float] | None = None,
    eval_every: int = 0,
    checkpoint: Path | None = None,
    *,
    batch_norm: bool = False,
    statistics_images: np.ndarray | None = None,
) -> TrainHistory:
    """Train ``model`` in place on ``images_uint8`` and ``targets`` to minimise ``objective``.

    Adam at ``recipe.lr``, scheduled per epoch by ``recipe.lr_schedule``, in this
    process's precision (:mod:`fsbbt.core.precision`); each epoch is one shuffled pass
    in mini-batches of ``recipe.batch_size`` images in total, split across ranks under
    torchrun (DDP averages the gradients). ``evaluate`` (e.g. test accuracy) is called on
    rank 0 every ``eval_every`` epochs and after the last, for the training curves only:
    the returned model is always the last epoch's, back on the CPU. With ``batch_norm``,
    its batch norms follow the Keras running average during training and are measured
    afresh after it (see :func:`fit_classifier`). With ``checkpoint``, the state is saved
    there after every epoch and a run finding one continues after its epoch.
    """
    device = distributed.current().device
    mode = precision.mode_for(device)
    all_images = precision.prepare_images(uint8_to_float(images_uint8).to(device), mode)
    all_targets = torch.as_tensor(targets, dtype=torch.float32).to(device)
    precision.prepare_model(model.to(device), mode)
    macs = threads.macs_per_image(
        model, lambda: objective(model, all_images[:1], all_targets[:1], mode, device)
    )
    trained_model = distributed.wrap_model(model)
    # one fused kernel for all parameters instead of a dozen small ops per tensor
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr, fused=device.type in ("cpu", "cuda"))
    n = len(all_images)
    history = TrainHistory()
    steps_per_epoch = len(distributed.rank_batches(np.arange(n), recipe.batch_size))
    state = _TrainingState(
        model,
        optimizer,
        make_schedule(recipe.lr_schedule, recipe.lr, recipe.epochs),
        precision.grad_scaler(mode, device),
        history,
        _weight_average(model, recipe.average_epochs * steps_per_epoch),
    )
    # it hashes the training data: only worth it where a checkpoint is written or read
    fingerprint = _fingerprint(model, images_uint8, targets, recipe, seed) if checkpoint else ""
    epochs_done = _resume(checkpoint, fingerprint, recipe.epochs, state)
    # what the curve points and the caller get: the average where there is one
    returned_model = state.averaged.module if state.averaged is not None else model
    started = time.perf_counter()
    seconds_before = history.seconds  # of the processes this run resumes
    running_averages = RunningAverages(model) if batch_norm else None
    trained_model.train()
    with progress.bar(
        description, recipe.epochs * steps_per_epoch, "step", completed=epochs_done * steps_per_epoch
    ) as train_bar:
        for epoch in range(epochs_done + 1, recipe.epochs + 1):
            # chosen every epoch, as trainings beside this one start and end
            torch.set_num_threads(threads.threads_for(macs))
            for group in optimizer.param_groups:
                group["lr"] = state.schedule.lr_at(epoch)
            # the loss is summed on the device and read once per epoch: reading it every
            # step would make the host wait for the device
            loss_sum, seen = torch.zeros((), device=device), 0
            for batch_images, batch_targets in epoch_batches(
                all_images, all_targets, recipe, seed, epoch, mode
            ):
                if running_averages is not None:
                    running_averages.before_step()
                loss = objective(trained_model, batch_images, batch_targets, mode, device)
                optimizer.zero_grad(set_to_none=True)
                state.scaler.scale(loss).backward()
                state.scaler.step(optimizer)
                state.scaler.update()
                if state.averaged is not None:
                    state.averaged.update_parameters(model)
                loss_sum += loss.detach() * len(batch_images)
                seen += len(batch_images)
                train_bar.advance(1)
            history.epoch_loss.append(
                distributed.sum_over_ranks(loss_sum.item()) / distributed.sum_over_ranks(seen)
            )
            state.schedule.observe(history.epoch_loss[-1])
            if (
                evaluate is not None
                and eval_every
                and distributed.is_main_process()
                and epoch % eval_every == 0
                and epoch < recipe.epochs
            ):
                history.eval_epochs.append(epoch)
                history.eval_accuracy.append(evaluate(returned_model))
                trained_model.train()
            history.seconds = seconds_before + time.perf_counter() - started
            if checkpoint is not None and distributed.is_main_process():
                save_checkpoint(
                    checkpoint, {"fingerprint": fingerprint, "epoch": epoch, **state.to_checkpoint()}
                )
            train_bar.advance(0, epoch=epoch, loss=history.epoch_loss[-1])
    epochs_seconds = time.perf_counter() - started  # the rate below is of training steps alone
    if state.averaged is not None:
        model.load_state_dict(state.averaged.module.state_dict())
    # The last epoch's weights with batch-norm statistics measured for them (see
    # train/batch_norm.py), then its curve point.
    if batch_norm and statistics_images is None:
        measure_statistics(
            model,
            (
                images
                for images, _ in epoch_batches(all_images, all_targets, recipe, seed, recipe.epochs + 1, mode)
            ),
            lambda: precision.autocast(mode, device),
        )
    elif batch_norm:
        _measure_statistics_on_images(model, statistics_images, recipe.batch_size)
    if evaluate is not None and eval_every and distributed.is_main_process():
        history.eval_epochs.append(recipe.epochs)
        history.eval_accuracy.append(evaluate(model))
    this_process = time.perf_counter() - started
    history.seconds = seconds_before + this_process
    epochs_run = recipe.epochs - epochs_done
    history.images_per_second = epochs_run * n / max(epochs_seconds, 1e-9)
    model.to("cpu")
    model.eval()
    return history
