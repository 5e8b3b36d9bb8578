"""Independent trainings side by side, one worker process per usable CPU.

The students of a seed (Student-Alone, Standard-KD, FS-BBT, FS-BBT*, ...) depend on
nothing but their own images and targets once those are labelled, so they need not
wait for each other. A training is handed over as a :class:`ClassifierTraining` (all it
needs, picklable) and comes back as a future of the trained network and its history;
the caller goes on labelling and synthesising the next method's images meanwhile.

Why processes and not threads or one vectorised model: the networks here are too small
for a second OpenMP thread to pay (:mod:`fsbbt.core.threads`), the students of a seed
differ in architecture (LeNet5-half and LeNet5), and a process per training shares no
barrier, so it does not stall when the machine is busy. Each worker runs the same
:func:`~fsbbt.train.loop.fit_classifier` as the caller would, from the same seed, so
a student trained in a worker has the weights it would have had in the caller, up to
the order of floating-point sums (``tests/test_training_workers.py``).

Workers are spawned, once per process, and reused; they die with their parent
(``PR_SET_PDEATHSIG`` on Linux), so a killed run leaves none writing its checkpoints.
Under torchrun, and where only one CPU is usable, trainings run in the caller.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fsbbt.core import distributed, precision, progress, threads
from fsbbt.core.precision import PrecisionName
from fsbbt.models import build_classifier
from fsbbt.train.evaluate import TestAccuracy
from fsbbt.train.loop import TrainHistory, TrainRecipe, fit_classifier


@dataclass(frozen=True)
class TrainedClassifier:
    """A finished training: the network (on the CPU, in eval mode), its history and its
    wall time (building, training, batch-norm statistics)."""

    model: nn.Module
    history: TrainHistory
    seconds: float


@dataclass(frozen=True)
class ClassifierTraining:
    """Everything one classifier's training needs, so that it can run in another process."""

    arch: str
    input_shape: tuple[int, int, int]
    num_classes: int
    images_uint8: np.ndarray
    targets: np.ndarray
    recipe: TrainRecipe
    seed: int
    description: str
    precision: PrecisionName
    evaluate: TestAccuracy | None = None
    eval_every: int = 0
    checkpoint: Path | None = None
    statistics_images: np.ndarray | None = None
    initial_state: dict[str, torch.Tensor] | None = None

    def build(self) -> nn.Module:
        """The untrained network; its initial weights are a function of the seed alone,
        never of what consumed torch's random numbers before (a resumed run equals a
        fresh one), or ``initial_state`` (a warm start from an earlier training)."""
        torch.manual_seed(self.seed)
        model = build_classifier(self.arch, self.input_shape, self.num_classes)
        if self.initial_state is not None:
            model.load_state_dict(self.initial_state)
        return model

    def run(self) -> TrainedClassifier:
        started = time.perf_counter()
        model = self.build()
        history = fit_classifier(
            model,
            self.images_uint8,
            self.targets,
            self.recipe,
            seed=self.seed,
            description=self.description,
            evaluate=self.evaluate,
            eval_every=self.eval_every,
            checkpoint=self.checkpoint,
            statistics_images=self.statistics_images,
        )
        return TrainedClassifier(model, history, time.perf_counter() - started)


def finished(trained: TrainedClassifier) -> Future[TrainedClassifier]:
    """A training already done here, in the form :meth:`TrainingPool.submit` returns."""
    future: Future[TrainedClassifier] = Future()
    future.set_result(trained)
    return future


def _die_with_parent() -> None:
    """Have the kernel kill this worker when its parent dies (Linux; a no-op elsewhere)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL)


class _Deferred(Future):
    """A training run in the caller when its result is first asked for, so that a
    caller without workers sees the same order of work as one with them."""

    def __init__(self, work: Callable[[], TrainedClassifier]) -> None:
        super().__init__()
        self._work = work

    def result(self, timeout: float | None = None) -> TrainedClassifier:
        if not self.done():
            try:
                self.set_result(self._work())
            except BaseException as error:
                self.set_exception(error)
        return super().result(timeout)


_active: Synchronized | None = None  # in a worker: how many of the pool's workers are training


def _start_worker(parent: int, active: Synchronized) -> None:
    global _active
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)
    _active = active
    # a lone large network gets every core, two share them (read again every epoch)
    threads.set_trainings_at_once(lambda: max(1, active.value))
    progress.set_plain(True)  # live bars of several processes would overwrite each other


def _train_in_worker(training: ClassifierTraining, quiet: bool) -> tuple[dict, TrainHistory, float]:
    assert _active is not None
    progress.set_quiet(quiet)
    precision.configure(training.precision)
    with _active.get_lock():
        _active.value += 1
    try:
        trained = training.run()
    finally:
        with _active.get_lock():
            _active.value -= 1
    return trained.model.state_dict(), trained.history, trained.seconds


@contextlib.contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Start workers without re-running the caller's script in them.

    A spawned process normally imports the parent's ``__main__`` first, so a user's
    script that calls :func:`fsbbt.run_experiment` without an ``if __name__ ==
    "__main__"`` guard would run again in every worker and fail. A training needs only
    fsbbt's own modules, so the workers are started with the main module's path and
    name out of multiprocessing's sight.
    """
    main = sys.modules["__main__"]
    spec, path = getattr(main, "__spec__", None), getattr(main, "__file__", None)
    main.__spec__ = None
    if path is not None:
        del main.__file__
    try:
        yield
    finally:
        main.__spec__ = spec
        if path is not None:
            main.__file__ = path


class TrainingPool:
    """Runs :class:`ClassifierTraining` s in up to ``workers`` processes (in the caller
    when ``workers`` is 1)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None

    def submit(self, training: ClassifierTraining) -> Future[TrainedClassifier]:
        """Start ``training``; its result is the trained network, back in this process."""
        if self.workers <= 1:
            return _Deferred(training.run)
        if self._executor is None:
            threads.passive_openmp_waiting()  # inherited by the workers, which load torch afresh
            context = multiprocessing.get_context("spawn")
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=context,
                initializer=_start_worker,
                initargs=(os.getpid(), context.Value("i", 0)),
            )
        with _main_module_hidden():  # the first submit starts the workers
            remote = self._executor.submit(_train_in_worker, training, progress.is_quiet())
        local: Future[TrainedClassifier] = Future()

        def arrived(done: Future) -> None:
            try:
                state, history, seconds = done.result()
            except BaseException as error:  # the worker's exception, raised again by result()
                local.set_exception(error)
                return
            model = training.build()
            model.load_state_dict(state)
            model.eval()
            local.set_result(TrainedClassifier(model, history, seconds))

        remote.add_done_callback(arrived)
        return local

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(cancel_futures=True)
            self._executor = None


_shared: TrainingPool | None = None


def shared_pool() -> TrainingPool:
    """This process's pool: one worker per training that may run at once
    (:func:`~fsbbt.core.threads.parallel_trainings`), or none under torchrun."""
    global _shared
    if _shared is None:
        workers = 1 if distributed.current().is_distributed else threads.parallel_trainings()
        _shared = TrainingPool(workers)
        atexit.register(_shared.close)
    return _shared
