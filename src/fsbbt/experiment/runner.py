"""One experiment: data → teacher → every (seed, method) → results.json, table, figures.

The one pipeline: ``fsbbt run`` (a built-in dataset, several seeds and methods) and
``fsbbt distill`` (the user's own images, one seed of FS-BBT) both go through
:func:`run_experiment`, so they write the same run directory (students/, stages/,
ledger, results.json, figures) and resume the same way.
"""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from fsbbt.config.schema import USER_IMAGES, RunConfig
from fsbbt.core import distributed, precision, threads
from fsbbt.core.errors import FsbbtError
from fsbbt.experiment.inputs import data_and_teacher
from fsbbt.experiment.seed_run import plan_methods, run_seed
from fsbbt.report.figures import (
    QUERY_EFFICIENCY_FILE,
    plot_query_efficiency,
    plot_sample_grid,
    plot_training_curves,
)
from fsbbt.report.results import RESULTS_FILE, MethodRecord, write_json_atomically
from fsbbt.teacher import LocalTeacher, QueryOracle
from fsbbt.teacher.rank_zero import RankZeroOracle
from fsbbt.train.workers import shared_pool

__all__ = ["RESULTS_FILE", "run_experiment"]


def _teacher_summary(teacher: object, config: RunConfig) -> dict[str, Any]:
    """A teacher fsbbt trained or saved knows its test accuracy; measuring any other
    teacher's would cost queries, so it is left out (None)."""
    if isinstance(teacher, LocalTeacher):
        return {
            "arch": teacher.metadata.arch,
            "test_accuracy": teacher.metadata.test_accuracy,
            "train_seconds": teacher.metadata.train_seconds,
        }
    return {"arch": config.teacher.resolved_kind, "test_accuracy": None}


def _summed_usage(usages: list[dict[str, int | None]], oracle: QueryOracle) -> dict[str, int | None]:
    """The query account of seeds run in worker processes: their own counts added up, the
    lifetime counts read from the shared ledger."""
    total = oracle.usage()
    for name in ("sent", "from_ledger", "retries", "timeouts"):
        total[name] = sum(usage.get(name) or 0 for usage in usages)
    return total


def run_experiment(config: RunConfig, out_dir: Path, jobs: int = 1) -> dict[str, Any]:
    """Run every method of ``config`` for every seed; write and return the results.

    With ``jobs`` > 1 the seeds run in that many worker processes (see
    :mod:`fsbbt.experiment.parallel`); the teacher is trained here first, once.
    """
    if jobs > 1 and distributed.current().is_distributed:
        raise FsbbtError(
            "--jobs runs seeds in separate processes and cannot be combined with "
            "torchrun; use one or the other"
        )
    precision.configure(config.precision)
    plans = plan_methods(config)  # an unknown method or student is refused before any data is read
    dataset, teacher = data_and_teacher(config, out_dir)
    if dataset.name == USER_IMAGES and config.n_fewshot != len(dataset.train_images):
        # N of the user's images is what the folder holds, and part of every stage's fingerprint
        config = config.model_copy(update={"n_fewshot": len(dataset.train_images)})
        plans = plan_methods(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    if distributed.is_main_process():
        oracle = QueryOracle.keeping_answers_in(
            out_dir, teacher, config.query_batch_size, config.query_budget
        )
    else:  # only rank 0 queries and owns the ledger file; the others hold an unused stand-in
        oracle = QueryOracle(teacher, config.query_batch_size, budget=config.query_budget)
    if distributed.current().is_distributed:
        oracle = RankZeroOracle(oracle)

    jobs = min(jobs, len(config.seeds))
    if jobs > 1:
        from fsbbt.experiment.parallel import run_seeds_in_processes

        per_seed, usages = run_seeds_in_processes(config, out_dir, jobs)
        usage = _summed_usage(usages, oracle)
    else:
        trainings = shared_pool()
        per_seed = [run_seed(plans, dataset, oracle, seed, out_dir, trainings) for seed in config.seeds]
        usage = oracle.usage()

    records: dict[str, MethodRecord] = {plan.spec.key: MethodRecord() for plan in plans}
    sample_grid = None
    for seed_results, seed_samples in per_seed:
        for key, result in seed_results.items():
            records[key].add(result)
        sample_grid = sample_grid or seed_samples
    results = {
        "dataset": config.dataset,
        "n_fewshot": config.n_fewshot,
        "seeds": list(config.seeds),
        "teacher": _teacher_summary(teacher, config),
        "methods": {key: record.summary() for key, record in records.items()},
        "queries": usage,
        "test_images": len(dataset.test_images),
        # what every accuracy here was measured on
        "evaluated_on": "validation" if config.validation_images else "test",
        "skipped_images": list(dataset.skipped_files),
        "config": config.model_dump(mode="json"),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.machine(),
            "torch": torch.__version__,
            "cpus": threads.usable_cpus(),
            # None: the thread policy chose per training (fsbbt.core.threads)
            "threads": threads.explicit_threads(),
            "training_workers": 1 if jobs > 1 else shared_pool().workers,
            "processes": distributed.current().world_size,
            "jobs": jobs,
            "precision": precision.mode_for(distributed.current().device).name,
        },
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if not distributed.is_main_process():
        return results
    write_json_atomically(out_dir / RESULTS_FILE, results)
    if sample_grid is not None:
        plot_sample_grid(sample_grid, dataset.class_names, out_dir / "samples.png")
    plot_training_curves(results, out_dir / "curves.png")
    plot_query_efficiency(results, out_dir / QUERY_EFFICIENCY_FILE)
    return results
