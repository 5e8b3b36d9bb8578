"""Training speed against a plain PyTorch loop, and wall time on a busy machine.

    python benchmarks/speed.py [--repeats 3] [--steps 400] [--skip-contention]
                               [--compare-src OTHER_CHECKOUT/src]

1. **Step throughput.** In this one process, a minimal plain-PyTorch loop (what a user
   writes: torch's default threads, NCHW tensors, ``torch.optim.Adam`` as it comes,
   ``F.affine_grid``) and fsbbt's loop (:func:`fsbbt.train.fit_classifier`), on the
   same random uint8 images and soft targets with the same recipe (batch 64, MixUp with
   a random batch + random affine, i.e. ``combination``), for LeNet5-half and LeNet5
   (28×28 grey) and AlexNet-half (32×32 colour). The two alternate ``--repeats`` times;
   the median images/s of each and the median of the per-pair ratios are reported.
2. **A seed's students.** FS-BBT's two students (LeNet5-half and LeNet5 on the same
   images): the plain loop trains them one after another, fsbbt hands both to its
   training workers (:mod:`fsbbt.train.workers`). Images/s of the whole seed.
3. **Thread policies** (``--policies``): one training step's images/s for LeNet5-half
   and AlexNet-half with 1 thread, 2 threads, and 2 threads with passive OpenMP waiting
   (``OMP_WAIT_POLICY=PASSIVE``), idle and beside one CPU-bound process; each in a fresh
   process, since OpenMP reads its waiting policy when torch loads.
4. **Contention.** Wall time of ``fsbbt demo`` (fresh run directory each time) idle,
   beside one CPU-bound process, and as one of two ``fsbbt demo`` run at once; with
   ``--compare-src``, the same for another checkout's code (e.g. a git worktree of an
   older commit) so the table shows both side by side.

Writes benchmarks/results/speed.json and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

from fsbbt.core import progress, threads
from fsbbt.models import build_classifier
from fsbbt.train import TrainRecipe
from fsbbt.train.augment import geometry_for
from fsbbt.train.workers import ClassifierTraining, TrainingPool

HERE = Path(__file__).resolve().parent
BATCH = 64
NETWORKS = {"lenet5-half": (1, 28, 28), "lenet5": (1, 28, 28), "alexnet-half": (3, 32, 32)}


def random_data(shape: tuple[int, int, int], count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, *shape), dtype=np.uint8)
    return images, rng.dirichlet(np.ones(10), count).astype(np.float32)


def plain_loop(arch: str, images_uint8: np.ndarray, targets: np.ndarray, epochs: int, seed: int) -> float:
    """The loop a user would write for the same recipe; returns images/s."""
    torch.manual_seed(seed)
    shape = images_uint8.shape[1:]
    model = build_classifier(arch, shape, 10)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    images = torch.from_numpy(images_uint8).float() / 255
    soft = torch.from_numpy(targets)
    geometry = geometry_for("auto", shape[0])
    rng = np.random.default_rng(seed)
    model.train()
    started = time.perf_counter()
    for _ in range(epochs):
        order = torch.from_numpy(rng.permutation(len(images)))
        for start in range(0, len(images), BATCH):
            index = order[start : start + BATCH]
            x, y = images[index], soft[index]
            partner = torch.from_numpy(rng.integers(0, len(images), len(x)))
            lam = torch.from_numpy(rng.beta(1.0, 1.0, len(x)).astype(np.float32))
            x = lam.view(-1, 1, 1, 1) * x + (1 - lam.view(-1, 1, 1, 1)) * images[partner]
            y = lam[:, None] * y + (1 - lam[:, None]) * soft[partner]
            angle = np.deg2rad(rng.uniform(-geometry.rotation_deg, geometry.rotation_deg, len(x)))
            shift = rng.uniform(-2 * geometry.shift_fraction, 2 * geometry.shift_fraction, (len(x), 2))
            theta = torch.tensor(
                np.stack(
                    [
                        np.stack([np.cos(angle), -np.sin(angle), shift[:, 0]], 1),
                        np.stack([np.sin(angle), np.cos(angle), shift[:, 1]], 1),
                    ],
                    1,
                ),
                dtype=torch.float32,
            )
            grid = F.affine_grid(theta, list(x.shape), align_corners=False)
            x = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            _ = loss.item()  # what a loop that logs its loss does
    return epochs * len(images) / (time.perf_counter() - started)


def fsbbt_training(arch: str, images: np.ndarray, targets: np.ndarray, epochs: int, seed: int):
    return ClassifierTraining(
        arch=arch,
        input_shape=images.shape[1:],
        num_classes=10,
        images_uint8=images,
        targets=targets,
        recipe=TrainRecipe(
            epochs=epochs,
            batch_size=BATCH,
            augmentation="combination",
            geometry=geometry_for("auto", images.shape[1]),
        ),
        seed=seed,
        description=arch,
        precision="fp32",
    )


def fsbbt_loop(arch: str, images: np.ndarray, targets: np.ndarray, epochs: int, seed: int) -> float:
    trained = fsbbt_training(arch, images, targets, epochs, seed).run()
    return trained.history.images_per_second


def step_throughput(repeats: int, steps: int) -> list[dict]:
    rows = []
    default_threads = torch.get_num_threads()
    for arch, shape in NETWORKS.items():
        count = steps * BATCH // (8 if "alex" in arch else 1)
        images, targets = random_data(shape, count)
        plain, ours, ratios = [], [], []
        for repeat in range(repeats):
            torch.set_num_threads(default_threads)  # the plain loop gets torch's default
            plain.append(plain_loop(arch, images, targets, 1, repeat))
            ours.append(fsbbt_loop(arch, images, targets, 1, repeat))
            ratios.append(ours[-1] / plain[-1])
        rows.append(
            {
                "network": arch,
                "images_per_epoch": count,
                "plain_images_per_second": round(statistics.median(plain), 1),
                "fsbbt_images_per_second": round(statistics.median(ours), 1),
                "ratio": round(statistics.median(ratios), 3),
                "plain_passes": [round(v, 1) for v in plain],
                "fsbbt_passes": [round(v, 1) for v in ours],
            }
        )
    return rows


def seed_throughput(repeats: int, steps: int) -> dict:
    """FS-BBT's two students: one after another in the plain loop, side by side in fsbbt's."""
    images, targets = random_data((1, 28, 28), steps * BATCH)
    total = 2 * len(images)
    plain, ours, ratios = [], [], []
    pool = TrainingPool(threads.parallel_trainings())
    try:
        pool.submit(
            fsbbt_training("lenet5-half", images[:BATCH], targets[:BATCH], 1, 0)
        ).result()  # start workers
        for repeat in range(repeats):
            started = time.perf_counter()
            for arch in ("lenet5-half", "lenet5"):
                plain_loop(arch, images, targets, 1, repeat)
            plain.append(total / (time.perf_counter() - started))
            started = time.perf_counter()
            futures = [
                pool.submit(fsbbt_training(arch, images, targets, 1, repeat))
                for arch in ("lenet5-half", "lenet5")
            ]
            for future in futures:
                future.result()
            ours.append(total / (time.perf_counter() - started))
            ratios.append(ours[-1] / plain[-1])
    finally:
        pool.close()
    return {
        "students": ["lenet5-half", "lenet5"],
        "images_per_student": len(images),
        "training_workers": pool.workers,
        "plain_one_after_another_images_per_second": round(statistics.median(plain), 1),
        "fsbbt_images_per_second": round(statistics.median(ours), 1),
        "ratio": round(statistics.median(ratios), 3),
    }


def _demo_command(out: Path) -> list[str]:
    return [sys.executable, "-m", "fsbbt", "demo", "--out", str(out), "--quiet"]


def _timed_demos(count: int, python_path: str | None) -> list[float]:
    """Wall seconds of ``count`` ``fsbbt demo`` started at once (fresh directories)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "FSBBT_THREADS")}
    if python_path:
        env["PYTHONPATH"] = python_path
    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        processes = [
            subprocess.Popen(_demo_command(Path(scratch) / f"demo{i}"), env=env, stdout=subprocess.DEVNULL)
            for i in range(count)
        ]
        seconds = []
        for process in processes:
            if process.wait() != 0:
                raise SystemExit(f"fsbbt demo failed (exit {process.returncode})")
            seconds.append(time.perf_counter() - started)
        return seconds


