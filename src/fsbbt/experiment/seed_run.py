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

import torch

from fsbbt.core import distributed, progress
from fsbbt.core.errors import FsbbtError
from fsbbt.data import ImageDataset, sample_fewshot_indices
from fsbbt.experiment.config import ExperimentConfig, config_with_overrides
from fsbbt.experiment.method_spec import MethodSpec, parse_method_entry
from fsbbt.experiment.results import StageResult
from fsbbt.experiment.stages import Stage, config_fingerprint, synthetic_set_identity
from fsbbt.methods import FewShotSet, MethodContext, MethodOutcome, get_method
from fsbbt.models import CLASSIFIERS
from fsbbt.ship.student_file import StudentInfo, save_student, student_filename
from fsbbt.synth.cvae_store import CVAE_DIR
from fsbbt.teacher import QueryOracle
from fsbbt.train import TrainHistory, evaluate_classifier

Samples = dict[str, Any]


@dataclass(frozen=True)
class PlannedMethod:
    """A ``methods`` entry with the config it runs under (the run's, or its variant's)
    and that config's fingerprint, which decides whether a finished stage is reused."""

    spec: MethodSpec
    config: ExperimentConfig
    fingerprint: str
    budget_parts: int = 1  # distinct synthetic sets splitting each seed's query budget


def plan_methods(config: ExperimentConfig) -> list[PlannedMethod]:
    """Every entry of ``methods``, refused before any training if a name is unknown."""
    entries = []
    for entry in config.methods:
        spec = parse_method_entry(entry)
        get_method(spec.method)
        if spec.arch not in CLASSIFIERS:
            raise FsbbtError(f"unknown student architecture {spec.arch!r} in method {entry!r}; "
                             f"choose one of {', '.join(sorted(CLASSIFIERS))}")
        entries.append((spec, config_with_overrides(config, spec.overrides, f"method {entry}")))
    synthetic_sets = {synthetic_set_identity(variant, spec.method, spec.arch)
                      for spec, variant in entries} - {None}
    parts = max(1, len(synthetic_sets))
    return [PlannedMethod(spec, variant, config_fingerprint(variant, spec.method, parts), parts)
            for spec, variant in entries]


def training_curve(history: TrainHistory) -> dict[str, list]:
    """Loss per epoch and test accuracy at the evaluated epochs, as results.json holds them."""
    return {"epoch_loss": [round(v, 5) for v in history.epoch_loss],
            "eval_epochs": history.eval_epochs, "eval_accuracy": history.eval_accuracy}


def _save_student(outcome: MethodOutcome, spec: MethodSpec, seed: int, accuracy: float,
                  dataset: ImageDataset, out_dir: Path) -> None:
    info = StudentInfo(arch=spec.arch, input_shape=dataset.input_shape,
                       class_names=dataset.class_names, dataset=dataset.name,
                       method=f"{spec.method}{spec.variant}",
                       seed=seed, test_accuracy=accuracy)
    save_student(outcome.student, info,
                 out_dir / "students" / student_filename(spec.file_stem, spec.arch, seed))


def test_accuracy_on(dataset: ImageDataset) -> Callable[[torch.nn.Module], float]:
    """Test accuracy of a model on ``dataset`` (curves and round points, never selection)."""

    def test_accuracy(model: torch.nn.Module) -> float:
        return evaluate_classifier(model, dataset.test_images, dataset.test_labels,
                                   dataset.num_classes).accuracy

    return test_accuracy


def run_seed(plans: list[PlannedMethod], dataset: ImageDataset, oracle: QueryOracle,
             seed: int, out_dir: Path) -> tuple[dict[str, StageResult], Samples | None]:
    """Every planned method for one seed: (key → result, the first sample grid found)."""
    run_config = plans[0].config if plans else None
    if run_config is None:
        return {}, None
    indices = sample_fewshot_indices(dataset.train_labels, run_config.n_fewshot,
                                     dataset.num_classes, seed)
    fewshot = FewShotSet(dataset.train_images[indices], dataset.train_labels[indices])
    test_accuracy = test_accuracy_on(dataset)
    shared: dict[str, Any] = {}  # FS-BBT's CVAEs and synthetic sets, keyed by what they are built from
    results: dict[str, StageResult] = {}
    sample_grid: Samples | None = None
    for plan in plans:
        spec = plan.spec
        stage = Stage(out_dir, seed, spec.file_stem, spec.arch)
        # rank 0 decides, so all ranks skip or train together even without a shared disk
        finished = distributed.broadcast_object(
            stage.load_finished(plan.fingerprint) if distributed.is_main_process() else None)
        if finished is not None:
            progress.status(f"[seed {seed}] {spec.key}: finished by an earlier run "
                            f"(accuracy {finished.accuracy:.4f}), not redone")
            results[spec.key] = finished
            sample_grid = sample_grid or stage.load_samples() or None
            continue
        progress.status(f"[seed {seed}] {spec.key}")
        context = MethodContext(plan.config, seed, fewshot, oracle, test_accuracy, shared=shared,
                                stage_checkpoint=stage.checkpoint,
                                budget_parts=plan.budget_parts, cvae_store=out_dir / CVAE_DIR)
        started = time.perf_counter()
        outcome = get_method(spec.method)(context, spec.arch)
        seconds = time.perf_counter() - started
        scores = evaluate_classifier(outcome.student, dataset.test_images, dataset.test_labels,
                                     dataset.num_classes)
        progress.status(f"[seed {seed}] {spec.key}: accuracy {scores.accuracy:.4f}, macro-F1 "
                        f"{scores.macro_f1:.4f}, {seconds:.1f} s")
        result = StageResult(
            accuracy=scores.accuracy, macro_f1=scores.macro_f1,
            teacher_queries=outcome.teacher_queries, seconds=round(seconds, 2),
            synthesis_seconds=round(outcome.extra_seconds.get("synthesis", 0.0), 2),
            cvae_seconds=round(outcome.extra_seconds.get("cvae", 0.0), 2),
            train_seconds=round(outcome.history.seconds, 2),
            train_images_per_second=round(outcome.history.images_per_second, 1),
            curve=training_curve(outcome.history),
            query_curve=[[queries, accuracy] for queries, accuracy in outcome.query_curve])
        results[spec.key] = result
        if distributed.is_main_process():
            _save_student(outcome, spec, seed, scores.accuracy, dataset, out_dir)
            stage.save_finished(result, plan.fingerprint, outcome.samples)
        if sample_grid is None and outcome.samples:
            sample_grid = outcome.samples
    return results, sample_grid
