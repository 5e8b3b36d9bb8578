"""BBKD: the pair pool, least-confident selection, and a budget spent exactly, never more."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from teacher_helpers import method_context
from torch import nn

from fsbbt.core.errors import FsbbtError
from fsbbt.methods.bbkd import _select_new_mixes, least_confident_weights, pair_pool, run_bbkd
from fsbbt.synth import mix_pairs
from fsbbt.train.evaluate import predict_probabilities


@pytest.mark.parametrize("count", [7, 8, 40])
def test_pool_holds_each_unordered_pair_once(count: int) -> None:
    first, second = pair_pool(count)
    pairs = {frozenset(p) for p in zip(first.tolist(), second.tolist(), strict=True)}
    assert len(first) == count * ((count - 1) // 2) == len(pairs)
    assert all(len(pair) == 2 for pair in pairs)  # never an image with itself
    if count % 2:  # odd N: every unordered pair exactly once, as the authors' shifts give
        assert len(pairs) == count * (count - 1) // 2


def test_bbkd_spends_exactly_its_budget_in_rounds(tmp_path: Path) -> None:
    context, teacher, oracle = method_context(
        40, "bbkd.budget=290", "bbkd.per_round=100", "bbkd.pool_cap=300"
    )
    context.stage_checkpoint = tmp_path / "stage.ckpt"
    outcome = run_bbkd(context, "lenet5-half")
    # finished rounds' checkpoints are dropped; the last round's is the stage's own
    assert [p.name for p in tmp_path.iterdir()] == ["stage.ckpt"]
    # N = 40 real images, then rounds of 100, 100 and the 50 left
    assert [queries for queries, _ in outcome.query_curve] == [40, 140, 240, 290]
    assert outcome.teacher_queries == 290
    assert oracle.queries_sent == teacher.images_seen == 290 == len(oracle.ledger)


def test_bbkd_default_budget_is_fsbbts_n_plus_m() -> None:
    context, teacher, _ = method_context(30, "synthesis.budget=120", "bbkd.per_round=50", "bbkd.pool_cap=50")
    outcome = run_bbkd(context, "lenet5-half")
    assert outcome.teacher_queries == teacher.images_seen == 150
    assert [queries for queries, _ in outcome.query_curve] == [30, 80, 130, 150]


def test_bbkd_shrinks_to_its_seed_share_of_the_query_budget() -> None:
    context, teacher, _ = method_context(
        30, "synthesis.budget=400", "bbkd.per_round=100", query_budget=300, seeds="[1, 2]"
    )
    outcome = run_bbkd(context, "lenet5-half")
    assert outcome.teacher_queries == teacher.images_seen == 150  # 300 // 2 seeds


def test_bbkd_refuses_a_budget_the_pool_cannot_fill() -> None:
    context, teacher, _ = method_context(10, "bbkd.budget=100")  # 10 images: 40 pairs only
    with pytest.raises(FsbbtError, match="give only 40 pairs"):
        run_bbkd(context, "lenet5-half")
    assert teacher.images_seen == 0  # refused before any query


def test_least_confident_weight_is_the_brute_force_minimum() -> None:
    torch.manual_seed(0)
    student = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    images = np.random.default_rng(1).integers(0, 256, (12, 1, 28, 28), dtype=np.uint8)
    first, second = pair_pool(12)
    weights = (0.3, 0.5, 0.7)
    confidence, best = least_confident_weights(student, images, first, second, weights)
    brute = np.stack(
        [predict_probabilities(student, mix_pairs(images, first, second, w)).max(1) for w in weights]
    )
    np.testing.assert_allclose(confidence, brute.min(axis=0), rtol=1e-6)
    np.testing.assert_array_equal(best, np.asarray(weights, np.float32)[brute.argmin(axis=0)])


def test_selection_takes_least_confident_and_skips_bytes_already_labelled() -> None:
    images = np.random.default_rng(2).integers(0, 256, (4, 1, 28, 28), dtype=np.uint8)
    images[1] = images[0]  # pairs (0, 2) and (1, 2) give the same mix
    first, second = np.array([0, 1, 2, 0]), np.array([2, 2, 3, 3])
    confidence = np.array([0.1, 0.2, 0.9, 0.3], np.float32)
    weights = np.full(4, 0.5, np.float32)
    positions, mixes = _select_new_mixes(images, first, second, confidence, weights, 2, set())
    assert positions.tolist() == [0, 3]  # 1 is a byte-copy of 0; 3 is next least confident
    np.testing.assert_array_equal(mixes[1], mix_pairs(images, first[[3]], second[[3]], 0.5)[0])
