"""FS-BBT-active: spend a fixed query budget where it teaches the student most.

FS-BBT asks the teacher about every synthetic image it makes. This method makes a free
pool many times larger than the budget, without a single query, and buys answers in
rounds for the images the current student is least sure of:

1. Query the N few images; train a first student on them.
2. Pool (``active.pool_*``): MixUp pairs of the few images with λ ~ U(0, 1), and if
   switched on samples of FS-BBT's CVAE (trained on the few images and their answers)
   and random rotations and shifts of the few images; each quantised to uint8 like every
   queried image, ``active.pool_factor`` times the images still to buy.
3. Each of ``active.rounds`` rounds buys an equal share of the rest of the budget:
   ``active.explore`` of it uniformly at random from the pool (a hedge against a student
   whose uncertainty misleads it), the rest as the round's student scores the pool
   (``active.selection``: margin or entropy of its prediction, or random; or
   ``disagreement``: two students from different seeds train side by side each round,
   and an image scores the total-variation distance between their predictions, as
   DisGUIDE queries where two students disagree); with ``class_balance`` each class the
   student predicts gets an equal quota of the most uncertain; with ``diversity`` a
   greedy k-center pass over the student's penultimate features picks the share among
   four times as many candidates, so one round does not buy near-duplicates. The next
   student trains on everything bought so far for ``round_epochs`` epochs: fresh, or
   with ``warm_start`` from the previous round's weights. With ``explore`` = 1 nothing
   chooses, and no round student is trained.
4. The final student trains fresh with the student recipe, but for ``active.final_epochs``
   (default ``recipe-steps``: what the round students leave of the optimizer steps the
   recipe takes at the budget it is taken to be written for, N + 24 N, within 1–2× the
   recipe's epochs), with
   ``active.augmentation`` (default ``standard``: exact answers only, no blends of two
   answers with the answers interpolated) and
   ``active.average_epochs`` (its weights averaged over the last epochs, as every
   student of the method), on all N + bought images; with ``pseudo_labels`` also on the
   unbought pool images a student is confident about (top-1 ≥ ``pseudo_threshold``),
   labelled by that student: answers nobody paid for, at most ``pseudo_share`` times as
   many as were bought. The labeller (``pseudo_labeler``) is the last round's student
   (both, averaged, under disagreement), or ``final``: a student trained as long as the
   final one on everything bought (self-training, at the cost of one more training).

The defaults were chosen on validation splits of Fashion-MNIST and digits
(docs/reproduction.md): a MixUp-only pool, margin selection, exact answers, weights
averaged over the last epochs, a final student trained up to twice as long, no pseudo-labels.
Every query is counted: the few images, every round; the pool asks nothing of the
teacher. The budget is spent exactly and never exceeded (a test checks it, with a resume
after SIGKILL). The selection is a function of the seed and of students trained from the
seed, so a resumed run buys the same images and its ledger answers them for free.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import torch
from pydantic import Field, field_validator
from torch import nn

from fsbbt.config.names import AugmentationName
from fsbbt.config.schema import Strict
from fsbbt.core import progress
from fsbbt.core.errors import FsbbtError
from fsbbt.core.tensors import float_to_uint8, uint8_to_float
from fsbbt.methods.base import (
    SYNTHETIC_PER_FEW_IMAGE,
    MethodContext,
    MethodOutcome,
    images_to_buy,
    round_checkpoint,
    train_student,
)
from fsbbt.methods.declaration import BudgetShare, Method
from fsbbt.synth import mix_pairs
from fsbbt.synth.cvae_source import CvaeSource
from fsbbt.synth.sources import SeedImages
from fsbbt.teacher.blackbox import image_keys
from fsbbt.train.augment import geometry_for, random_affine
from fsbbt.train.evaluate import predict_probabilities

OWN_STUDENT_KEYS = ("augmentation", "average_epochs")
"""Student-section keys this method's own section sets for every student it trains."""
FINAL_EPOCHS_FACTOR = 2
"""The final student trains at most this many times the student recipe's epochs
(:func:`_final_epochs`)."""
CANDIDATES_PER_PICK = 4  # the diversity pass chooses among this many times the round's share
SCORING_BATCH = 1024
DISTANCE_BLOCK = 2048  # rows × columns of one block of feature distances (16 MB)


