"""``fsbbt teacher serve`` and the http teacher, over a real uvicorn on loopback."""

from __future__ import annotations

import asyncio
import email.utils
import random
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from teacher_helpers import (
    DIGITS_SHAPE,
    FixedTeacher,
    fast_run_overrides,
    linear_teacher,
    running_server,
    serve_command,
)

from fsbbt.core.errors import FsbbtError
from fsbbt.experiment.config import TeacherConfig, load_config
from fsbbt.experiment.runner import run_experiment
from fsbbt.teacher.blackbox import QueryOracle
from fsbbt.teacher.factory import build_teacher
from fsbbt.teacher.http_client import retry_after_s
from fsbbt.teacher.ledger import QueryLedger
from fsbbt.teacher.server import check_bind, create_app
from fsbbt.teacher.wire import NPY_MEDIA_TYPE, decode_npy, encode_npy, encode_png

IMAGES = np.random.default_rng(0).integers(0, 256, (12, *DIGITS_SHAPE), dtype=np.uint8)


def _http_tree(url: str, **extra: object) -> dict:
    return {"kind": "http", "url": url, "request_batch_size": 16, "concurrency": 2, **extra}


def test_server_answers_npy_and_png_and_refuses_bad_requests() -> None:
    app = create_app(FixedTeacher(), max_request_bytes=20_000)
    with running_server(app) as url, httpx.Client(base_url=url) as client:
        info = client.get("/v1/info").json()
        assert info["input_shape"] == [1, 28, 28] and len(info["class_names"]) == 10
        expected = linear_teacher(IMAGES)
        as_npy = client.post(
            "/v1/predict",
            content=encode_npy(IMAGES),
            headers={"Content-Type": NPY_MEDIA_TYPE, "Accept": NPY_MEDIA_TYPE},
        )
        assert np.allclose(decode_npy(as_npy.content, "answer"), expected, atol=1e-6)
        as_png = client.post("/v1/predict", json={"images": [encode_png(i) for i in IMAGES]})
        assert np.allclose(as_png.json()["probabilities"], expected, atol=1e-6)

        refusals = [
            (client.post("/v1/predict", content=b"junk", headers={"Content-Type": NPY_MEDIA_TYPE}), 400),
            (
                client.post(
                    "/v1/predict",
                    content=encode_npy(IMAGES[:, :, :20]),
                    headers={"Content-Type": NPY_MEDIA_TYPE},
                ),
                422,
            ),
            (client.post("/v1/predict", json={"images": ["not base64!"]}), 400),
            (client.post("/v1/predict", content=b"x", headers={"Content-Type": "text/plain"}), 415),
            (
                client.post(
                    "/v1/predict",
                    content=encode_npy(np.zeros((40, 1, 28, 28), np.uint8)),
                    headers={"Content-Type": NPY_MEDIA_TYPE},
                ),
                413,
            ),
        ]
        for response, status in refusals:
            assert response.status_code == status
            assert response.json()["error"]


def test_token_is_required_and_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "s3cret-token-value"
    monkeypatch.setenv("FSBBT_TEST_TOKEN", secret)
    with pytest.raises(FsbbtError, match="without a token"):
        check_bind("0.0.0.0", None)
    assert check_bind("0.0.0.0", "FSBBT_TEST_TOKEN") == secret
    with running_server(create_app(FixedTeacher(), token=secret)) as url:
        assert httpx.get(f"{url}/v1/info").status_code == 401
        teacher = build_teacher(TeacherConfig(**_http_tree(url, token_env="FSBBT_TEST_TOKEN")))
        assert np.allclose(teacher.predict_proba(IMAGES), linear_teacher(IMAGES), atol=1e-6)
        assert secret not in repr(teacher)
        monkeypatch.setenv("FSBBT_TEST_TOKEN", "other-xyz-value")
        with pytest.raises(FsbbtError, match="401") as caught:
            build_teacher(TeacherConfig(**_http_tree(url, token_env="FSBBT_TEST_TOKEN")))
        assert secret not in str(caught.value) and "other-xyz" not in str(caught.value)


