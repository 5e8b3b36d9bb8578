"""One seed of an experiment: draw the few images, run every planned method on them.

Split from the runner so a seed can run in the runner's process or in a worker process
of its own (``fsbbt run --jobs K``) through the same code.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fsbbt.config.method_entry import MethodSpec, parse_method_entry
from fsbbt.config.schema import USER_IMAGES, RunConfig
from fsbbt.core import distributed, progress
from fsbbt.core.errors import FsbbtError
from fsbbt.core.identity import identity
from fsbbt.data import ImageDataset, sample_fewshot_indices
from fsbbt.experiment.config import config_with_overrides
from fsbbt.experiment.stages import Stage, config_fingerprint
from fsbbt.methods import FewShotSet, Method, MethodContext, MethodOutcome, SeedCache, get_method
from fsbbt.methods.declaration import budget_share_key
from fsbbt.models import CLASSIFIERS
from fsbbt.report.results import StageResult
from fsbbt.ship.student_file import StudentInfo, save_student, student_filename
from fsbbt.synth.cvae_store import CVAE_DIR
from fsbbt.teacher import QueryOracle
from fsbbt.train import TestAccuracy, TrainHistory, evaluate_classifier
from fsbbt.train.workers import TrainingPool

Samples = dict[str, Any]


@dataclass(frozen=True)
class PlannedMethod:
    """A ``methods`` entry with its declaration, the config it runs under (the run's, or
    its variant's) and that config's fingerprint, which decides whether a finished stage
    is reused."""

    spec: MethodSpec
    method: Method
    config: RunConfig
    fingerprint: str
    budget_parts: int = 1  # distinct synthetic sets splitting each seed's query budget


def plan_methods(config: RunConfig) -> list[PlannedMethod]:
    """Every entry of ``methods``, refused before any training if it cannot run."""
    entries = []
    for entry in config.methods:
        spec = parse_method_entry(entry, config.variant_sections)
        method = get_method(spec.method)
        if spec.arch not in CLASSIFIERS:
            raise FsbbtError(
                f"unknown student architecture {spec.arch!r} in method {entry!r}; "
                f"choose one of {', '.join(sorted(CLASSIFIERS))}"
            )
        if method.uses_true_labels and config.dataset == USER_IMAGES:
            raise FsbbtError(
                f"method {entry!r} trains on true labels, which your own images do not have; leave it out"
            )
        entries.append((spec, method, config_with_overrides(config, spec.overrides, f"method {entry}")))
    synthetic_sets = {budget_share_key(method, variant, spec.arch) for spec, method, variant in entries} - {
        None
    }
    parts = max(1, len(synthetic_sets))
    return [
        PlannedMethod(spec, method, variant, config_fingerprint(variant, method, parts), parts)
        for spec, method, variant in entries
    ]


def training_curve(history: TrainHistory) -> dict[str, list]:
    """Loss per epoch and test accuracy at the evaluated epochs, as results.json holds them."""
    return {
        "epoch_loss": [round(v, 5) for v in history.epoch_loss],
        "eval_epochs": history.eval_epochs,
        "eval_accuracy": history.eval_accuracy,
    }


def _save_student(
    outcome: MethodOutcome,
    plan: PlannedMethod,
    seed: int,
    accuracy: float | None,
    dataset: ImageDataset,
    out_dir: Path,
) -> None:
    spec = plan.spec
    images = plan.config.data_dir if dataset.name == USER_IMAGES else None
    info = StudentInfo(
        arch=spec.arch,
        input_shape=dataset.input_shape,
        class_names=dataset.class_names,
        dataset=dataset.name,
        method=f"{spec.method}{spec.variant}",
        seed=seed,
        test_accuracy=accuracy,
        images=None if images is None else str(Path(images).resolve()),
    )
    save_student(
        outcome.student, info, out_dir / "students" / student_filename(spec.file_stem, spec.arch, seed)
    )


def test_accuracy_on(dataset: ImageDataset) -> TestAccuracy | None:
    """Test accuracy of a model on ``dataset`` (curves and round points, never selection);
    None when the dataset has no labelled test images."""
    if len(dataset.test_images) == 0:
        return None
    return TestAccuracy(dataset.test_images, dataset.test_labels, dataset.num_classes)


def fewshot_of(dataset: ImageDataset, config: RunConfig, seed: int) -> FewShotSet:
    """The seed's N few images: a class-balanced draw from a labelled training split, or
    every image of the user's own folder (which has no labels to balance by)."""
    if dataset.name == USER_IMAGES:
        return FewShotSet(dataset.train_images, dataset.train_labels)
    indices = sample_fewshot_indices(dataset.train_labels, config.n_fewshot, dataset.num_classes, seed)
    return FewShotSet(dataset.train_images[indices], dataset.train_labels[indices])


@dataclass
class _StartedStage:
    """A stage whose method has run: its student may still be training in a worker."""

    plan: PlannedMethod
    stage: Stage
    fingerprint: str
    outcome: MethodOutcome
    preparing_seconds: float


def run_seed(
    plans: list[PlannedMethod],
    dataset: ImageDataset,
    oracle: QueryOracle,
    seed: int,
    out_dir: Path,
    trainings: TrainingPool | None = None,
) -> tuple[dict[str, StageResult], Samples | None]:
    """Every planned method for one seed: (key → result, the first sample grid found).

    The methods run one after another (their queries and synthesis share the oracle and
    the seed's cache); the students they hand to ``trainings`` train beside that and are
    scored and saved in plan order once done.
    """
    if not plans:
        return {}, None
    trainings = trainings or TrainingPool(workers=1)
    fewshot = fewshot_of(dataset, plans[0].config, seed)
    # a stage is reused only for the same few images and the same test set it was scored on
    # (the user's folders may have changed, or a test folder been added)
    data_identity = identity(
        "seed data",
        precision_matters=False,
        few=fewshot.images_uint8,
        test_images=dataset.test_images,
        test_labels=dataset.test_labels,
    )
    test_accuracy = test_accuracy_on(dataset)
    cache = SeedCache()
    results: dict[str, StageResult] = {}
    samples: dict[str, Callable[[], Samples]] = {}  # each stage's sample grid, read when asked
    started: list[_StartedStage] = []
    for plan in plans:
        spec = plan.spec
        stage = Stage(out_dir, seed, spec.file_stem, spec.arch)
        fingerprint = identity(
            "seed stage", precision_matters=False, plan=plan.fingerprint, data=data_identity
        )
        # rank 0 decides, so all ranks skip or train together even without a shared disk
        finished = distributed.broadcast_object(
            stage.load_finished(fingerprint) if distributed.is_main_process() else None
        )
        if finished is not None:
            progress.status(f"[seed {seed}] {spec.key}: finished by an earlier run, not redone")
            results[spec.key] = finished
            samples[spec.key] = stage.load_samples  # read from disk only if no earlier grid
            continue
        progress.status(f"[seed {seed}] {spec.key}")
        context = MethodContext(
            plan.config,
            seed,
            fewshot,
            oracle,
            test_accuracy,
            cache=cache,
            stage_checkpoint=stage.checkpoint,
            budget_parts=plan.budget_parts,
            cvae_store=out_dir / CVAE_DIR,
            trainings=trainings,
        )
        begun = time.perf_counter()
        outcome = plan.method.run(context, spec.arch)
        started.append(_StartedStage(plan, stage, fingerprint, outcome, time.perf_counter() - begun))
    for begun_stage in started:
        results[begun_stage.plan.spec.key] = _finish_stage(begun_stage, dataset, seed, out_dir)
        samples[begun_stage.plan.spec.key] = lambda kept=begun_stage.outcome.samples: kept
    grids = (samples[plan.spec.key]() for plan in plans)
    return {plan.spec.key: results[plan.spec.key] for plan in plans}, next(
        (grid for grid in grids if grid), None
    )


def _finish_stage(begun: _StartedStage, dataset: ImageDataset, seed: int, out_dir: Path) -> StageResult:
    """Wait for the stage's student, score it on the test split, save it and its result."""
    plan, outcome = begun.plan, begun.outcome
    spec = plan.spec
    trained = outcome.trained.result()
    seconds = begun.preparing_seconds + trained.seconds
    accuracy = macro_f1 = None
    if len(dataset.test_images):
        scores = evaluate_classifier(
            trained.model, dataset.test_images, dataset.test_labels, dataset.num_classes
        )
        accuracy, macro_f1 = scores.accuracy, scores.macro_f1
        progress.status(
            f"[seed {seed}] {spec.key}: accuracy {accuracy:.4f}, macro-F1 {macro_f1:.4f}, {seconds:.1f} s"
        )
    history = trained.history
    result = StageResult(
        accuracy=accuracy,
        macro_f1=macro_f1,
        teacher_queries=outcome.teacher_queries,
        seconds=round(seconds, 2),
        train_seconds=round(history.seconds, 2),
        train_images_per_second=round(history.images_per_second, 1),
        curve=training_curve(history),
        query_curve=[[queries, accuracy] for queries, accuracy in outcome.query_curve],
        timings={name: round(outcome.timings.get(name, 0.0), 2) for name in plan.method.timings},
    )
    if distributed.is_main_process():
        _save_student(outcome, plan, seed, accuracy, dataset, out_dir)
        begun.stage.save_finished(result, begun.fingerprint, outcome.samples)
    return result
