"""FS-BBT: label the few images, synthesise MixUp + CVAE images, label those, distil.

Steps 1-6 of the method (docs/method.md). The synthetic set depends only on the seed
and the ``synthesis`` and ``cvae`` sections, so it is built once per seed and shared by
every student size.
"""

from __future__ import annotations

from pydantic import Field

from fsbbt.config.schema import Strict
from fsbbt.methods.base import (
    MethodContext,
    MethodOutcome,
    synthetic_images_within_budget,
    train_student,
)
from fsbbt.methods.declaration import BudgetShare, Method, budget_share_key
from fsbbt.synth.cvae import CvaeConfig
from fsbbt.synth.cvae_source import CvaeSource
from fsbbt.synth.mixup import MixupSource
from fsbbt.synth.sources import SyntheticSource
from fsbbt.synth.synthetic_set import SyntheticSet, build_synthetic_set


class SynthesisConfig(Strict):
    """M, the synthetic budget, and the MixUp rule; ``mixup``/``cvae`` switch either
    source off (with MixUp off, the CVAE makes all M images)."""

    budget: int = Field(48_000, ge=0)
    mixup_alpha: float = Field(1.0, gt=0)
    threshold: float = Field(0.05, ge=0, lt=0.5)
    mixup: bool = True
    cvae: bool = True


SOURCE_KINDS = (MixupSource.kind, CvaeSource.kind)
"""The synthesis sources, in the order they fill the budget; each reports its time."""


def synthesis_sources(context: MethodContext) -> list[SyntheticSource]:
    """The sources of the synthetic set, in the order they fill the budget."""
    settings = context.config.synthesis
    sources: list[SyntheticSource] = []
    if settings.mixup:
        sources.append(MixupSource(settings.mixup_alpha, settings.threshold))
    if settings.cvae:
        sources.append(CvaeSource(context.config.cvae, context.cache.cvaes, context.cvae_store))
    return sources


def _synthetic_set(context: MethodContext, arch: str) -> SyntheticSet:
    """The seed's synthetic set, built on first use and then shared by every student size."""
    key = budget_share_key(FSBBT, context.config, arch)
    assert key is not None
    if key not in context.cache.synthetic_sets:
        budget = synthetic_images_within_budget(context, context.config.synthesis.budget, "synthetic set")
        context.cache.synthetic_sets[key] = build_synthetic_set(
            context.fewshot.images_uint8, context.oracle, synthesis_sources(context), budget, context.seed
        )
    return context.cache.synthetic_sets[key]


def run_fsbbt(context: MethodContext, arch: str) -> MethodOutcome:
    synthetic = _synthetic_set(context, arch)
    training = train_student(context, arch, synthetic.images_uint8, synthetic.teacher_probs, f"fsbbt/{arch}")
    return MethodOutcome(
        training,
        teacher_queries=len(synthetic.images_uint8),
        samples=synthetic.samples_by_kind(),
        timings={"synthesis": synthetic.seconds, **synthetic.source_seconds},
    )


FSBBT = Method(
    name="fsbbt",
    summary="FS-BBT: the few images plus MixUp and CVAE images, all labelled by the teacher",
    run=run_fsbbt,
    reads=("student", "teacher", "synthesis", "cvae"),
    sections={"synthesis": SynthesisConfig, "cvae": CvaeConfig},
    budget=BudgetShare(sections=("synthesis", "cvae"), per_student=False, size_key="synthesis.budget"),
    timings=("synthesis", *SOURCE_KINDS),
)
