"""Fault injection on loopback: a real ``fsbbt teacher serve`` behind a proxy that drops,
delays, truncates and duplicates its answers, and runs killed with SIGKILL at random
moments of querying and training. After each, the work completes, the ledger holds every
image once, and the server's teacher evaluated every image once: nothing is paid twice.

Each test prints a summary line ("fault injection: ... images evaluated twice");
``pytest -s tests/test_fault_injection.py`` shows them.
"""

from __future__ import annotations

import json
import random
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml
from fault_proxy import FAULTS, FaultPlan, faulty_proxy
from teacher_helpers import (
    DIGITS_CLASSES,
    DIGITS_SHAPE,
    http_teacher,
    linear_teacher,
    linear_teacher_tree,
    serve_command,
    write_digit_images,
)

from fsbbt.data import load_dataset
from fsbbt.teacher.blackbox import QueryOracle

CLIENT_TIMEOUT_S = 0.4  # the proxy's delayed answers (1 s) always miss it


@pytest.fixture(scope="module")
def teacher_spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = tmp_path_factory.mktemp("teacher") / "teacher.yaml"
    spec.write_text(
        yaml.safe_dump(
            {**linear_teacher_tree(), "input_shape": list(DIGITS_SHAPE), "class_names": list(DIGITS_CLASSES)}
        )
    )
    return spec


@contextmanager
def served(spec: Path, cli_environment: dict[str, str]) -> Iterator[str]:
    """``fsbbt teacher serve SPEC`` on a free port, as its URL, while in use."""
    server = subprocess.Popen(
        serve_command(str(spec), "--port", "0"),
        env=cli_environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        announced = server.stderr.readline() if server.stderr else ""
        found = re.search(r"on (http://\S+)$", announced.strip())
        assert found, f"teacher serve said {announced!r}"
        yield found.group(1)
    finally:
        server.terminate()
        server.wait(timeout=30)


def evaluations(url: str) -> int:
    """Images the server's teacher has evaluated since it started."""
    return int(httpx.get(f"{url}/v1/stats", timeout=10).json()["teacher_evaluations"])


def summary(plan: FaultPlan, runs: int, evaluated_twice: int, kills: int = 0) -> str:
    injected = ", ".join(f"{plan.injected[f]} {f}" for f in FAULTS)
    return (
        f"fault injection: {sum(plan.injected.values()) + kills} faults injected ({injected}, "
        f"{kills} kill -9), {runs} runs completed, {evaluated_twice} images evaluated twice"
    )


def test_queries_through_a_faulty_network_are_answered_and_paid_once(
    teacher_spec: Path, tmp_path: Path, cli_environment: dict[str, str]
) -> None:
    images = np.random.default_rng(3).integers(0, 256, (960, *DIGITS_SHAPE), dtype=np.uint8)
    plan = FaultPlan(rate=0.4, seed=5, delay_s=1.0)
    with served(teacher_spec, cli_environment) as url, faulty_proxy(url, plan) as proxy:
        teacher = http_teacher(proxy, CLIENT_TIMEOUT_S, request_batch_size=32, retries=20)
        oracle = QueryOracle.keeping_answers_in(tmp_path, teacher, batch_size=128)
        answers = oracle.query(images)
        again = oracle.query(images)  # every answer from the ledger now
        evaluated = evaluations(url)
    usage = oracle.usage()
    print(summary(plan, 1, evaluated - len(images)))
    assert set(plan.injected) == set(FAULTS) and sum(plan.injected.values()) >= 10
    np.testing.assert_allclose(answers, linear_teacher(images), rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(again, answers)
    assert evaluated == len(images)  # not one image evaluated twice
    assert len(oracle.ledger) == len(images) and usage["sent"] == len(images)
    assert usage["from_ledger"] == len(images) and usage["paid_twice"] == 0
    assert usage["retries"] >= sum(plan.injected[f] for f in ("drop", "delay", "truncate"))
    assert usage["replayed"] > 0  # the delayed and duplicated requests were answered from memory


@pytest.mark.slow
def test_distill_killed_at_random_moments_pays_each_image_once(
    teacher_spec: Path, tmp_path: Path, cli_environment: dict[str, str]
) -> None:
    """kill -9 at random moments of a distill (querying, CVAE, student training) whose
    answers cross a faulty network; re-run until it finishes."""
    images_dir = tmp_path / "images"
    write_digit_images(images_dir, load_dataset("digits").train_images[:30])
    out = tmp_path / "run"
    plan = FaultPlan(rate=0.2, seed=9, delay_s=1.0)
    moments = random.Random(21)
    kills = 0
    with served(teacher_spec, cli_environment) as url, faulty_proxy(url, plan) as proxy:
        command = [
            sys.executable, "-m", "fsbbt", "distill", "--teacher", proxy, "--images", str(images_dir),
            "--out", str(out), "-q",
            *("--set", "student.epochs=2", "--set", "cvae.epochs=20", "--set", "synthesis.budget=600"),
            *("--set", "query_batch_size=64", "--set", f"teacher.timeout_s={CLIENT_TIMEOUT_S}"),
            *("--set", "teacher.retries=20", "--set", "teacher.max_backoff_s=0.1"),
            *("--set", "teacher.request_batch_size=32"),
        ]  # fmt: skip
        for attempt in range(2):
            run = subprocess.Popen(
                command, env=cli_environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            try:
                # the first kill lands early (start-up, querying), the later ones deeper in
                run.wait(timeout=moments.uniform(4 + 4 * attempt, 8 + 6 * attempt))
            except subprocess.TimeoutExpired:
                run.send_signal(signal.SIGKILL)
                kills += 1
            run.communicate(timeout=60)
        finished = subprocess.run(command, env=cli_environment, capture_output=True, text=True, timeout=300)
        evaluated = evaluations(url)
    assert finished.returncode == 0, finished.stderr
    results = json.loads((out / "results.json").read_text())
    paid = results["queries"]["paid_in_all"]
    print(summary(plan, 1, evaluated - paid, kills))
    assert kills >= 1
    # N + M images asked for; the ledger holds each distinct one once (a few synthetic
    # images coincide once rounded to uint8)
    assert results["methods"]["fsbbt/lenet5-half"]["teacher_queries"] == 30 + 600
    assert 30 + 500 < paid <= 30 + 600
    assert evaluated == paid  # every image the teacher evaluated once, kills and faults included
    assert (out / "students" / "fsbbt__lenet5-half__seed1.pt").is_file()