class ActiveConfig(Strict):
    """FS-BBT-active (this module's docstring says what each key does)."""

    budget: int | None = Field(
        None,
        ge=1,
        description="teacher queries in all, the N few images included; default N + synthesis.budget",
    )
    rounds: int = Field(4, ge=1, description="rounds of buying answers after the few images")
    pool_factor: float = Field(8.0, ge=1.0, description="free pool size, in images still to buy")
    pool_mixup: bool = True
    pool_cvae: bool = False
    pool_geometric: bool = False
    selection: Literal["entropy", "margin", "random", "disagreement"] = "margin"
    class_balance: bool = True
    diversity: bool = True
    explore: float = Field(
        0.0, ge=0, le=1, description="share of each round bought uniformly at random from the pool"
    )
    round_epochs: int | None = Field(
        None, ge=1, description="epochs of each round's student; default student.epochs // 5"
    )
    final_epochs: Annotated[int, Field(ge=1)] | Literal["recipe-steps"] = Field(
        "recipe-steps",
        description="epochs of the final student (and of a 'final' pseudo-labeller); "
        "recipe-steps: (student.epochs × 25 N − the round students' "
        f"image passes) / images bought, within [student.epochs, {FINAL_EPOCHS_FACTOR} × "
        "student.epochs]",
    )
    warm_start: bool = Field(
        False, description="each round's student starts from the previous round's weights"
    )
    pseudo_labels: bool = False
    pseudo_labeler: Literal["round", "final"] = Field(
        "round", description="who pseudo-labels: the last round's student, or a fully trained one"
    )
    augmentation: AugmentationName = Field(
        "standard",
        description="its students' augmentation: 'standard' trains on exact answers only; "
        "'combination' (FS-BBT's) adds blends of them with interpolated answers",
    )
    average_epochs: float = Field(
        5.0,
        ge=0,
        description="its students are moving averages of their weights over about this many "
        "last epochs (student.average_epochs for the other methods); 0: the last step's",
    )
    pseudo_threshold: float = Field(0.9, gt=0, le=1)
    pseudo_share: float = Field(1.0, ge=0)

    @field_validator("final_epochs", mode="before")
    @classmethod
    def _epochs_or_the_rule(cls, value: object) -> object:
        """One message for both forms (the union's two errors read as a riddle)."""
        if value == "recipe-steps" or (type(value) is int and value >= 1):
            return value
        raise ValueError(f"{value!r} is neither a number of epochs ≥ 1 nor recipe-steps (the default)")


