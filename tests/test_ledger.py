"""The query ledger, the oracle's budget, answer validation and output conversions."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from teacher_helpers import DIGITS_SHAPE, FixedTeacher, linear_teacher

from fsbbt.core.errors import FsbbtError
from fsbbt.teacher.blackbox import QueryOracle, image_keys
from fsbbt.teacher.ledger import QueryLedger
from fsbbt.teacher.outputs import (
    labels_to_probabilities,
    logits_to_probabilities,
    topk_to_probabilities,
)


def _images(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, *DIGITS_SHAPE), dtype=np.uint8)


class CountingTeacher(FixedTeacher):
    def __init__(self, answer=None) -> None:
        self.received: list[int] = []
        self._answer = answer

    def predict_proba(self, images_uint8: np.ndarray):
        self.received.append(len(images_uint8))
        if self._answer is not None and len(self.received) == 2:
            return self._answer(images_uint8)
        return linear_teacher(images_uint8)


def test_ledger_survives_reopening_and_refuses_another_teacher(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    ledger = QueryLedger(path, "teacher-a", 3)
    ledger.store(["k1", "k2"], np.array([[1, 0, 0], [0.5, 0.5, 0]], np.float32))
    ledger.close()
    reopened = QueryLedger(path, "teacher-a", 3)
    assert len(reopened) == 2
    found = reopened.lookup(["k2", "missing"])
    assert list(found) == ["k2"] and np.allclose(found["k2"], [0.5, 0.5, 0])
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with pytest.raises(FsbbtError, match="different teacher"):
        QueryLedger(path, "teacher-b", 3)


def test_oracle_sends_each_distinct_image_once_across_oracles(tmp_path: Path) -> None:
    images = _images(40)
    repeated = np.concatenate([images, images[:10]])
    teacher = CountingTeacher()
    oracle = QueryOracle(teacher, 16, QueryLedger(tmp_path / "l.sqlite", "t", 10))
    probs = oracle.query(repeated)
    assert np.allclose(probs, linear_teacher(repeated), atol=1e-6)
    assert oracle.queries_sent == 40 and teacher.received == [16, 16, 8]

    again = QueryOracle(CountingTeacher(), 16, QueryLedger(tmp_path / "l.sqlite", "t", 10))
    assert np.array_equal(again.query(images), probs[:40])
    usage = again.usage()
    assert (usage["sent"], usage["from_ledger"], usage["budget"]) == (0, 40, None)
    assert usage["paid_in_all"] == 40  # the lifetime count: what the first oracle paid


def test_budget_is_a_hard_cap_checked_before_sending(tmp_path: Path) -> None:
    teacher = CountingTeacher()
    oracle = QueryOracle(teacher, 8, QueryLedger(None, "t", 10), budget=30)
    oracle.query(_images(20, seed=1))
    with pytest.raises(FsbbtError, match="needs 20 new teacher answers but only 10"):
        oracle.query(_images(20, seed=2))
    assert oracle.queries_sent == 20 and sum(teacher.received) == 20
    oracle.query(_images(20, seed=1))  # answered from the ledger: costs nothing
    oracle.query(_images(10, seed=3))
    assert len(oracle.ledger) == 30


@pytest.mark.parametrize(
    "bad_answer, message",
    [
        (lambda x: np.full((len(x), 10), np.nan), "NaN"),
        (lambda x: np.full((len(x), 9), 1 / 9), "shape"),
        (lambda x: np.tile(np.r_[-0.5, 1.5, np.zeros(8)], (len(x), 1)), "negative"),
        (lambda x: np.full((len(x), 10), 0.2), "not 1"),
        (lambda x: "<html><body>502 Bad Gateway</body></html>", "not numeric"),
    ],
)
def test_malformed_answer_is_one_line_and_leaves_the_ledger_consistent(
    tmp_path: Path, bad_answer, message: str
) -> None:
    path = tmp_path / "l.sqlite"
    oracle = QueryOracle(CountingTeacher(bad_answer), 8, QueryLedger(path, "t", 10))
    images = _images(24)
    with pytest.raises(FsbbtError, match=message) as caught:
        oracle.query(images)
    assert "\n" not in str(caught.value) and "batch 1 (images 8..15" in str(caught.value)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = {key for (key,) in db.execute("SELECT key FROM answers")}
    assert stored == set(image_keys(images[:8]))


def test_logits_labels_and_topk_become_probabilities() -> None:
    logits = np.array([[0.0, 0.0, np.log(2.0)]])
    assert np.allclose(logits_to_probabilities(logits, 3), [[0.25, 0.25, 0.5]])
    assert np.array_equal(labels_to_probabilities([2, 0], 3), [[0, 0, 1], [1, 0, 0]])
    targets = topk_to_probabilities(([[3, 1]], [[0.6, 0.2]]), 5)
    assert np.allclose(targets, [[0.2 / 3, 0.2, 0.2 / 3, 0.6, 0.2 / 3]])
    with pytest.raises(FsbbtError, match="outside"):
        labels_to_probabilities([3], 3)
    with pytest.raises(FsbbtError, match="repeats"):
        topk_to_probabilities(([[1, 1]], [[0.5, 0.5]]), 3)
    with pytest.raises(FsbbtError, match="NaN"):
        logits_to_probabilities([[np.nan, 0, 0]], 3)
