"""Learning-rate schedules: constant, cosine decay, or the CIFAR-100 step schedule with
plateau cuts.

A schedule sets the learning rate at the start of every epoch from the epoch number and
what it has seen of the training loss. Its state goes into the per-epoch checkpoint, so
a resumed run continues with exactly the learning rate an uninterrupted one would use.
"""

from __future__ import annotations

import math
from typing import Any

from fsbbt.config.names import LrScheduleName


class ConstantSchedule:
    """The paper's default: Adam at one learning rate throughout."""

    def __init__(self, base_lr: float) -> None:
        self.base_lr = base_lr

    def lr_at(self, epoch: int) -> float:
        return self.base_lr

    def observe(self, epoch_loss: float) -> None:
        """Nothing to learn from the loss."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """No state."""


class CosineSchedule(ConstantSchedule):
    """Half a cosine from ``base_lr`` in the first epoch towards zero after the last.

    A constant rate leaves the last epoch's weights wherever the last noisy steps put
    them; decaying it lets them settle, so the returned model (always the last epoch's)
    is a steadier one. Like the constant rate it learns nothing from the loss and has no
    state to save; unlike it, every rate depends on the number of epochs.
    """

    def __init__(self, base_lr: float, epochs: int) -> None:
        super().__init__(base_lr)
        self.epochs = epochs

    def lr_at(self, epoch: int) -> float:
        """The rate of 1-based ``epoch``."""
        return self.base_lr * 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / self.epochs))


class Cifar100Schedule:
    """CIFAR-100 (docs/method.md): ×0.1 after epoch 80, ×0.01 after 120, ×0.001 after 160,
    ×0.0005 after 180, and a further ×√0.1 each time the training loss has not improved
    (by more than ``min_delta``) for ``patience`` epochs; never below ``floor``.

    These are the step schedule and ReduceLROnPlateau settings of the Keras CIFAR ResNet
    example. The plateau cuts accumulate on top of the steps, as docs/method.md describes
    (in Keras the step callback would overwrite them at the next epoch).
    """

    MILESTONES = ((180, 0.0005), (160, 0.001), (120, 0.01), (80, 0.1))

    def __init__(
        self,
        base_lr: float,
        patience: int = 5,
        factor: float = math.sqrt(0.1),
        floor: float = 5e-7,
        min_delta: float = 1e-4,
    ) -> None:
        self.base_lr = base_lr
        self.patience = patience
        self.factor = factor
        self.floor = floor
        self.min_delta = min_delta
        self.best_loss = math.inf
        self.epochs_without_improvement = 0
        self.plateau_scale = 1.0

    def step_factor(self, epoch: int) -> float:
        """The milestone factor for 1-based ``epoch`` ("after epoch 80" = from epoch 81)."""
        for last_epoch_before, factor in self.MILESTONES:
            if epoch > last_epoch_before:
                return factor
        return 1.0

    def lr_at(self, epoch: int) -> float:
        return max(self.base_lr * self.step_factor(epoch) * self.plateau_scale, self.floor)

    def observe(self, epoch_loss: float) -> None:
        """Record an epoch's training loss; cut the rate after ``patience`` flat epochs."""
        if epoch_loss < self.best_loss - self.min_delta:
            self.best_loss = epoch_loss
            self.epochs_without_improvement = 0
            return
        self.epochs_without_improvement += 1
        if self.epochs_without_improvement >= self.patience:
            self.plateau_scale *= self.factor
            self.epochs_without_improvement = 0

    def state_dict(self) -> dict[str, Any]:
        return {
            "best_loss": self.best_loss,
            "plateau_scale": self.plateau_scale,
            "epochs_without_improvement": self.epochs_without_improvement,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best_loss = float(state["best_loss"])
        self.plateau_scale = float(state["plateau_scale"])
        self.epochs_without_improvement = int(state["epochs_without_improvement"])


LrSchedule = ConstantSchedule | CosineSchedule | Cifar100Schedule
# schedules whose every rate depends on the epoch count: a training set for more epochs
# is another training, not the continuation of a shorter one
SET_BY_EPOCH_COUNT: frozenset[LrScheduleName] = frozenset({"cosine"})


def make_schedule(name: LrScheduleName, base_lr: float, epochs: int) -> LrSchedule:
    """The schedule called ``name`` starting from ``base_lr``, for a training of ``epochs``."""
    if name == "cifar100":
        return Cifar100Schedule(base_lr)
    if name == "cosine":
        return CosineSchedule(base_lr, epochs)
    return ConstantSchedule(base_lr)
