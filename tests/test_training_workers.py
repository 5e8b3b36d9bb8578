"""Trainings beside each other in worker processes, and the thread policy behind them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from fsbbt.core import progress, threads
from fsbbt.core.errors import FsbbtError
from fsbbt.models import build_classifier
from fsbbt.train import TrainRecipe
from fsbbt.train.workers import ClassifierTraining, TrainingPool


def _training(arch: str, seed: int, epochs: int = 2) -> ClassifierTraining:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (96, 1, 28, 28), dtype=np.uint8)
    targets = rng.dirichlet(np.ones(10), 96).astype(np.float32)
    return ClassifierTraining(
        arch=arch,
        input_shape=(1, 28, 28),
        num_classes=10,
        images_uint8=images,
        targets=targets,
        recipe=TrainRecipe(epochs=epochs, batch_size=32, augmentation="combination"),
        seed=seed,
        description=f"{arch} seed {seed}",
        precision="fp32",
    )


def test_students_trained_side_by_side_equal_those_trained_one_by_one() -> None:
    jobs = [_training("lenet5-half", 1), _training("lenet5", 2)]
    one_by_one = [job.run() for job in jobs]
    pool = TrainingPool(workers=2)
    try:
        side_by_side = [future.result() for future in [pool.submit(job) for job in jobs]]
    finally:
        pool.close()
    for alone, beside in zip(one_by_one, side_by_side, strict=True):
        assert alone.history.epoch_loss == pytest.approx(beside.history.epoch_loss, rel=1e-5)
        for name, tensor in alone.model.state_dict().items():
            torch.testing.assert_close(beside.model.state_dict()[name], tensor, rtol=1e-5, atol=1e-6)
        assert not beside.model.training


def test_a_failing_training_raises_in_the_caller() -> None:
    pool = TrainingPool(workers=2)
    broken = _training("lenet5-half", 1)
    object.__setattr__(broken, "targets", broken.targets[:10])  # fewer targets than images
    try:
        with pytest.raises(Exception):  # noqa: B017 - whatever the loop raises, it reaches the caller
            pool.submit(broken).result()
        # and the pool still trains the next one
        assert pool.submit(_training("lenet5-half", 3, epochs=1)).result().history.epoch_loss
    finally:
        pool.close()


def test_without_workers_a_training_runs_when_its_result_is_asked_for() -> None:
    future = TrainingPool(workers=1).submit(_training("lenet5-half", 1, epochs=1))
    assert not future.done()
    assert len(future.result().history.epoch_loss) == 1


def test_workers_die_with_their_parent(tmp_path: Path) -> None:
    pids_file = tmp_path / "pids"
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_training_workers import _training
        from fsbbt.train.workers import TrainingPool
        pool = TrainingPool(workers=2)
        future = pool.submit(_training("lenet5-half", 1, epochs=10_000))
        while not pool._executor._processes:
            time.sleep(0.1)
        time.sleep(3)  # the workers are started and training
        open({str(pids_file)!r}, "w").write(" ".join(map(str, pool._executor._processes)))
        time.sleep(600)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "FSBBT_QUIET": "1"})
    try:
        deadline = time.monotonic() + 120
        while not pids_file.exists() or not pids_file.read_text():
            assert time.monotonic() < deadline, "the workers never started"
            assert parent.poll() is None, "the parent died on its own"
            time.sleep(0.2)
        workers = [int(pid) for pid in pids_file.read_text().split()]
        assert all(Path(f"/proc/{pid}").exists() for pid in workers)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 20
    while any(Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid) for pid in workers):
        assert time.monotonic() < deadline, "a worker outlived its parent"
        time.sleep(0.2)


def test_a_script_without_a_main_guard_can_use_the_workers(tmp_path: Path) -> None:
    script = tmp_path / "unguarded.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(Path(__file__).parent)!r})
            from test_training_workers import _training
            from fsbbt.train.workers import TrainingPool
            pool = TrainingPool(workers=2)
            trained = pool.submit(_training("lenet5-half", 1, epochs=1)).result()
            print("epochs", len(trained.history.epoch_loss))
            pool.close()
            """
        )
    )
    ran = subprocess.run(
        [sys.executable, str(script)],
        env={**os.environ, "FSBBT_QUIET": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["epochs", "1"]  # the script ran once, not again in a worker


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return "zombie"


def test_small_networks_train_with_one_thread_large_ones_share_the_cpus(monkeypatch) -> None:
    for name in ("FSBBT_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(threads, "usable_cpus", lambda: 8)
    lenet = build_classifier("lenet5", (1, 28, 28), 10)
    alexnet = build_classifier("alexnet-half", (3, 32, 32), 10)
    small = threads.macs_per_image(lenet, lambda: lenet(torch.zeros(1, 1, 28, 28)))
    large = threads.macs_per_image(alexnet, lambda: alexnet(torch.zeros(1, 3, 32, 32)))
    assert small < threads.SMALL_NETWORK_MACS < large
    assert threads.threads_for(small) == 1
    assert threads.threads_for(large) == 8
    monkeypatch.setattr(threads, "_at_once", lambda: 2)
    assert threads.threads_for(large) == 4
    assert threads.parallel_trainings() == 8


def test_a_fixed_thread_count_wins(monkeypatch) -> None:
    monkeypatch.setattr(threads, "usable_cpus", lambda: 8)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("FSBBT_THREADS", "2")
    assert threads.threads_for(100) == 2
    assert threads.parallel_trainings() == 4
    monkeypatch.setenv("FSBBT_THREADS", "two")
    with pytest.raises(FsbbtError, match="FSBBT_THREADS"):
        threads.threads_for(100)
    monkeypatch.delenv("FSBBT_THREADS")
    threads.configure(3)
    try:
        assert threads.threads_for(10**9) == 3
    finally:
        threads.configure(None)


def test_plain_progress_lines_carry_count_rate_and_eta(monkeypatch, capsys) -> None:
    monkeypatch.setattr(progress, "_quiet", False)
    monkeypatch.setattr(progress, "PLAIN_INTERVAL_SECONDS", 0.0)
    progress.set_plain(True)
    try:
        with progress.bar("train", 4, "step") as bar:
            bar.advance(1, loss=0.5)
    finally:
        progress.set_plain(False)
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith("train: 1/4 step (25 %), ")
    assert "step/s" in lines[0] and "ETA" in lines[0] and "loss=0.5" in lines[0]


def test_a_resumed_bar_counts_only_its_own_work_in_rate_and_eta(monkeypatch, capsys) -> None:
    """Steps an earlier process did fill the bar, but a rate that counted them would
    promise minutes for hours of work left."""
    clock = iter([100.0, 110.0, 110.0])  # the bar starts, one step ends, the line prints
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(progress, "_quiet", False)
    monkeypatch.setattr(progress, "PLAIN_INTERVAL_SECONDS", 0.0)
    progress.set_plain(True)
    try:
        with progress.bar("train", 1_010, "step", completed=1_000) as bar:
            bar.advance(5)
            monkeypatch.setattr(progress.time, "monotonic", lambda: 110.0)
    finally:
        progress.set_plain(False)
    first = capsys.readouterr().err.strip().splitlines()[0]
    assert first.startswith("train: 1,005/1,010 step (100 %), 0.5 step/s, 0:00:10 elapsed, ETA 0:00:10")
