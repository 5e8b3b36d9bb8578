"""A bounded load test of ``fsbbt teacher serve``: throughput, latency and what the teacher ran.

    python benchmarks/server_load.py [--teacher SPEC] [--concurrency 8] [--batch 64]
                                     [--seconds 20] [--warmup 2] [--bodies 16]

Starts the real server in its own process (``python -m fsbbt teacher serve TEACHER
--port 0``; the port is read from its "serving … on http://…" line, printed only once
the socket listens). TEACHER is ``--teacher`` or, by default, a LeNet5 trained for one
epoch on digits in a temporary directory (``fsbbt teacher train digits``): a real
convolutional teacher on 1×28×28 images.

``--concurrency`` threads, each with its own ``httpx.Client`` (one keep-alive
connection), send ``POST /v1/predict`` with ``--batch`` random uint8 images of the
teacher's shape (from ``GET /v1/info``) as a ``.npy`` body, asking for a ``.npy``
answer, with the ``Idempotency-Key`` the http teacher sends
(:func:`fsbbt.teacher.wire.request_digest`), for ``--seconds`` after ``--warmup``
seconds that are not counted. Two modes, one after the other:

* ``distinct`` — every request new images: the server runs its teacher for every one.
* ``repeated`` — ``--bodies`` request bodies re-sent in turn (never sent before the
  measurement; the warm-up used another set): the first of each is computed, every
  other answer comes from the server's answer cache. This measures the replay path.

Per mode: requests/s and images/s (answered requests over the wall time until the last
thread finished), latency p50/p95/p99/max, errors by HTTP status (or exception),
``Idempotent-Replay`` answers seen, CPU seconds of the server and of this process, and
``GET /v1/stats`` before and after. Check: the teacher evaluations the server counted
equal the images of the distinct request bodies answered (distinct: every image sent;
repeated: ``--bodies`` × ``--batch``).

Writes benchmarks/results/server_load.json (or ``--out``) and prints the table. One
measurement runs at a time; with the defaults the whole script takes about a minute.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import queue
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

from fsbbt.teacher.wire import IDEMPOTENCY_KEY_HEADER, NPY_MEDIA_TYPE, REPLAY_HEADER, request_digest

HERE = Path(__file__).resolve().parent
MODES = ("distinct", "repeated")
ANNOUNCEMENT_TIMEOUT_S = 120
REQUEST_TIMEOUT_S = 60


@dataclass(frozen=True)
class Request:
    body: bytes
    key: str


def make_request(images: np.ndarray) -> Request:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(images), allow_pickle=False)
    body = buffer.getvalue()
    return Request(body, request_digest(NPY_MEDIA_TYPE, body))


class Workload:
    """Request ``index`` of thread ``thread``: new images every time, or one of a fixed set."""

    def __init__(self, mode: str, shape: tuple[int, ...], batch: int, bodies: int, seed: int) -> None:
        self.mode, self.shape, self.batch, self.seed = mode, tuple(shape), batch, seed
        rng = np.random.default_rng([seed, 0])
        self.fixed = [make_request(self._images(rng)) for _ in range(bodies)] if mode == "repeated" else []

    def _images(self, rng: np.random.Generator) -> np.ndarray:
        return rng.integers(0, 256, (self.batch, *self.shape), dtype=np.uint8)

    def for_thread(self, thread: int, threads: int) -> Iterator[Request]:
        if self.mode == "distinct":
            rng = np.random.default_rng([self.seed, 1, thread])
            while True:
                yield make_request(self._images(rng))
        else:  # the threads start spread over the set, then walk it in step
            index = thread * len(self.fixed) // threads
            while True:
                yield self.fixed[index % len(self.fixed)]
                index += 1


@dataclass
class ThreadResult:
    latencies_s: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    answered_keys: set[str] = field(default_factory=set)
    replayed: int = 0


def _post(client: httpx.Client, url: str, request: Request, batch: int, result: ThreadResult) -> None:
    headers = {
        "Content-Type": NPY_MEDIA_TYPE,
        "Accept": NPY_MEDIA_TYPE,
        IDEMPOTENCY_KEY_HEADER: f'"{request.key}"',
    }
    started = time.perf_counter()
    try:
        response = client.post(url, content=request.body, headers=headers)
    except httpx.HTTPError as exc:
        result.errors[type(exc).__name__] += 1
        return
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        result.errors[str(response.status_code)] += 1
        return
    answer = np.load(io.BytesIO(response.content), allow_pickle=False)
    if answer.ndim != 2 or answer.shape[0] != batch:
        result.errors["bad answer"] += 1
        return
    result.latencies_s.append(elapsed)
    result.answered_keys.add(request.key)
    result.replayed += response.headers.get(REPLAY_HEADER, "").lower() == "true"


def drive(
    clients: list[httpx.Client], url: str, workload: Workload, seconds: float
) -> tuple[list[ThreadResult], float]:
    """Every client sends requests back to back for ``seconds``; the results and the wall time."""
    results = [ThreadResult() for _ in clients]
    start = threading.Barrier(len(clients) + 1)
    deadline: list[float] = []

    def run(thread: int) -> None:
        requests = workload.for_thread(thread, len(clients))
        start.wait()
        while time.perf_counter() < deadline[0]:
            _post(clients[thread], url, next(requests), workload.batch, results[thread])

    workers = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(clients))]
    for worker in workers:
        worker.start()
    began = time.perf_counter()
    deadline.append(began + seconds)
    start.wait()
    for worker in workers:
        worker.join()
    return results, time.perf_counter() - began


def server_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile_ms(values: np.ndarray, q: float) -> float | None:
    return round(float(np.percentile(values, q)) * 1000, 2) if len(values) else None


def measure_mode(
    mode: str,
    clients: list[httpx.Client],
    base: str,
    server: subprocess.Popen,
    shape: tuple[int, ...],
    args: argparse.Namespace,
) -> dict:
    url = f"{base}/v1/predict"
    # the warm-up's bodies (another seed) are never sent again
    drive(
        clients,
        url,
        Workload(mode, shape, args.batch, args.bodies, seed=1000 + MODES.index(mode)),
        args.warmup,
    )
    workload = Workload(mode, shape, args.batch, args.bodies, seed=MODES.index(mode))
    before = httpx.get(f"{base}/v1/stats").json()
    server_cpu, own_cpu = server_cpu_seconds(server.pid), own_cpu_seconds()
    results, seconds = drive(clients, url, workload, args.seconds)
    server_cpu, own_cpu = server_cpu_seconds(server.pid) - server_cpu, own_cpu_seconds() - own_cpu
    after = httpx.get(f"{base}/v1/stats").json()
    latencies = np.array([v for r in results for v in r.latencies_s])
    errors = sum((r.errors for r in results), Counter())
    keys = set().union(*(r.answered_keys for r in results))
    requests = len(latencies)
    evaluations = after["teacher_evaluations"] - before["teacher_evaluations"]
    expected = len(keys) * args.batch
    return {
        "requests": requests,
        "images": requests * args.batch,
        "distinct_bodies": len(keys),
        "seconds": round(seconds, 3),
        "requests_per_second": round(requests / seconds, 1),
        "images_per_second": round(requests * args.batch / seconds, 1),
        "latency_ms": {
            "mean": round(float(latencies.mean()) * 1000, 2) if requests else None,
            "p50": percentile_ms(latencies, 50),
            "p95": percentile_ms(latencies, 95),
            "p99": percentile_ms(latencies, 99),
            "max": round(float(latencies.max()) * 1000, 2) if requests else None,
        },
        "errors": dict(sorted(errors.items())),
        "replayed_answers": sum(r.replayed for r in results),
        "teacher_evaluations": evaluations,
        "expected_teacher_evaluations": expected,
        "evaluations_match": evaluations == expected,
        "server_cpu_seconds": round(server_cpu, 2),
        "client_cpu_seconds": round(own_cpu, 2),
        "stats_before": before,
        "stats_after": after,
    }


def train_default_teacher(directory: Path) -> tuple[str, float]:
    out = directory / "teacher"
    command = [sys.executable, "-m", "fsbbt", "teacher", "train", "digits", "--out", str(out)]
    started = time.perf_counter()
    subprocess.run([*command, "--set", "teacher.epochs=1", "-q"], check=True, stdout=subprocess.DEVNULL)
    return str(out), time.perf_counter() - started


def start_server(teacher: str) -> tuple[subprocess.Popen, str, queue.Queue]:
    """The server process, its base URL, and the lines of its stderr (drained in a thread)."""
    command = [sys.executable, "-m", "fsbbt", "teacher", "serve", teacher, "--port", "0", "-q"]
    server = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    lines: queue.Queue = queue.Queue()

    def drain() -> None:  # a full pipe would stall the server
        for line in server.stderr:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=drain, daemon=True).start()
    deadline = time.monotonic() + ANNOUNCEMENT_TIMEOUT_S
    seen = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        if line.startswith("serving ") and " on http://" in line:
            return server, line.rsplit(" on ", 1)[1].strip(), lines
    stop_server(server)
    raise SystemExit("the teacher server did not announce itself:\n" + "\n".join(seen[-20:]))


def stop_server(server: subprocess.Popen) -> int | None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    return server.returncode


def run(args: argparse.Namespace, scratch: Path) -> dict:
    results: dict = {"teacher": {}}
    if args.teacher:
        teacher = args.teacher
    else:
        teacher, train_seconds = train_default_teacher(scratch)
        results["teacher"].update(trained="lenet5 on digits, 1 epoch", train_seconds=round(train_seconds, 1))
    started = time.perf_counter()
    server, base, stderr_lines = start_server(teacher)
    results["teacher"]["spec"] = args.teacher or "(trained in a temporary directory)"
    results["server_start_seconds"] = round(time.perf_counter() - started, 2)
    clients = [
        httpx.Client(timeout=REQUEST_TIMEOUT_S, limits=httpx.Limits(max_connections=1))
        for _ in range(args.concurrency)
    ]
    try:
        info = httpx.get(f"{base}/v1/info").json()
        results["teacher"]["info"] = info
        shape = tuple(info["input_shape"])
        results["modes"] = {
            mode: measure_mode(mode, clients, base, server, shape, args) for mode in args.modes
        }
    finally:
        for client in clients:
            client.close()
        results["server_exit_code"] = stop_server(server)
        tail = []
        while not stderr_lines.empty():
            line = stderr_lines.get()
            if line is not None:
                tail.append(line)
        results["server_stderr_tail"] = tail[-20:]
    return results


def print_table(results: dict, args: argparse.Namespace) -> None:
    table = Table(
        title=f"fsbbt teacher serve under load: {args.concurrency} threads, batch {args.batch}, "
        f"{args.seconds:g} s per mode ({results['machine']['usable_cpus']} CPUs, shared)"
    )
    columns = ("mode", "requests", "req/s", "img/s", "p50 ms", "p95 ms", "p99 ms", "max ms")
    for column in (*columns, "errors", "replayed", "teacher evals (expected)", "server CPU s"):
        table.add_column(column, justify="right")
    for mode, row in results["modes"].items():
        latency = row["latency_ms"]
        errors = ", ".join(f"{k}: {v}" for k, v in row["errors"].items()) or "0"
        evaluations = f"{row['teacher_evaluations']:,} ({row['expected_teacher_evaluations']:,})"
        table.add_row(
            mode,
            f"{row['requests']:,}",
            f"{row['requests_per_second']:,.1f}",
            f"{row['images_per_second']:,.0f}",
            *(f"{latency[q]:.1f}" if latency[q] is not None else "—" for q in ("p50", "p95", "p99", "max")),
            errors,
            f"{row['replayed_answers']:,}",
            evaluations + ("" if row["evaluations_match"] else " MISMATCH"),
            f"{row['server_cpu_seconds']:.1f}",
        )
    Console(width=160).print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--teacher", help="TEACHER for `fsbbt teacher serve` (default: train one on digits)")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads")
    parser.add_argument("--batch", type=int, default=64, help="images per request")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per mode")
    parser.add_argument("--warmup", type=float, default=2.0, help="uncounted seconds before each mode")
    parser.add_argument("--bodies", type=int, default=16, help="request bodies re-sent in repeated mode")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated: distinct, repeated")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "server_load.json")
    args = parser.parse_args()
    args.modes = tuple(args.modes.split(","))
    if not set(args.modes) <= set(MODES) or min(args.concurrency, args.batch, args.bodies) < 1:
        parser.error(f"--modes from {MODES}; --concurrency, --batch and --bodies at least 1")
    results: dict = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "usable_cpus": len(os.sched_getaffinity(0)),
            "torch": metadata.version("torch"),
            "python": platform.python_version(),
            "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
        },
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
    }
    with tempfile.TemporaryDirectory(prefix="server_load-") as scratch:
        results.update(run(args, Path(scratch)))
    results["machine"]["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results, args)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
