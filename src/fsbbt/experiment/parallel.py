"""``fsbbt run --jobs K``: independent seeds in K worker processes.

Seeds share nothing but the teacher and the ledger, so they can train side by side
when cores allow. The runner trains (or finds) the teacher before the fan-out; each
worker loads that saved teacher, opens the run's SQLite ledger (WAL mode: several
processes may write) and runs one seed's stages, its trainings one after another in
that process (the seeds already fill the cores; :mod:`fsbbt.core.threads` gives a
large network ``cores // K`` threads).
The ledger's lock makes each query's budget check and its answers one step across
processes (:meth:`~fsbbt.teacher.ledger.QueryLedger.exclusive`), so the budget holds
and no image is paid for twice. Workers are spawned, not forked: a forked child would
inherit torch's thread pool and the parent's open SQLite connection.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from fsbbt.config.schema import RunConfig
from fsbbt.core import precision, progress, threads
from fsbbt.experiment.config import ExperimentConfig, user_set_tree
from fsbbt.experiment.inputs import data_and_teacher
from fsbbt.experiment.seed_run import Samples, plan_methods, run_seed
from fsbbt.report.results import StageResult
from fsbbt.teacher import QueryOracle

SeedOutcome = tuple[dict[str, StageResult], Samples | None]


def _seed_worker(
    config_tree: dict[str, Any], out_dir: str, seed: int, jobs: int, quiet: bool
) -> tuple[SeedOutcome, dict[str, int | None]]:
    """One seed in a worker process: the same code path as a seed run in-process."""
    threads.set_trainings_at_once(lambda: jobs)
    progress.set_quiet(quiet)
    progress.set_plain(True)  # the seeds' live bars would overwrite each other
    config = ExperimentConfig.model_validate(config_tree)
    precision.configure(config.precision)  # per process, like the thread count
    run_dir = Path(out_dir)
    dataset, teacher = data_and_teacher(config, run_dir)  # the saved teacher, not retrained
    oracle = QueryOracle.keeping_answers_in(run_dir, teacher, config.query_batch_size, config.query_budget)
    try:
        outcome = run_seed(plan_methods(config), dataset, oracle, seed, run_dir)
        return outcome, oracle.usage()
    finally:
        oracle.ledger.close()


def run_seeds_in_processes(
    config: RunConfig, out_dir: Path, jobs: int
) -> tuple[list[SeedOutcome], list[dict[str, int | None]]]:
    """Every seed of ``config`` across ``jobs`` processes; outcomes in seed order."""
    progress.status(f"running {len(config.seeds)} seeds in {jobs} processes")
    tree = user_set_tree(config)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [
            pool.submit(_seed_worker, tree, str(out_dir), seed, jobs, progress.is_quiet())
            for seed in config.seeds
        ]
        finished = [future.result() for future in futures]
    return [outcome for outcome, _ in finished], [usage for _, usage in finished]
