"""One experiment: data → teacher → every (seed, method) → results.json, table, figures."""

from __future__ import annotations

import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from fsbbt import progress
from fsbbt.data import ImageDataset, load_dataset, sample_fewshot_indices
from fsbbt.errors import FsbbtError
from fsbbt.experiment.config import ExperimentConfig
from fsbbt.experiment.results import MethodRecord, StageResult, write_json_atomically
from fsbbt.experiment.stages import Stage, config_fingerprint
from fsbbt.methods import FewShotSet, MethodContext, MethodOutcome, get_method
from fsbbt.models import CLASSIFIERS
from fsbbt.report.figures import plot_sample_grid, plot_training_curves
from fsbbt.ship.student_file import StudentInfo, save_student, student_filename
from fsbbt.teacher import LocalTeacher, QueryOracle
from fsbbt.teacher.blackbox import teacher_fingerprint
from fsbbt.teacher.factory import build_teacher
from fsbbt.teacher.ledger import LEDGER_FILE, QueryLedger
from fsbbt.train import TrainHistory, distributed, evaluate_classifier, precision
from fsbbt.train.distributed import RankZeroOracle

RESULTS_FILE = "results.json"


def check_methods(config: ExperimentConfig) -> list[tuple[str, str]]:
    """(method, arch) pairs, refused before any training if a name is unknown."""
    pairs = []
    for entry in config.methods:
        method, arch = entry.split("/")
        get_method(method)
        if arch not in CLASSIFIERS:
            raise FsbbtError(f"unknown student architecture {arch!r} in method {entry!r}; "
                             f"choose one of {', '.join(sorted(CLASSIFIERS))}")
        pairs.append((method, arch))
    return pairs


def _save_student(outcome: MethodOutcome, method: str, arch: str, seed: int, accuracy: float,
                  dataset: ImageDataset, out_dir: Path) -> None:
    info = StudentInfo(arch=arch, input_shape=dataset.input_shape,
                       class_names=dataset.class_names, dataset=dataset.name, method=method,
                       seed=seed, test_accuracy=accuracy)
    save_student(outcome.student, info, out_dir / "students" / student_filename(method, arch, seed))


def training_curve(history: TrainHistory) -> dict[str, list]:
    """Loss per epoch and test accuracy at the evaluated epochs, as results.json holds them."""
    return {"epoch_loss": [round(v, 5) for v in history.epoch_loss],
            "eval_epochs": history.eval_epochs, "eval_accuracy": history.eval_accuracy}


def _teacher_summary(teacher: object, config: ExperimentConfig) -> dict[str, Any]:
    """A teacher fsbbt trained or saved knows its test accuracy; measuring any other
    teacher's would cost queries, so it is left out (None)."""
    if isinstance(teacher, LocalTeacher):
        return {"arch": teacher.metadata.arch, "test_accuracy": teacher.metadata.test_accuracy,
                "train_seconds": teacher.metadata.train_seconds}
    return {"arch": config.teacher.resolved_kind, "test_accuracy": None}


def run_experiment(config: ExperimentConfig, out_dir: Path) -> dict[str, Any]:
    """Run every method of ``config`` for every seed; write and return the results."""
    method_pairs = check_methods(config)
    precision.configure(config.precision)
    out_dir.mkdir(parents=True, exist_ok=True)
    dataset = load_dataset(config.dataset, config.data_dir)
    teacher = build_teacher(config.teacher, dataset, out_dir)
    if distributed.is_main_process():
        ledger = QueryLedger(out_dir / LEDGER_FILE, teacher_fingerprint(teacher),
                             dataset.num_classes)
        oracle = QueryOracle(teacher, config.query_batch_size, ledger, config.query_budget)
    else:  # only rank 0 queries and owns the ledger file; the others hold an unused stand-in
        oracle = QueryOracle(teacher, config.query_batch_size, budget=config.query_budget)
    if distributed.current().is_distributed:
        oracle = RankZeroOracle(oracle)
    fingerprint = config_fingerprint(config)

    def test_accuracy(model: torch.nn.Module) -> float:
        return evaluate_classifier(model, dataset.test_images, dataset.test_labels,
                                   dataset.num_classes).accuracy

    records: dict[str, MethodRecord] = {f"{m}/{a}": MethodRecord() for m, a in method_pairs}
    sample_grid: dict[str, Any] | None = None
    for seed in config.seeds:
        indices = sample_fewshot_indices(dataset.train_labels, config.n_fewshot,
                                         dataset.num_classes, seed)
        fewshot = FewShotSet(dataset.train_images[indices], dataset.train_labels[indices])
        context = MethodContext(config, seed, fewshot, oracle, test_accuracy)
        for method, arch in method_pairs:
            key = f"{method}/{arch}"
            stage = Stage(out_dir, seed, method, arch)
            # rank 0 decides, so all ranks skip or train together even without a shared disk
            finished = distributed.broadcast_object(
                stage.load_finished(fingerprint) if distributed.is_main_process() else None)
            if finished is not None:
                progress.status(f"[seed {seed}] {key}: finished by an earlier run "
                                f"(accuracy {finished.accuracy:.4f}), not redone")
                records[key].add(finished)
                sample_grid = sample_grid or stage.load_samples() or None
                continue
            progress.status(f"[seed {seed}] {key}")
            context.stage_checkpoint = stage.checkpoint
            started = time.perf_counter()
            outcome = get_method(method)(context, arch)
            seconds = time.perf_counter() - started
            scores = evaluate_classifier(outcome.student, dataset.test_images,
                                         dataset.test_labels, dataset.num_classes)
            progress.status(f"[seed {seed}] {key}: accuracy {scores.accuracy:.4f}, macro-F1 "
                            f"{scores.macro_f1:.4f}, {seconds:.1f} s")
            result = StageResult(
                accuracy=scores.accuracy, macro_f1=scores.macro_f1,
                teacher_queries=outcome.teacher_queries, seconds=round(seconds, 2),
                synthesis_seconds=round(outcome.extra_seconds.get("synthesis", 0.0), 2),
                cvae_seconds=round(outcome.extra_seconds.get("cvae", 0.0), 2),
                train_seconds=round(outcome.history.seconds, 2),
                train_images_per_second=round(outcome.history.images_per_second, 1),
                curve=training_curve(outcome.history))
            records[key].add(result)
            if distributed.is_main_process():
                _save_student(outcome, method, arch, seed, scores.accuracy, dataset, out_dir)
                stage.save_finished(result, fingerprint, outcome.samples)
            if sample_grid is None and outcome.samples:
                sample_grid = outcome.samples

    results = {
        "dataset": config.dataset,
        "n_fewshot": config.n_fewshot,
        "seeds": list(config.seeds),
        "teacher": _teacher_summary(teacher, config),
        "methods": {key: record.summary() for key, record in records.items()},
        "queries": oracle.usage(),
        "config": config.model_dump(mode="json"),
        "machine": {"platform": platform.platform(), "processor": platform.machine(),
                    "torch": torch.__version__, "threads": torch.get_num_threads(),
                    "processes": distributed.current().world_size,
                    "precision": precision.mode_for(distributed.current().device).name},
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if not distributed.is_main_process():
        return results
    write_json_atomically(out_dir / RESULTS_FILE, results)
    if sample_grid is not None:
        plot_sample_grid(sample_grid, dataset.class_names, out_dir / "samples.png")
    plot_training_curves(results, out_dir / "curves.png")
    return results