POLICY_STEP = """
import sys, time, numpy as np, torch, torch.nn.functional as F
from fsbbt.models import build_classifier
torch.set_num_threads(int(sys.argv[1]))
arch, shape = sys.argv[2], tuple(int(v) for v in sys.argv[3].split("x"))
model = build_classifier(arch, shape, 10).to(memory_format=torch.channels_last)
images = torch.rand(4096, *shape).contiguous(memory_format=torch.channels_last)
targets = torch.softmax(torch.randn(4096, 10), 1)
optimizer = torch.optim.Adam(model.parameters(), 1e-3, fused=True)
rng = np.random.default_rng(0)
steps = int(sys.argv[4])
for step in range(steps + 10):
    if step == 10:
        started = time.perf_counter()
    index = torch.from_numpy(rng.integers(0, 4096, 64))
    loss = F.cross_entropy(model(images[index]), targets[index])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
print(64 * steps / (time.perf_counter() - started))
"""
POLICIES = {"1 thread": ("1", None), "2 threads": ("2", None), "2 threads, passive waiting": ("2", "PASSIVE")}


def _policy_rate(arch: str, shape: tuple[int, int, int], policy: str, steps: int) -> float:
    thread_count, waiting = POLICIES[policy]
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    if waiting:
        env["OMP_WAIT_POLICY"] = waiting
    shape_text = "x".join(map(str, shape))
    command = [sys.executable, "-c", POLICY_STEP, thread_count, arch, shape_text, str(steps)]
    return float(subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout)


