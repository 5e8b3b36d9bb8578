"""BBKD (Wang et al., CVPR 2020, "Active Mixup"): query the teacher only on the MixUp
candidates the current student is least sure of, in rounds, retraining in between.

The procedure is the paper's and its authors' code's (github.com/dwang181/active-mixup;
docs/method.md, BBKD):

* Pool: every unordered pair of the N few images, pair i with (i + s) mod N for the
  shifts s = 1 … ⌊(N − 1)/2⌋, kept as index pairs, never as images (00_data_prep.py).
* Round 0: query the teacher on the N real images, train the student on them.
* Round r ≥ 1: for every candidate pair and every weight w of ``bbkd.weights``
  (0.30, 0.34, …, 0.70) mix ``w·a + (1 − w)·b``; the student's top-1 probability of
  the mix is its confidence; keep each pair's least-confident w. Query the teacher on
  the ``bbkd.per_round`` least-confident mixes, add them to the labelled set, remove
  their pairs from the pool and train a *fresh* student on everything labelled so far
  (10_data_prep.py, 11_data_prep.py; active_train.py builds a new network per stage).
* Stop when the budget is spent.

Ours, and why:

* Budget: ``bbkd.budget``, by default N + ``synthesis.budget``, FS-BBT's total on the
  same dataset, so the two are compared at equal queries. The last round takes what is
  left, so the budget is spent exactly; like FS-BBT's, it shrinks to the seed's share of
  ``query_budget``.
* Pool subsample: each round scores ``bbkd.pool_cap`` pairs drawn at random from those
  left (100,000 by default) instead of all of them: for N = 2,000 the pool holds ~2M
  pairs, × 11 weights = 22M student passes per round, too slow on a CPU. ``pool_cap:
  null`` scores the whole pool as the authors do.
* Mixes are quantised to uint8 before the student scores them, so it ranks exactly the
  bytes the teacher will be sent (the oracle takes uint8 only; theirs mixes floats).
* A mix whose bytes are already labelled (two pairs can give the same image) is skipped
  for the next least-confident one, so every query buys a new image.
* The student recipe is ours (Adam, ``student.epochs``/``batch_size``/``lr``), the same
  as every other method here; their SGD schedule was tuned for VGG on CIFAR.
  Augmentation is ``bbkd.augmentation`` ("standard": rotation and shift, the geometric
  part only; theirs uses random crop and flip, no batch mixing).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from pydantic import Field, model_validator
from torch import nn

from fsbbt.config.names import AugmentationName
from fsbbt.config.schema import Strict
from fsbbt.core import progress
from fsbbt.core.errors import FsbbtError
from fsbbt.methods.base import (
    MethodContext,
    MethodOutcome,
    images_to_buy,
    round_checkpoint,
    train_student,
)
from fsbbt.methods.declaration import BudgetShare, Method
from fsbbt.synth import mix_pairs
from fsbbt.teacher.blackbox import image_keys
from fsbbt.train.evaluate import predict_probabilities
from fsbbt.train.workers import TrainedClassifier, finished

SCORING_CHUNK = 4096


class BbkdConfig(Strict):
    """BBKD, the active-MixUp baseline (this module's docstring says which choice is whose)."""

    budget: int | None = Field(
        None,
        ge=1,
        description="teacher queries in all, the N real "
        "images included; default N + synthesis.budget, FS-BBT's",
    )
    per_round: int = Field(10_000, ge=1, description="least-confident mixes queried per round")
    weights: tuple[float, ...] = tuple(round(0.30 + 0.04 * i, 2) for i in range(11))
    pool_cap: int | None = Field(
        100_000,
        ge=1,
        description="pool pairs scored per round (a "
        "random subsample, for CPU cost); null scores the whole pool",
    )
    augmentation: AugmentationName = "standard"

    @model_validator(mode="after")
    def _cap_holds_a_round(self) -> BbkdConfig:
        if not self.weights or not all(0 < w < 1 for w in self.weights):
            raise ValueError("bbkd.weights must be a non-empty list of numbers in (0, 1)")
        if self.pool_cap is not None and self.pool_cap < self.per_round:
            raise ValueError(
                f"bbkd.pool_cap {self.pool_cap} must be at least bbkd.per_round {self.per_round}"
            )
        return self


def pair_pool(count: int) -> tuple[np.ndarray, np.ndarray]:
    """Every unordered pair of ``count`` images once: (i, (i + s) mod count), s = 1 … ⌊(count−1)/2⌋."""
    shifts = np.arange(1, (count - 1) // 2 + 1)
    first = np.tile(np.arange(count), len(shifts))
    second = (first + np.repeat(shifts, count)) % count
    return first.astype(np.int64), second.astype(np.int64)


def least_confident_weights(
    student: nn.Module,
    images_uint8: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    weights: tuple[float, ...],
) -> tuple[np.ndarray, np.ndarray]:
    """Per pair: the student's lowest top-1 probability over ``weights``, and that weight."""
    confidence = np.empty(len(first), np.float32)
    best_weight = np.empty(len(first), np.float32)
    for start in range(0, len(first), SCORING_CHUNK):
        rows = slice(start, start + SCORING_CHUNK)
        per_weight = np.stack(
            [
                predict_probabilities(student, mix_pairs(images_uint8, first[rows], second[rows], w)).max(
                    axis=1
                )
                for w in weights
            ]
        )
        lowest = per_weight.argmin(axis=0)
        confidence[rows] = per_weight[lowest, np.arange(per_weight.shape[1])]
        best_weight[rows] = np.asarray(weights, np.float32)[lowest]
    return confidence, best_weight


def _select_new_mixes(
    images_uint8: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    confidence: np.ndarray,
    best_weight: np.ndarray,
    count: int,
    labelled_keys: set[str],
) -> tuple[np.ndarray, np.ndarray]:
    """The ``count`` least-confident mixes whose bytes are not labelled yet: (positions, images)."""
    order = np.argsort(confidence, kind="stable")
    positions: list[int] = []
    chosen: list[np.ndarray] = []
    for start in range(0, len(order), count):
        candidates = order[start : start + count]
        mixes = np.concatenate(
            [mix_pairs(images_uint8, first[[i]], second[[i]], best_weight[i]) for i in candidates]
        )
        for position, mix, key in zip(candidates, mixes, image_keys(mixes), strict=True):
            if key in labelled_keys:
                continue
            labelled_keys.add(key)
            positions.append(int(position))
            chosen.append(mix)
            if len(positions) == count:
                return np.asarray(positions), np.stack(chosen)
    raise FsbbtError(
        f"BBKD found only {len(positions)} new mixes of the {count} this round "
        "needs (the pool repeats images); lower bbkd.budget or raise bbkd.pool_cap"
    )


def run_bbkd(context: MethodContext, arch: str) -> MethodOutcome:
    settings = context.config.bbkd
    fewshot_images = context.fewshot.images_uint8
    n = len(fewshot_images)
    mix_count = images_to_buy(context, settings.budget, "bbkd.budget", "BBKD's mixes")
    first, second = pair_pool(n)
    if mix_count > len(first):
        raise FsbbtError(
            f"BBKD needs {mix_count} mixes but {n} few images give only "
            f"{len(first)} pairs; lower bbkd.budget to at most {n + len(first)}"
        )
    round_sizes = [settings.per_round] * (mix_count // settings.per_round)
    if mix_count % settings.per_round:
        round_sizes.append(mix_count % settings.per_round)

    labelled_images = fewshot_images
    labelled_probs = context.oracle.query(fewshot_images, "label the few images")
    labelled_keys = set(image_keys(fewshot_images))
    available = np.ones(len(first), bool)
    query_curve: list[tuple[int, float]] = []
    checkpoints: list[Path] = []
    student: nn.Module | None = None
    trained: TrainedClassifier | None = None
    for round_index in range(len(round_sizes) + 1):
        if round_index > 0:
            assert student is not None
            size = round_sizes[round_index - 1]
            left = np.flatnonzero(available)
            rng = np.random.default_rng([context.seed, 3, round_index])
            scored = (
                left
                if settings.pool_cap is None or settings.pool_cap >= len(left)
                else np.sort(rng.choice(left, settings.pool_cap, replace=False))
            )
            confidence, best_weight = least_confident_weights(
                student, fewshot_images, first[scored], second[scored], settings.weights
            )
            positions, mixes = _select_new_mixes(
                fewshot_images, first[scored], second[scored], confidence, best_weight, size, labelled_keys
            )
            available[scored[positions]] = False
            probs = context.oracle.query(mixes, f"BBKD round {round_index}: label {size} mixes")
            labelled_images = np.concatenate([labelled_images, mixes])
            labelled_probs = np.concatenate([labelled_probs, probs])
        checkpoint = round_checkpoint(context, round_index, round_index == len(round_sizes))
        if checkpoint is not None and checkpoint != context.stage_checkpoint:
            checkpoints.append(checkpoint)
        # the next round's queries are chosen by this student: wait for it
        trained = train_student(
            dataclasses.replace(context, stage_checkpoint=checkpoint),
            arch,
            labelled_images,
            labelled_probs,
            f"bbkd/{arch} round {round_index}",
            settings.augmentation,
        ).result()
        student = trained.model
        if context.test_accuracy is not None:
            accuracy = context.test_accuracy(student)
            query_curve.append((len(labelled_images), accuracy))
            progress.status(
                f"BBKD round {round_index}: {len(labelled_images)} queries, test accuracy {accuracy:.4f}"
            )
    for finished_round in checkpoints:  # the stage is done: nothing left to resume
        finished_round.unlink(missing_ok=True)
    assert trained is not None
    # its trainings ran within the method's own time (each round waits for its student)
    return MethodOutcome(
        finished(dataclasses.replace(trained, seconds=0.0)),
        teacher_queries=len(labelled_images),
        query_curve=query_curve,
    )


BBKD = Method(
    name="bbkd",
    summary="BBKD (active MixUp): rounds of querying the mixes the student is least sure of",
    run=run_bbkd,
    reads=("student", "teacher", "synthesis", "bbkd"),
    sections={"bbkd": BbkdConfig},
    budget=BudgetShare(sections=("student", "synthesis", "bbkd"), per_student=True, size_key="bbkd.budget"),
)
