"""FS-BBT: label the few images, synthesise MixUp + CVAE images, label those, distil.

Steps 1-6 of the method (docs: method.md). The synthetic set depends only on the seed
and the config, so it is built once per seed and shared by every student size.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import numpy as np

from fsbbt.core import progress
from fsbbt.experiment.config import ExperimentConfig, SynthesisConfig
from fsbbt.methods.base import (
    MethodContext,
    MethodOutcome,
    synthetic_images_within_budget,
    train_student,
)
from fsbbt.synth import CvaeRecipe, MixupDraw, mixup_from_fewshot, sample_cvae
from fsbbt.synth.cvae_store import stored_or_trained_cvae

SHARED_KEY = "fsbbt-synthetic-set"
# The config sections a synthetic set is built from: its cache key here, and its share
# of a query budget in the run (methods/registry.py BUDGETED_METHODS).
SYNTHETIC_SET_SECTIONS = ("synthesis", "cvae")
SAMPLES_PER_KIND = 10


@dataclass(frozen=True)
class SyntheticSet:
    """The few images plus the synthetic ones, with the teacher's answers for all of them."""

    images_uint8: np.ndarray
    teacher_probs: np.ndarray
    kind_of_image: np.ndarray  # "real" | "mixup" | "cvae", per row
    seconds: float  # all of steps 1-5, teacher queries included
    cvae_seconds: float  # of which training and sampling the CVAE


def cvae_recipe(config: ExperimentConfig) -> CvaeRecipe:
    """The CVAE's training recipe from the config's ``cvae`` section."""
    settings = config.cvae
    return CvaeRecipe(kind=settings.kind, latent_dim=settings.latent_dim, epochs=settings.epochs,
                      batch_size=settings.batch_size, lr=settings.lr)


def cvae_shared_key(recipe: CvaeRecipe) -> str:
    """Where a seed's trained CVAE is kept in ``MethodContext.shared``.

    The CVAE depends on the few images and its own recipe only: variants that change M, τ
    or the sampling (the ablations) reuse the one trained for the seed. A caller may put a
    CVAE there first (benchmarks/reference_cvae_draw.py does, to measure a reference quirk).
    """
    return f"fsbbt-cvae:{recipe}"


def seed_mixup(fewshot_images_uint8: np.ndarray, synthesis: SynthesisConfig, budget: int,
               seed: int) -> MixupDraw:
    """The MixUp part of ``seed``'s synthetic set (step 3), drawn from its own random stream:
    one function, so a benchmark that studies a run's MixUp images draws the run's pairs."""
    return mixup_from_fewshot(fewshot_images_uint8, budget, synthesis.mixup_alpha,
                              synthesis.threshold, np.random.default_rng([seed, 1]))


def build_synthetic_set(context: MethodContext) -> SyntheticSet:
    """Steps 1-5: query X, train the CVAE on the teacher's labels, MixUp, sample, query."""
    started = time.perf_counter()
    config = context.config
    synthetic_budget = synthetic_images_within_budget(context, config.synthesis.budget,
                                                      "synthetic set")
    fewshot_images = context.fewshot.images_uint8
    fewshot_probs = context.oracle.query(fewshot_images, "label the few images")
    teacher_labels = fewshot_probs.argmax(axis=1)

    synthesis = config.synthesis
    if synthesis.mixup:
        mixup = seed_mixup(fewshot_images, synthesis, synthetic_budget, context.seed)
        mixup_images, cvae_count = mixup.images_uint8, mixup.dropped_count
    else:
        mixup_images, cvae_count = fewshot_images[:0], synthetic_budget

    cvae_started = time.perf_counter()
    if synthesis.cvae and cvae_count > 0:
        recipe = cvae_recipe(config)
        cvae_key = cvae_shared_key(recipe)
        if cvae_key not in context.shared:
            context.shared[cvae_key] = stored_or_trained_cvae(
                fewshot_images, teacher_labels, context.num_classes, recipe, context.seed,
                context.cvae_store)
        cvae = context.shared[cvae_key]
        cvae_images, _ = sample_cvae(cvae, cvae_count, context.num_classes,
                                     config.cvae.sampling, np.random.default_rng([context.seed, 2]))
    else:
        cvae_images = fewshot_images[:0]
    cvae_seconds = time.perf_counter() - cvae_started
    progress.status(f"synthetic set: {len(mixup_images)} MixUp + {len(cvae_images)} CVAE images")

    synthetic_images = np.concatenate([mixup_images, cvae_images])
    synthetic_probs = context.oracle.query(synthetic_images, "label synthetic images")
    kinds = np.array(["real"] * len(fewshot_images) + ["mixup"] * len(mixup_images)
                     + ["cvae"] * len(cvae_images))
    return SyntheticSet(
        images_uint8=np.concatenate([fewshot_images, synthetic_images]),
        teacher_probs=np.concatenate([fewshot_probs, synthetic_probs]),
        kind_of_image=kinds,
        seconds=time.perf_counter() - started,
        cvae_seconds=cvae_seconds,
    )


def _samples_by_kind(synthetic: SyntheticSet) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    samples = {}
    for kind in ("real", "mixup", "cvae"):
        rows = np.flatnonzero(synthetic.kind_of_image == kind)[:SAMPLES_PER_KIND]
        samples[kind] = (synthetic.images_uint8[rows], synthetic.teacher_probs[rows].argmax(1))
    return samples


def _shared_key(context: MethodContext) -> str:
    """The cache key of a synthetic set: what it is built from, so that a method variant
    changing the synthesis (``fsbbt[synthesis.budget=4800]``) gets its own set, while
    variants changing only the student share one."""
    settings = context.config.model_dump(mode="json")
    recipe = {section: settings[section] for section in SYNTHETIC_SET_SECTIONS}
    return f"{SHARED_KEY}:{json.dumps(recipe, sort_keys=True)}"


def synthetic_set_for(context: MethodContext) -> SyntheticSet:
    """The seed's synthetic set, built on first use and then shared by every student size
    (a benchmark may build it first, to train the student under other settings)."""
    key = _shared_key(context)
    if key not in context.shared:
        context.shared[key] = build_synthetic_set(context)
    return context.shared[key]


def run_fsbbt(context: MethodContext, arch: str) -> MethodOutcome:
    synthetic = synthetic_set_for(context)
    student, history = train_student(context, arch, synthetic.images_uint8,
                                     synthetic.teacher_probs, f"fsbbt/{arch}")
    return MethodOutcome(student, history, teacher_queries=len(synthetic.images_uint8),
                         samples=_samples_by_kind(synthetic),
                         extra_seconds={"synthesis": synthetic.seconds,
                                        "cvae": synthetic.cvae_seconds})