def thread_policies(repeats: int) -> list[dict]:
    """images/s of a bare step under each policy, idle and beside one CPU-bound process."""
    rows = []
    for arch, steps in (("lenet5-half", 300), ("alexnet-half", 30)):
        for beside in (False, True):
            hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if beside else None
            try:
                rates = {policy: [] for policy in POLICIES}
                for _ in range(repeats):  # the policies alternate
                    for policy in POLICIES:
                        rates[policy].append(_policy_rate(arch, NETWORKS[arch], policy, steps))
            finally:
                if hog is not None:
                    hog.kill()
                    hog.wait()
            rows.append(
                {
                    "network": arch,
                    "machine": "beside one CPU-bound process" if beside else "idle",
                    **{policy: round(statistics.median(values), 1) for policy, values in rates.items()},
                }
            )
    return rows


CASES = ("idle", "beside", "two")


def contention(python_path: str | None, cases: tuple[str, ...] = CASES) -> dict[str, float]:
    """Demo wall time idle, beside one CPU-bound process, and as one of two at once."""
    row: dict[str, float] = {}
    idle = _timed_demos(1, python_path)[0]
    row["idle_seconds"] = round(idle, 1)
    if "beside" in cases:
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            beside = _timed_demos(1, python_path)[0]
        finally:
            hog.kill()
            hog.wait()
        row.update(beside_cpu_bound_seconds=round(beside, 1), beside_cpu_bound_ratio=round(beside / idle, 2))
    if "two" in cases:
        two = max(_timed_demos(2, python_path))
        row.update(two_at_once_seconds=round(two, 1), two_at_once_ratio=round(two / idle, 2))
    return row


def print_tables(results: dict) -> None:
    console = Console()
    if "step_throughput" in results:
        steps = Table(title=f"training step, batch {BATCH}, combination augmentation (median of pairs)")
        for column in ("network", "plain loop img/s", "fsbbt img/s", "fsbbt / plain"):
            steps.add_column(column, justify="right")
        for row in results["step_throughput"]:
            steps.add_row(
                row["network"],
                f"{row['plain_images_per_second']:,.0f}",
                f"{row['fsbbt_images_per_second']:,.0f}",
                f"{row['ratio']:.2f}×",
            )
        seed = results["seed_throughput"]
        steps.add_row(
            "seed: lenet5-half + lenet5",
            f"{seed['plain_one_after_another_images_per_second']:,.0f}",
            f"{seed['fsbbt_images_per_second']:,.0f}",
            f"{seed['ratio']:.2f}×",
        )
        console.print(steps)
    if "thread_policies" in results:
        table = Table(title="one training step, images/s, by thread policy (median)")
        for column in ("network", "machine", *POLICIES):
            table.add_column(column, justify="right")
        for row in results["thread_policies"]:
            table.add_row(row["network"], row["machine"], *(f"{row[policy]:,.0f}" for policy in POLICIES))
        console.print(table)
    if "contention" in results:
        table = Table(title="fsbbt demo wall time")
        for column in ("code", "idle s", "beside CPU-bound s", "ratio", "two at once s", "ratio"):
            table.add_column(column, justify="right")
        for code, row in results["contention"].items():
            cells = [f"{row['idle_seconds']:.1f}"]
            for key in ("beside_cpu_bound", "two_at_once"):
                present = f"{key}_seconds" in row
                cells += (
                    [f"{row[f'{key}_seconds']:.1f}", f"{row[f'{key}_ratio']:.2f}×"] if present else ["—", "—"]
                )
            table.add_row(code, *cells)
        console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=400, help="batches per epoch of the grey networks")
    parser.add_argument("--skip-contention", action="store_true")
    parser.add_argument("--skip-steps", action="store_true", help="only the contention table")
    parser.add_argument(
        "--cases", default=",".join(CASES), help="contention cases: idle always, plus beside and/or two"
    )
    parser.add_argument("--policies", action="store_true", help="also the thread-policy table")
    parser.add_argument("--compare-src", help="another checkout's src/ to time beside this one")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "speed.json")
    args = parser.parse_args()
    progress.set_quiet(True)
    results: dict = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "usable_cpus": threads.usable_cpus(),
            "torch": torch.__version__,
            "torch_default_threads": torch.get_num_threads(),
        },
    }
    if not args.skip_steps:
        results["step_throughput"] = step_throughput(args.repeats, args.steps)
        results["seed_throughput"] = seed_throughput(args.repeats, args.steps)
    if args.policies:
        results["thread_policies"] = thread_policies(args.repeats)
    if not args.skip_contention:
        cases = tuple(args.cases.split(","))
        here = str(Path(__file__).resolve().parents[1] / "src")
        results["contention"] = {"this checkout": contention(here, cases)}
        if args.compare_src:
            results["contention"][args.compare_src] = contention(args.compare_src, cases)
    results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print_tables(results)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