def _flaky(app: FastAPI, seed: int, injected: dict[str, int]) -> FastAPI:
    """Fail a random 20 % of predictions with 500 (some with Retry-After), delay 10 % past
    the client's timeout; count what was injected."""
    chance = random.Random(seed)

    @app.middleware("http")
    async def _misbehave(request: Request, call_next):  # type: ignore[no-untyped-def]
        if request.url.path == "/v1/predict":
            draw = chance.random()
            if draw < 0.2:
                injected["500"] += 1
                return JSONResponse(
                    {"error": "injected"},
                    status_code=500,
                    headers={"Retry-After": "0"} if draw < 0.05 else {},
                )
            if draw < 0.3:
                injected["delay"] += 1
                await asyncio.sleep(0.8)
        return await call_next(request)

    return app


def test_pipeline_through_a_flaky_server_equals_a_healthy_one(tmp_path: Path) -> None:
    results = {}
    injected = {"500": 0, "delay": 0}
    for name, app in (
        ("healthy", create_app(FixedTeacher())),
        ("flaky", _flaky(create_app(FixedTeacher()), 3, injected)),
    ):
        with running_server(app) as url:
            tree = _http_tree(url, timeout_s=0.4, retries=8, max_backoff_s=0.2)
            config = load_config("digits", fast_run_overrides(tree))
            results[name] = run_experiment(config, tmp_path / name)
    for key, summary in results["healthy"]["methods"].items():
        assert results["flaky"]["methods"][key]["accuracy"] == summary["accuracy"]
    paid = ("sent", "from_ledger", "budget", "paid_in_all")
    flaky, healthy = results["flaky"]["queries"], results["healthy"]["queries"]
    assert {k: flaky[k] for k in paid} == {k: healthy[k] for k in paid}
    assert injected["500"] > 0 and injected["delay"] > 0
    # every failure is retried and counted, now and in the run directory's lifetime
    assert healthy["retries"] == healthy["timeouts"] == 0
    assert flaky["timeouts"] >= injected["delay"]
    assert flaky["retries"] == injected["500"] + flaky["timeouts"] == flaky["retries_in_all"]


def _bad_server(kind: str) -> FastAPI:
    app = FastAPI()
    calls = {"predict": 0}

    @app.get("/v1/info")
    def info() -> dict:
        return {"input_shape": [1, 28, 28], "class_names": [str(i) for i in range(10)]}

    @app.post("/v1/predict")
    async def predict(request: Request):  # type: ignore[no-untyped-def]
        images = decode_npy(await request.body(), "request")
        calls["predict"] += 1
        probs = linear_teacher(images)
        if calls["predict"] == 1:  # the first batch is fine: it must stay in the ledger
            return JSONResponse({"probabilities": probs.tolist()})
        if kind == "html":
            return HTMLResponse("<html><body><h1>Internal error</h1></body></html>")
        bad = {
            "nan": np.where(probs > 0.1, np.nan, probs),
            "classes": probs[:, :9],
            "negative": probs - 0.05,
            "unnormalised": probs * 1.5,
        }[kind]
        return JSONResponse(
            {"probabilities": [[str(v) if v != v else v for v in row] for row in bad.tolist()]}
        )

    return app


@pytest.mark.parametrize(
    "kind, message",
    [
        ("nan", "NaN"),
        ("classes", "shape"),
        ("negative", "negative"),
        ("unnormalised", "not 1"),
        ("html", "text/html"),
    ],
)
def test_malformed_http_answers_are_one_line_errors(tmp_path: Path, kind: str, message: str) -> None:
    with running_server(_bad_server(kind)) as url:
        teacher = build_teacher(TeacherConfig(**_http_tree(url, concurrency=1)))
        ledger_path = tmp_path / "ledger.sqlite"
        oracle = QueryOracle(teacher, 16, QueryLedger(ledger_path, "t", 10))
        images = np.random.default_rng(1).integers(0, 256, (40, *DIGITS_SHAPE), dtype=np.uint8)
        with pytest.raises(FsbbtError, match=message) as caught:
            oracle.query(images)
    assert "\n" not in str(caught.value) and "batch 1" in str(caught.value)
    db = sqlite3.connect(ledger_path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT COUNT(*) FROM answers").fetchone()[0] == 16


def test_serve_refuses_a_public_bind_without_a_token(tmp_path: Path) -> None:
    finished = subprocess.run(
        serve_command(
            None,
            "--host",
            "0.0.0.0",
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 2
    assert finished.stderr.strip().count("\n") == 0 and "without a token" in finished.stderr


def test_retry_after_is_read_as_seconds_or_a_date() -> None:
    assert retry_after_s("3") == 3.0
    assert retry_after_s(None) is None and retry_after_s("soon") is None
    in_a_minute = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 55 < (retry_after_s(in_a_minute) or 0) <= 60
