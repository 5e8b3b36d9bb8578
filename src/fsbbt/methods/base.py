"""What every method receives and returns, and the one way a student is trained.

A method is a recipe: it decides which images the student sees and which targets they
carry, then calls :func:`train_student`. Methods never see the teacher's module, only
the :class:`~fsbbt.teacher.QueryOracle`.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fsbbt.config.names import AugmentationName
from fsbbt.config.schema import RunConfig
from fsbbt.core import precision, progress
from fsbbt.core.errors import FsbbtError
from fsbbt.synth.synthetic_set import SyntheticSet
from fsbbt.teacher import QueryOracle
from fsbbt.train import TestAccuracy, TrainHistory, TrainRecipe
from fsbbt.train.augment import geometry_for
from fsbbt.train.workers import ClassifierTraining, TrainedClassifier, TrainingPool

SYNTHETIC_PER_FEW_IMAGE = 24
"""M = 24 × N, the paper's Fashion-MNIST budget (N = 2,000, M = 48,000): the synthetic
budget of ``fsbbt distill`` by default, and the budget a student recipe's epochs are
taken to be written for (fsbbt-active's ``recipe-steps``)."""


@dataclass(frozen=True)
class FewShotSet:
    """The N few images. Their true labels are kept behind a name that says who may use them."""

    images_uint8: np.ndarray
    _true_labels: np.ndarray = field(repr=False)

    def true_labels_for_student_alone(self) -> np.ndarray:
        """Only the Student-Alone baseline trains on true labels; black-box methods must not."""
        return self._true_labels


@dataclass
class SeedCache:
    """What the methods of one seed build once and share, each kept by its identity
    (:func:`~fsbbt.core.identity.identity`): FS-BBT's trained CVAEs and synthetic sets
    serve both student sizes and every variant built from the same inputs."""

    cvaes: dict[str, nn.Module] = field(default_factory=dict)
    synthetic_sets: dict[str, SyntheticSet] = field(default_factory=dict)


@dataclass
class MethodContext:
    """Everything one (seed, method) needs. ``test_accuracy`` is None where there is no
    labelled test set (the user's own images without ``--test-images``)."""

    config: RunConfig
    seed: int
    fewshot: FewShotSet
    oracle: QueryOracle
    test_accuracy: TestAccuracy | None
    cache: SeedCache = field(default_factory=SeedCache)
    # where train_student checkpoints the current stage every epoch (set per stage by the runner)
    stage_checkpoint: Path | None = None
    # how many distinct synthetic sets of the run split each seed's query budget
    budget_parts: int = 1
    # where trained CVAEs outlive the process (a run's OUT/cvae), so a resume never retrains one
    cvae_store: Path | None = None
    # where train_student's trainings run: in this process, or beside it in workers
    trainings: TrainingPool = field(default_factory=lambda: TrainingPool(workers=1))

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.oracle.input_shape

    @property
    def num_classes(self) -> int:
        return self.oracle.num_classes


@dataclass
class MethodOutcome:
    """A student's training (perhaps still running in a worker) and what it cost."""

    trained: Future[TrainedClassifier]
    teacher_queries: int
    # kind ("real", "mixup", "cvae") → (uint8 images, teacher's top-1 label), for the sample grid
    samples: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    # wall time of the parts the method declares (``Method.timings``), e.g. "synthesis"
    timings: dict[str, float] = field(default_factory=dict)
    # (teacher queries so far, test accuracy) per round, for methods that query in rounds
    query_curve: list[tuple[int, float]] = field(default_factory=list)

    @property
    def student(self) -> nn.Module:
        """The trained student (waits for its training)."""
        return self.trained.result().model

    @property
    def history(self) -> TrainHistory:
        return self.trained.result().history


def student_recipe(
    config: RunConfig, channels: int, augmentation: AugmentationName | None = None
) -> TrainRecipe:
    """The config's student recipe for images of ``channels`` channels; ``augmentation``
    overrides its augmentation."""
    settings = config.student
    return TrainRecipe(
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        lr=settings.lr,
        augmentation=augmentation or settings.augmentation,
        geometry=geometry_for(settings.geometry, channels),
        lr_schedule=settings.lr_schedule,
        average_epochs=settings.average_epochs,
    )


def train_student(
    context: MethodContext,
    arch: str,
    images_uint8: np.ndarray,
    targets: np.ndarray,
    description: str,
    augmentation: AugmentationName | None = None,
    initial_state: dict[str, torch.Tensor] | None = None,
) -> Future[TrainedClassifier]:
    """Start training a fresh ``arch`` on (images, soft targets) with the configured
    student recipe, in ``context.trainings``; a method that needs the student before it
    returns (to select its next queries) calls ``.result()``, the others hand the
    future on in their :class:`MethodOutcome` and the next method starts meanwhile.

    ``augmentation`` overrides the recipe's (the baselines use ``student.baseline_augmentation``);
    ``initial_state`` starts from those weights instead of fresh ones.
    """
    settings = context.config.student
    points = context.config.curve_points
    training = ClassifierTraining(
        arch=arch,
        input_shape=context.input_shape,
        num_classes=context.num_classes,
        images_uint8=images_uint8,
        targets=targets,
        recipe=student_recipe(context.config, context.input_shape[0], augmentation),
        seed=context.seed,
        description=description,
        precision=precision.requested(),
        evaluate=context.test_accuracy,
        eval_every=max(1, settings.epochs // points) if points and context.test_accuracy else 0,
        checkpoint=context.stage_checkpoint,
        statistics_images=context.fewshot.images_uint8 if settings.batch_norm_statistics == "real" else None,
        initial_state=initial_state,
    )
    return context.trainings.submit(training)


def images_to_buy(context: MethodContext, budget: int | None, budget_key: str, what: str) -> int:
    """How many images beyond the N few ones a method with a total-queries key
    (``bbkd.budget``, ``active.budget``) may buy for one seed: ``budget``, by default
    FS-BBT's N + M, less the N, shrunk to the seed's share of ``query_budget``."""
    n = len(context.fewshot.images_uint8)
    wanted_total = budget or n + context.config.synthesis.budget
    if wanted_total < n:
        raise FsbbtError(
            f"{budget_key} {wanted_total} cannot label the {n} few images; set it to at least {n}"
        )
    return synthetic_images_within_budget(context, wanted_total - n, what)


def round_checkpoint(context: MethodContext, round_index: int, last: bool) -> Path | None:
    """Where a method that trains a student per round checkpoints round ``round_index``:
    a file of its own, so a resumed run reloads finished rounds instead of retraining them;
    the ``last`` round uses the stage's file (the runner drops it when the stage is done)."""
    if context.stage_checkpoint is None or last:
        return context.stage_checkpoint
    return context.stage_checkpoint.with_name(
        f"{context.stage_checkpoint.stem}.round{round_index}{context.stage_checkpoint.suffix}"
    )


def synthetic_images_within_budget(context: MethodContext, wanted: int, what: str) -> int:
    """How many images beyond the N few ones a method may query for one seed: ``wanted``,
    shrunk so that every seed's N + its synthetic sets fit ``query_budget``.

    The few images are queried once per seed whatever the methods; what is left of the
    seed's share is split equally between the run's distinct synthetic sets
    (``budget_parts``: FS-BBT and BBKD in one run get half each). Decided from the config
    alone, never from what the ledger already holds, so a resumed run builds exactly the
    set the interrupted one was building.
    """
    config = context.config
    query_budget = context.oracle.budget
    if query_budget is None:
        return wanted
    per_seed = query_budget // len(config.seeds)
    fewshot_count = len(context.fewshot.images_uint8)
    if per_seed < fewshot_count:
        raise FsbbtError(
            f"query budget {query_budget} cannot label the {fewshot_count} few "
            f"images for each of {len(config.seeds)} seed(s); raise --query-budget "
            f"to at least {fewshot_count * len(config.seeds)}"
        )
    share = (per_seed - fewshot_count) // context.budget_parts
    fitted = min(wanted, share)
    if fitted < wanted:
        shared_by = f", shared by {context.budget_parts} synthetic sets" if context.budget_parts > 1 else ""
        progress.status(
            f"query budget {query_budget}{shared_by}: {what} shrunk from {wanted} to {fitted} images per seed"
        )
    return fitted
