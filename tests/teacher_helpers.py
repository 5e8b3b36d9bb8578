"""Teachers and servers for the tests: a fixed linear teacher, a slow one, a live uvicorn,
a saved fsbbt teacher."""

from __future__ import annotations

import os
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import uvicorn
from PIL import Image

from fsbbt.experiment.config import load_config
from fsbbt.methods import FewShotSet, MethodContext
from fsbbt.models import build_classifier
from fsbbt.teacher import QueryOracle
from fsbbt.teacher.http_client import HttpSettings, HttpTeacher
from fsbbt.teacher.ledger import LEDGER_FILE
from fsbbt.teacher.local import TeacherMetadata, save_teacher

HERE = Path(__file__).resolve().parent
DIGITS_SHAPE = (1, 28, 28)
DIGITS_CLASSES = tuple(str(i) for i in range(10))
_WEIGHTS = np.random.default_rng(0).normal(size=(10, 28 * 28)).astype(np.float32) / 30.0


def linear_teacher(images_uint8: np.ndarray) -> np.ndarray:
    """A deterministic 10-class teacher for 28×28 grey images: softmax of a fixed projection."""
    logits = (images_uint8.reshape(len(images_uint8), -1).astype(np.float32) / 255.0) @ _WEIGHTS.T
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def slow_linear_teacher(images_uint8: np.ndarray) -> np.ndarray:
    """:func:`linear_teacher` that sleeps per batch, so a test can kill a run mid-query."""
    time.sleep(float(os.environ.get("FSBBT_TEST_TEACHER_SLEEP_S", "0.05")))
    log = os.environ.get("FSBBT_TEST_TEACHER_LOG")
    if log:  # what the teacher really received, ledger or not
        with open(log, "a") as handle:
            handle.write(f"{len(images_uint8)}\n")
    return linear_teacher(images_uint8)


FIRST_CALL_S = 1.0
_calls_so_far = 0


def slow_first_call_teacher(images_uint8: np.ndarray) -> np.ndarray:
    """:func:`linear_teacher` whose first call takes FIRST_CALL_S, longer than a short client
    timeout. The count is per loaded copy of this file, and a python teacher given as
    ``file.py:function`` loads its own copy, so every such teacher starts slow."""
    global _calls_so_far
    _calls_so_far += 1
    if _calls_so_far == 1:
        time.sleep(FIRST_CALL_S)
    return linear_teacher(images_uint8)


def write_digit_images(directory: Path, images: np.ndarray) -> None:
    """Digits saved in mixed formats, sizes and colour modes, as a user's folder would be."""
    directory.mkdir(parents=True)
    for i, image in enumerate(images):
        picture = Image.fromarray(image[0])
        if i % 3 == 1:
            picture.resize((56, 56)).convert("RGB").save(directory / f"img{i:03d}.jpg", quality=95)
        elif i % 3 == 2:
            picture.resize((20, 33)).save(directory / f"img{i:03d}.bmp")
        else:
            picture.save(directory / f"img{i:03d}.png")


def http_teacher(
    url: str, timeout_s: float = 10.0, request_batch_size: int = 16, retries: int = 8
) -> HttpTeacher:
    """fsbbt's HTTP client for a digits teacher at ``url``, with short back-offs."""
    settings = HttpSettings(
        url=url,
        headers={},
        token_env=None,
        request_batch_size=request_batch_size,
        concurrency=2,
        timeout_s=timeout_s,
        retries=retries,
        max_backoff_s=0.1,
    )
    return HttpTeacher(settings, DIGITS_SHAPE, DIGITS_CLASSES)


def serve_command(teacher: str | None = None, *options: str) -> list[str]:
    """argv of ``fsbbt teacher serve`` for ``teacher`` (default: :func:`linear_teacher`)."""
    served = teacher or f"python:{HERE / 'teacher_helpers.py'}:linear_teacher"
    return [sys.executable, "-m", "fsbbt", "teacher", "serve", served, *options]