def _pool(context: MethodContext, few_probs: np.ndarray, size: int) -> np.ndarray:
    """``size`` free images from the few ones (MixUp, CVAE, geometric, as switched on),
    uint8, in a seeded order; nothing is queried."""
    settings = context.config.active
    few_images = context.fewshot.images_uint8
    kinds = [k for k, on in (("mixup", settings.pool_mixup), ("cvae", settings.pool_cvae),
                             ("geometric", settings.pool_geometric)) if on]  # fmt: skip
    if not kinds:
        raise FsbbtError(
            "fsbbt-active needs a pool: set at least one of active.pool_mixup, pool_cvae, pool_geometric"
        )
    shares = np.full(len(kinds), size // len(kinds))
    shares[: size % len(kinds)] += 1
    rng = np.random.default_rng([context.seed, 7])
    parts = []
    for kind, count in zip(kinds, shares, strict=True):
        if kind == "mixup":
            first, second = rng.integers(0, len(few_images), (2, count))
            parts.append(mix_pairs(few_images, first, second, rng.uniform(0, 1, count).astype(np.float32)))
        elif kind == "cvae":
            few = SeedImages(few_images, few_probs.argmax(axis=1), context.num_classes, context.seed)
            source = CvaeSource(context.config.cvae, context.cache.cvaes, context.cvae_store)
            parts.append(source.draw(few, int(count)).images_uint8)
        else:
            geometry = geometry_for(context.config.student.geometry, context.input_shape[0])
            chosen = rng.integers(0, len(few_images), count)
            views = random_affine(uint8_to_float(few_images[chosen]), rng, geometry)
            parts.append(float_to_uint8(views.numpy()))
    pool = np.concatenate(parts)
    return pool[rng.permutation(len(pool))]


def _scores_and_features(student: nn.Module, images_uint8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The student's probabilities and penultimate features (the input of its last linear
    layer) for every image."""
    last_linear = [module for module in student.modules() if isinstance(module, nn.Linear)][-1]
    captured: list[torch.Tensor] = []
    hook = last_linear.register_forward_hook(
        lambda _m, inputs, _o: captured.append(inputs[0].detach().float())
    )
    try:
        probs = predict_probabilities(student, images_uint8, SCORING_BATCH)
    finally:
        hook.remove()
    return probs, torch.cat(captured).cpu().numpy() if captured else np.zeros((0, 0), np.float32)


def _uncertainty(probs: np.ndarray, selection: str, rng: np.random.Generator) -> np.ndarray:
    """Higher = more worth an answer."""
    if selection == "random":
        return rng.random(len(probs))
    if selection == "margin":
        top_two = np.sort(probs, axis=1)[:, -2:]
        return top_two[:, 0] - top_two[:, 1]  # minus the margin
    return -(probs * np.log(np.clip(probs, 1e-12, None))).sum(axis=1)


def _disagreement(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Total-variation distance between two students' predictions, row by row: 0 where
    they agree exactly, 1 where they put their mass on different classes."""
    return 0.5 * np.abs(first - second).sum(axis=1)


def _balanced_top(uncertainty: np.ndarray, predicted: np.ndarray, count: int, classes: int) -> np.ndarray:
    """The ``count`` most uncertain positions, taken round-robin over the classes the
    student predicts: equal quotas, and a class with too few candidates leaves the rest
    of its quota to the others."""
    ranked = [np.flatnonzero(predicted == c) for c in range(classes)]
    ranked = [members[np.argsort(-uncertainty[members], kind="stable")] for members in ranked]
    positions = np.concatenate(ranked)
    rank_in_class = np.concatenate([np.arange(len(members)) for members in ranked])
    class_of = np.concatenate([np.full(len(members), c) for c, members in enumerate(ranked)])
    return positions[np.lexsort((class_of, rank_in_class))[:count]]


def _nearest_labelled(candidates: torch.Tensor, norms: torch.Tensor, labelled: np.ndarray) -> torch.Tensor:
    """Each candidate's squared Euclidean distance to its nearest labelled feature row, as
    |a|² − 2a·b + |b|² (one fused matrix product per block; ``torch.cdist`` was slower).

    Blocks of DISTANCE_BLOCK × DISTANCE_BLOCK stay in cache, where whole columns of 48,000
    candidates ran 4× slower on this CPU.
    """
    nearest = torch.full((len(candidates),), torch.inf)
    for start in range(0, len(labelled), DISTANCE_BLOCK):
        block = torch.from_numpy(labelled[start : start + DISTANCE_BLOCK])
        block_norms = (block * block).sum(dim=1)[None, :]
        for row in range(0, len(candidates), DISTANCE_BLOCK):
            rows = slice(row, row + DISTANCE_BLOCK)
            distances = torch.addmm(norms[rows, None], candidates[rows], block.T, alpha=-2)
            distances.add_(block_norms).clamp_min_(0)
            torch.minimum(nearest[rows], distances.amin(dim=1), out=nearest[rows])
    return nearest


def _k_center(features: np.ndarray, labelled: np.ndarray, count: int) -> np.ndarray:
    """Greedy k-center: ``count`` rows of ``features``, each the farthest (Euclidean) from
    the labelled features and the rows already chosen.

    Each pick updates every candidate's distance to its nearest chosen row in place, one
    matrix-vector product and no new tensors: one pick per row bought makes this loop the
    method's hottest, and allocating per step made it 4× slower.
    """
    candidates = torch.from_numpy(np.ascontiguousarray(features, np.float32))
    norms = (candidates * candidates).sum(dim=1)
    nearest = _nearest_labelled(candidates, norms, labelled)
    to_pick = torch.empty_like(nearest)
    chosen = []
    for _ in range(min(count, len(candidates))):
        pick = int(nearest.argmax())
        chosen.append(pick)
        torch.addmv(norms, candidates, candidates[pick], alpha=-2, out=to_pick)  # |a|² − 2a·b
        to_pick.add_(norms[pick]).clamp_min_(0)
        torch.minimum(nearest, to_pick, out=nearest)
        nearest[pick] = -1.0
    return np.asarray(chosen, np.int64)


def _select(
    context: MethodContext, students: list[nn.Module], pool: np.ndarray, available: np.ndarray,
    labelled_images: np.ndarray, count: int, round_index: int,
) -> np.ndarray:  # fmt: skip
    """Positions in ``pool`` of the ``count`` images to buy this round; ``students`` are
    the round's (two under disagreement, whose average prediction balances the classes)."""
    settings = context.config.active
    rng = np.random.default_rng([context.seed, 8, round_index])
    left = np.flatnonzero(available)
    chosen = left[:0]
    if settings.explore > 0:  # bought at random; the rest is chosen among what they left
        explored = rng.choice(len(left), int(round(settings.explore * count)), replace=False)
        chosen = left[explored]
        left = np.delete(left, explored)
        count -= len(explored)
    if count == 0:
        return chosen
    probs, features = _scores_and_features(students[0], pool[left])
    if settings.selection == "disagreement":
        other = predict_probabilities(students[1], pool[left], SCORING_BATCH)
        uncertainty = _disagreement(probs, other)
        probs = (probs + other) / 2
    else:
        uncertainty = _uncertainty(probs, settings.selection, rng)
    wanted = count * CANDIDATES_PER_PICK if settings.diversity else count
    if settings.class_balance:
        candidates = _balanced_top(uncertainty, probs.argmax(axis=1), wanted, context.num_classes)
    else:
        candidates = np.argsort(-uncertainty, kind="stable")[:wanted]
    if settings.diversity and len(candidates) > count:
        # the random share of this round counts as labelled: the rest keeps its distance
        labelled = np.concatenate([labelled_images, pool[chosen]]) if len(chosen) else labelled_images
        _, labelled_features = _scores_and_features(students[0], labelled)
        candidates = candidates[_k_center(features[candidates], labelled_features, count)]
    return np.concatenate([chosen, left[candidates[:count]]])


def _student_seeds(context: MethodContext) -> list[int]:
    """The seeds of a round's students: the run's, and under disagreement a second one
    drawn from it."""
    seeds = [context.seed]
    if context.config.active.selection == "disagreement":
        seeds.append(int(np.random.SeedSequence([context.seed, 9]).generate_state(1)[0] % 2**31))
    return seeds


def _twin_checkpoints(context: MethodContext, round_index: int) -> list[Path | None]:
    """Where each of round ``round_index``'s students checkpoints (one file per seed)."""
    first = round_checkpoint(context, round_index, last=False)
    paths = [first]
    for twin in range(1, len(_student_seeds(context))):
        paths.append(None if first is None else first.with_name(f"{first.stem}.twin{twin}{first.suffix}"))
    return paths


def _round_students(context: MethodContext, arch: str, images: np.ndarray, probs: np.ndarray,
                    round_index: int, epochs: int,
                    initial_states: list[dict[str, torch.Tensor] | None]) -> list[nn.Module]:  # fmt: skip
    """The round's students (one per :func:`_student_seeds`), trained side by side for
    ``epochs`` on what was bought so far, fresh or from ``initial_states``; waited for:
    they choose the next round's images."""
    context = _with_student(context, epochs=epochs)
    trainings = [
        train_student(
            dataclasses.replace(context, seed=seed, stage_checkpoint=checkpoint),
            arch,
            images,
            probs,
            f"fsbbt-active/{arch} round {round_index}" + (f" twin {twin}" if twin else ""),
            initial_state=state,
        )  # fmt: skip
        for twin, (seed, checkpoint, state) in enumerate(
            zip(_student_seeds(context), _twin_checkpoints(context, round_index), initial_states, strict=True)
        )
    ]
    return [training.result().model for training in trainings]


def _with_student(context: MethodContext, **updates: object) -> MethodContext:
    """``context`` whose student recipe has ``updates`` (epochs, augmentation, …)."""
    student = context.config.student.model_copy(update=updates)
    return dataclasses.replace(context, config=context.config.model_copy(update={"student": student}))


def _with_own_student_recipe(context: MethodContext) -> MethodContext:
    """``context`` with the student recipe every student of this method trains with: the
    configured one, with ``active.augmentation`` and ``active.average_epochs`` in place of
    the student section's (which keep the paper's recipe for the other methods)."""
    settings = context.config.active
    return _with_student(context, **{key: getattr(settings, key) for key in OWN_STUDENT_KEYS})


def _labels_pool(settings: ActiveConfig) -> bool:
    """Whether the final student also learns from pseudo-labelled pool images."""
    return settings.pseudo_labels and settings.pseudo_share > 0


def _round_student_plan(settings: ActiveConfig, round_epochs: int) -> dict[int, int | None]:
    """After which rounds (0: the few images alone) the method trains round students, and
    for how many epochs (None: as long as the final student, and fresh).

    While students choose (``explore`` < 1) one trains before every purchase, on what was
    bought so far; if the pool is pseudo-labelled, one more trains after the last purchase
    to label it: a round student, or one as long as the final student (``pseudo_labeler:
    final``). Built once, so that the loop trains exactly what the recipe-steps rule counts.
    """
    rounds = settings.rounds
    plan: dict[int, int | None] = dict.fromkeys(range(rounds) if settings.explore < 1.0 else [], round_epochs)
    if _labels_pool(settings):
        plan[rounds] = round_epochs if settings.pseudo_labeler == "round" else None
    return plan


def _final_epochs(context: MethodContext, round_sizes: list[int], plan: dict[int, int | None]) -> int:
    """Epochs of the final student: ``active.final_epochs`` if a number. If
    ``recipe-steps`` (the default), all the method's students together train the image
    passes (epochs × images, optimizer steps at a fixed batch size) the student recipe
    takes at the budget it is taken to be written for, N + 24 N
    (:data:`SYNTHETIC_PER_FEW_IMAGE`; not ``synthesis.budget``, which a run sets for
    FS-BBT); the final student gets what the round students of ``plan`` leave, kept within
    1–2× the recipe's epochs. With pseudo-labels, a ``final`` labeller and the
    pseudo-labelled images come on top of that count.

    Why: below that budget an epoch holds fewer steps, and on the validation splits the
    final student was still improving at the recipe's length there (twice the epochs:
    +0.84 points on Fashion-MNIST at 12,500 queries); nearer to it, twice the epochs cost
    more than twice FS-BBT's wall time (docs/reproduction.md, fifth session).
    """
    settings = context.config.active
    if settings.final_epochs != "recipe-steps":
        return settings.final_epochs
    n = len(context.fewshot.images_uint8)
    bought_after = np.cumsum([n, *round_sizes])  # images bought once round r is done
    round_passes = len(_student_seeds(context)) * sum(
        epochs * int(bought_after[r]) for r, epochs in plan.items() if epochs is not None
    )
    recipe = context.config.student.epochs
    recipe_passes = recipe * n * (1 + SYNTHETIC_PER_FEW_IMAGE)
    epochs = round((recipe_passes - round_passes) / int(bought_after[-1]))
    return int(np.clip(epochs, recipe, FINAL_EPOCHS_FACTOR * recipe))


def run_fsbbt_active(context: MethodContext, arch: str) -> MethodOutcome:
    context = _with_own_student_recipe(context)
    settings = context.config.active
    few_images = context.fewshot.images_uint8
    to_buy = images_to_buy(context, settings.budget, "active.budget", "fsbbt-active's purchases")
    round_sizes = [to_buy // settings.rounds + (r < to_buy % settings.rounds) for r in range(settings.rounds)]
    round_epochs = settings.round_epochs or max(1, context.config.student.epochs // 5)
    plan = _round_student_plan(settings, round_epochs)
    final_epochs = _final_epochs(context, round_sizes, plan)

    bought_images = few_images
    bought_probs = context.oracle.query(few_images, "label the few images")
    pool = _pool(context, bought_probs, int(np.ceil(settings.pool_factor * to_buy)))
    # a pool image whose bytes were bought already (a few image, a repeat) is not for sale
    bought_keys = set(image_keys(few_images))
    available = np.array([key not in bought_keys for key in image_keys(pool)])
    if available.sum() < to_buy:
        raise FsbbtError(
            f"fsbbt-active's pool holds {available.sum()} new images, fewer than the {to_buy} "
            "to buy; raise active.pool_factor"
        )
    query_curve: list[tuple[int, float]] = []
    seeds = len(_student_seeds(context))

    def next_students(round_index: int, previous: list[nn.Module]) -> list[nn.Module]:
        """The students ``plan`` trains after ``round_index``'s purchase: a final-length
        labeller (epochs None) always fresh, the others warm-started if switched on."""
        planned = plan[round_index]
        epochs = final_epochs if planned is None else planned
        warm = settings.warm_start and planned is not None and bool(previous)
        states = [model.state_dict() for model in previous] if warm else [None] * seeds
        models = _round_students(context, arch, bought_images, bought_probs, round_index, epochs, states)
        if context.test_accuracy is not None:  # a point of the curve, never a selection
            query_curve.append((len(bought_images), context.test_accuracy(models[0])))
            progress.status(
                f"fsbbt-active round {round_index}: {len(bought_images)} queries, "
                f"accuracy {query_curve[-1][1]:.4f}"
            )
        return models

    # with explore = 1 every purchase is random: no round student chooses, none is trained
    students = next_students(0, []) if 0 in plan else []
    for round_index, size in enumerate(round_sizes, start=1):
        positions = _select(context, students, pool, available, bought_images, size, round_index)
        available[positions] = False
        probs = context.oracle.query(
            pool[positions], f"fsbbt-active round {round_index}: label {size} images"
        )
        bought_images = np.concatenate([bought_images, pool[positions]])
        bought_probs = np.concatenate([bought_probs, probs])
        if round_index in plan:  # the next round's choosers, or the pool's labellers
            students = next_students(round_index, students)
    train_images, train_targets = bought_images, bought_probs
    if _labels_pool(settings):
        train_images, train_targets = _with_pseudo_labels(
            context, students, pool, available, bought_images, bought_probs
        )
    for round_index in range(len(round_sizes) + 1):  # the rounds are done: nothing left to resume
        for finished_round in _twin_checkpoints(context, round_index):
            if finished_round is not None:
                finished_round.unlink(missing_ok=True)
    training = train_student(
        _with_student(context, epochs=final_epochs), arch, train_images, train_targets, f"fsbbt-active/{arch}"
    )
    return MethodOutcome(training, teacher_queries=len(bought_images), query_curve=query_curve)


def _with_pseudo_labels(
    context: MethodContext, students: list[nn.Module], pool: np.ndarray, available: np.ndarray,
    bought_images: np.ndarray, bought_probs: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The bought images and answers, plus the unbought pool images ``students`` (their
    average prediction) are confident about, with those probabilities as their targets
    (never sent to the teacher)."""
    settings = context.config.active
    left = np.flatnonzero(available)
    if not len(left):
        return bought_images, bought_probs
    probs = np.mean([predict_probabilities(model, pool[left], SCORING_BATCH) for model in students], axis=0)
    confident = np.flatnonzero(probs.max(axis=1) >= settings.pseudo_threshold)
    limit = int(settings.pseudo_share * (len(bought_images) - len(context.fewshot.images_uint8)))
    confident = confident[np.argsort(-probs[confident].max(axis=1), kind="stable")][:limit]
    progress.status(f"fsbbt-active: {len(confident)} pool images pseudo-labelled by the student, unpaid")
    return (
        np.concatenate([bought_images, pool[left[confident]]]),
        np.concatenate([bought_probs, probs[confident]]),
    )


FSBBT_ACTIVE = Method(
    name="fsbbt-active",
    summary="FS-BBT-active: a free MixUp/CVAE/geometric pool, answers bought in rounds for "
    "the images the student is least sure of, confident pool images pseudo-labelled",
    run=run_fsbbt_active,
    reads=("student", "teacher", "synthesis", "cvae", "active"),
    sections={"active": ActiveConfig},
    budget=BudgetShare(
        sections=("student", "synthesis", "cvae", "active"), per_student=True, size_key="active.budget"
    ),
    replaces=tuple(f"student.{key}" for key in OWN_STUDENT_KEYS),  # _with_own_student_recipe
)
