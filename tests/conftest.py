"""Shared helpers: running the ``fsbbt`` CLI (alone or under torchrun) in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("FSBBT_QUIET", "1")
# The machine has 2 cores shared with other work: one thread avoids oversubscription.
torch.set_num_threads(1)

RunCli = Callable[..., subprocess.CompletedProcess[str]]


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    # one thread per process: the machine has 2 cores and torchrun starts 2 processes
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", COLUMNS="250", PYTHONUNBUFFERED="1")
    # the CLI's status lines are part of what tests check; CI=true would silence them
    env.pop("FSBBT_QUIET", None)
    env.pop("CI", None)
    return env


def cli_command(args: Sequence[str | Path], processes: int = 1) -> list[str]:
    """``python -m fsbbt ARGS``, or the same under ``torchrun --nproc_per_node=processes``."""
    if processes == 1:
        return [sys.executable, "-m", "fsbbt", *map(str, args)]
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={processes}",
        "-m",
        "fsbbt",
        *map(str, args),
    ]


@pytest.fixture(scope="session")
def run_cli() -> RunCli:
    """Run the CLI to completion; fail the test with its output if it exits non-zero."""

    def run(
        *args: str | Path, processes: int = 1, check: bool = True, timeout_s: float = 240
    ) -> subprocess.CompletedProcess[str]:
        completed = subprocess.run(
            cli_command(args, processes),
            capture_output=True,
            text=True,
            env=_environment(),
            timeout=timeout_s,
        )
        if check and completed.returncode != 0:
            pytest.fail(
                f"fsbbt {' '.join(map(str, args))} exited {completed.returncode}:\n"
                f"{completed.stdout}\n{completed.stderr}"
            )
        return completed

    return run


@pytest.fixture
def cli_environment() -> dict[str, str]:
    return _environment()


@pytest.fixture
def fsbbt_command() -> Callable[..., list[str]]:
    """The argv that runs the CLI (for tests that start it with Popen and kill it)."""
    return cli_command


@pytest.fixture(autouse=True)
def _quiet() -> None:
    from fsbbt.core import progress

    progress.set_quiet(True)


@pytest.fixture(autouse=True)
def _float32_after_each_test() -> Iterator[None]:
    """An in-process run configures its precision (auto: bf16 on some CPUs) for the whole
    process; later tests must start from the float32 default."""
    from fsbbt.core import precision

    yield
    precision.configure("fp32")


@pytest.fixture()
def isolated_locations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No $FSBBT_DATA, an empty cache, no system dirs, no network: only what the test puts."""
    monkeypatch.delenv("FSBBT_DATA", raising=False)
    monkeypatch.delenv("FSBBT_MIRRORS", raising=False)
    monkeypatch.setenv("FSBBT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FSBBT_OFFLINE", "1")
    return tmp_path