def linear_teacher_tree(function: str = "linear_teacher") -> dict:
    return {"kind": "python", "function": f"{HERE / 'teacher_helpers.py'}:{function}"}


class FixedTeacher:
    """An in-process teacher object for create_app / QueryOracle."""

    input_shape = DIGITS_SHAPE
    class_names = DIGITS_CLASSES

    def predict_proba(self, images_uint8: np.ndarray) -> np.ndarray:
        return linear_teacher(images_uint8)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_server(app: object) -> Iterator[str]:
    """Serve ``app`` with a real uvicorn on a free loopback port; yield its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def save_digits_teacher(directory: Path, arch: str = "lenet5") -> torch.nn.Module:
    """An untrained ``arch`` saved in ``directory`` as `fsbbt teacher train` saves a teacher."""
    torch.manual_seed(0)
    model = build_classifier(arch, DIGITS_SHAPE, 10)
    save_teacher(model, TeacherMetadata(arch, "digits", DIGITS_SHAPE, DIGITS_CLASSES, 0.5, 1, 0), directory)
    return model


def export_torchscript(model: torch.nn.Module, input_shape: tuple[int, ...], path: Path) -> None:
    """A logits-returning TorchScript file of ``model`` (the teacher's own export)."""
    traced = torch.jit.trace(model.eval(), torch.zeros(1, *input_shape))
    torch.jit.save(traced, str(path))


def export_onnx(model: torch.nn.Module, input_shape: tuple[int, ...], path: Path) -> None:
    """A logits-returning ONNX file of ``model`` with a dynamic batch dimension."""
    torch.onnx.export(
        model.eval(),
        (torch.zeros(1, *input_shape),),
        str(path),
        input_names=["images"],
        output_names=["logits"],
        dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}},
        dynamo=False,
    )


def fast_run_overrides(teacher_tree: dict, *extra: str) -> list[str]:
    """``--set`` assignments for a seconds-long digits run against ``teacher_tree``."""
    import json

    return [
        "student.epochs=1",
        "cvae.epochs=2",
        "synthesis.budget=200",
        "curve_points=0",
        "query_batch_size=32",
        "methods=[standard-kd/lenet5-half, fsbbt/lenet5-half]",
        f"teacher={json.dumps(teacher_tree)}",
        *extra,
    ]


class CountingTeacher(FixedTeacher):
    """The linear teacher, counting every image that reaches it."""

    def __init__(self) -> None:
        self.images_seen = 0

    def predict_proba(self, images_uint8: np.ndarray) -> np.ndarray:
        self.images_seen += len(images_uint8)
        return linear_teacher(images_uint8)


def method_context(
    n: int, *overrides: str, query_budget: int | None = None, seeds: str = "[1]"
) -> tuple[MethodContext, CountingTeacher, QueryOracle]:
    """A one-seed digits context for a method run in this process, on ``n`` random images,
    against a :class:`CountingTeacher`; ``overrides`` as ``--set`` would give them."""
    config = load_config("digits", ["student.epochs=1", "curve_points=0", f"seeds={seeds}", *overrides])
    images = np.random.default_rng(0).integers(0, 256, (n, 1, 28, 28), dtype=np.uint8)
    teacher = CountingTeacher()
    oracle = QueryOracle(teacher, batch_size=64, budget=query_budget)
    context = MethodContext(
        config, 1, FewShotSet(images, np.zeros(n, np.int64)), oracle, test_accuracy=lambda model: 0.5
    )
    return context, teacher, oracle


def ledger_rows(out: Path) -> int:
    """Answers in a run directory's ledger, read without locking it (0 before it exists)."""
    try:
        with sqlite3.connect(f"file:{out / LEDGER_FILE}?mode=ro", uri=True) as db:
            return int(db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])
    except sqlite3.Error:  # not created yet
        return 0
