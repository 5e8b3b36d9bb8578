"""A run killed with SIGKILL mid-query resumes from its ledger and ends as if never killed."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from teacher_helpers import fast_run_overrides, ledger_rows, linear_teacher_tree

from fsbbt.teacher.ledger import LEDGER_FILE

BATCH = 16
FEW = 50


def _command(out: Path) -> list[str]:
    overrides = fast_run_overrides(
        linear_teacher_tree("slow_linear_teacher"),
        f"query_batch_size={BATCH}",
        f"n_fewshot={FEW}",
        "synthesis.budget=150",
        "methods=[fsbbt/lenet5-half]",
    )
    return [
        sys.executable,
        "-m",
        "fsbbt",
        "run",
        "digits",
        "--out",
        str(out),
        "-q",
        *[part for assignment in overrides for part in ("--set", assignment)],
    ]


def _env(log: Path) -> dict[str, str]:
    return {
        **os.environ,
        "FSBBT_QUIET": "1",
        "OMP_NUM_THREADS": "1",
        "FSBBT_TEST_TEACHER_SLEEP_S": "0.3",  # a wide window to kill in, even on a busy machine
        "FSBBT_TEST_TEACHER_LOG": str(log),
    }


def _received(log: Path) -> int:
    return sum(int(line) for line in log.read_text().split())


def _comparable(results: dict) -> dict:
    return {
        key: {field: summary[field] for field in ("accuracy", "macro_f1", "teacher_queries", "curves")}
        for key, summary in results["methods"].items()
    }


def test_sigkilled_run_resumes_without_paying_twice(tmp_path: Path) -> None:
    out, log = tmp_path / "killed", tmp_path / "teacher.log"
    victim = subprocess.Popen(_command(out), env=_env(log), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while ledger_rows(out) < FEW + 2 * BATCH:  # the few images and some synthetic ones
        assert victim.poll() is None, victim.stderr.read() if victim.stderr else ""
        assert time.monotonic() < deadline, "the run never reached the synthetic queries"
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    answered_before_kill = ledger_rows(out)
    received_before_kill = _received(log)
    assert not (out / "results.json").exists()

    subprocess.run(_command(out), env=_env(log), check=True, capture_output=True, timeout=300)
    resumed = json.loads((out / "results.json").read_text())

    fresh_log = tmp_path / "fresh.log"
    subprocess.run(
        _command(tmp_path / "fresh"), env=_env(fresh_log), check=True, capture_output=True, timeout=300
    )
    fresh = json.loads((tmp_path / "fresh" / "results.json").read_text())

    distinct = fresh["queries"]["sent"]
    with sqlite3.connect(out / LEDGER_FILE) as db:
        rows, keys = db.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM answers").fetchone()
    assert rows == keys == distinct > answered_before_kill
    assert answered_before_kill + resumed["queries"]["sent"] == distinct
    # only the batch in flight at the kill can have reached the teacher twice
    assert received_before_kill - answered_before_kill <= BATCH
    assert _received(log) - received_before_kill == resumed["queries"]["sent"]
    assert _comparable(resumed) == _comparable(fresh)
