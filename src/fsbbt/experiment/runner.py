"""One experiment: data → teacher → every (seed, method) → results.json, table, figures."""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from fsbbt.core import distributed, precision
from fsbbt.core.distributed import RankZeroOracle
from fsbbt.core.errors import FsbbtError
from fsbbt.data import load_dataset
from fsbbt.experiment.config import ExperimentConfig
from fsbbt.experiment.results import RESULTS_FILE, MethodRecord, write_json_atomically
from fsbbt.experiment.seed_run import plan_methods, run_seed, training_curve
from fsbbt.report.figures import (
    QUERY_EFFICIENCY_FILE,
    plot_query_efficiency,
    plot_sample_grid,
    plot_training_curves,
)
from fsbbt.teacher import LocalTeacher, QueryOracle
from fsbbt.teacher.factory import build_teacher

__all__ = ["RESULTS_FILE", "check_methods", "run_experiment", "training_curve"]


def check_methods(config: ExperimentConfig) -> list[tuple[str, str]]:
    """(method, arch) pairs, refused before any training if a name is unknown."""
    return [(plan.spec.method, plan.spec.arch) for plan in plan_methods(config)]


def _teacher_summary(teacher: object, config: ExperimentConfig) -> dict[str, Any]:
    """A teacher fsbbt trained or saved knows its test accuracy; measuring any other
    teacher's would cost queries, so it is left out (None)."""
    if isinstance(teacher, LocalTeacher):
        return {"arch": teacher.metadata.arch, "test_accuracy": teacher.metadata.test_accuracy,
                "train_seconds": teacher.metadata.train_seconds}
    return {"arch": config.teacher.resolved_kind, "test_accuracy": None}


def run_experiment(config: ExperimentConfig, out_dir: Path, jobs: int = 1) -> dict[str, Any]:
    """Run every method of ``config`` for every seed; write and return the results.

    With ``jobs`` > 1 the seeds run in that many worker processes (see
    :mod:`fsbbt.experiment.parallel`); the teacher is trained here first, once.
    """
    plans = plan_methods(config)
    if jobs > 1 and distributed.current().is_distributed:
        raise FsbbtError("--jobs runs seeds in separate processes and cannot be combined with "
                         "torchrun; use one or the other")
    precision.configure(config.precision)
    out_dir.mkdir(parents=True, exist_ok=True)
    dataset = load_dataset(config.dataset, config.data_dir)
    teacher = build_teacher(config.teacher, dataset, out_dir)
    if distributed.is_main_process():
        oracle = QueryOracle.keeping_answers_in(out_dir, teacher, config.query_batch_size,
                                                config.query_budget)
    else:  # only rank 0 queries and owns the ledger file; the others hold an unused stand-in
        oracle = QueryOracle(teacher, config.query_batch_size, budget=config.query_budget)
    if distributed.current().is_distributed:
        oracle = RankZeroOracle(oracle)

    jobs = min(jobs, len(config.seeds))
    if jobs > 1:
        from fsbbt.experiment.parallel import run_seeds_in_processes

        per_seed, usages = run_seeds_in_processes(config, out_dir, jobs)
        usage = {"sent": sum(u["sent"] or 0 for u in usages),
                 "from_ledger": sum(u["from_ledger"] or 0 for u in usages),
                 "budget": config.query_budget}
    else:
        per_seed = [run_seed(plans, dataset, oracle, seed, out_dir) for seed in config.seeds]
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
        "config": config.model_dump(mode="json"),
        "machine": {"platform": platform.platform(), "processor": platform.machine(),
                    "torch": torch.__version__, "threads": torch.get_num_threads(),
                    "processes": distributed.current().world_size, "jobs": jobs,
                    "precision": precision.mode_for(distributed.current().device).name},
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
