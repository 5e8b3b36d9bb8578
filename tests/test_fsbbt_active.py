"""FS-BBT-active: its selection rules, and a budget always spent exactly and never exceeded,
in rounds, under a run-wide query budget and after a SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from teacher_helpers import fast_run_overrides, ledger_rows, linear_teacher_tree, method_context

from fsbbt.core.errors import FsbbtError
from fsbbt.experiment.config import load_config
from fsbbt.methods import FewShotSet
from fsbbt.methods.fsbbt_active import (
    DISTANCE_BLOCK,
    _balanced_top,
    _disagreement,
    _k_center,
    _round_student_plan,
    _select,
    _uncertainty,
    run_fsbbt_active,
)
from fsbbt.models import build_classifier


def test_balanced_top_gives_each_predicted_class_an_equal_quota() -> None:
    uncertainty = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.1, 0.2])
    predicted = np.array([0, 0, 0, 0, 0, 1, 2])
    # round-robin by rank: class 0's best, class 1's, class 2's, then class 0 again
    assert _balanced_top(uncertainty, predicted, 4, 3).tolist() == [0, 5, 6, 1]
    # classes 1 and 2 run out: class 0 fills the rest, most uncertain first
    assert _balanced_top(uncertainty, predicted, 6, 3).tolist() == [0, 5, 6, 1, 2, 3]


def test_k_center_takes_the_farthest_point_each_time() -> None:
    features = np.array([[0.0], [1.0], [10.0], [10.5], [5.0]], np.float32)
    labelled = np.array([[0.0]], np.float32)
    assert _k_center(features, labelled, 3).tolist() == [3, 4, 1]


def test_k_center_over_many_blocks_matches_brute_force() -> None:
    rng = np.random.default_rng(4)
    features = rng.normal(size=(DISTANCE_BLOCK + 300, 3)).astype(np.float32)
    labelled = rng.normal(size=(DISTANCE_BLOCK + 100, 3)).astype(np.float32)
    nearest = ((features[:, None] - labelled[None]) ** 2).sum(axis=2).min(axis=1)
    expected = []
    for _ in range(20):
        pick = int(nearest.argmax())
        expected.append(pick)
        nearest = np.minimum(nearest, ((features - features[pick]) ** 2).sum(axis=1))
    assert _k_center(features, labelled, 20).tolist() == expected
    # nothing labelled yet: the first pick is any row, then the farthest from it
    first, second = _k_center(features, labelled[:0], 2).tolist()
    assert second == int(((features - features[first]) ** 2).sum(axis=1).argmax())


def test_uncertainty_ranks_flat_predictions_first() -> None:
    probs = np.array([[0.98, 0.01, 0.01], [0.4, 0.35, 0.25], [0.5, 0.5, 0.0]])
    rng = np.random.default_rng(0)
    assert np.argmax(_uncertainty(probs, "entropy", rng)) == 1
    assert np.argmax(_uncertainty(probs, "margin", rng)) == 2
    assert np.argmin(_uncertainty(probs, "margin", rng)) == 0


def test_disagreement_is_the_total_variation_between_two_students() -> None:
    first = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    second = np.array([[0.0, 1.0, 0.0], [0.5, 0.0, 0.5], [0.2, 0.3, 0.5]])
    assert _disagreement(first, second).tolist() == [1.0, 0.5, 0.0]


def test_explore_buys_its_share_at_random_whatever_the_student() -> None:
    pool = np.random.default_rng(3).integers(0, 256, (200, 1, 28, 28), dtype=np.uint8)
    available = np.ones(200, bool)
    available[:20] = False  # bought already: never chosen again
    students = []
    for init in (0, 1):
        torch.manual_seed(init)
        students.append(build_classifier("lenet5-half", (1, 28, 28), 10).eval())

    def picks(explore: float, student: torch.nn.Module) -> np.ndarray:
        context, _, _ = method_context(10, f"active.explore={explore}")
        return _select(context, [student], pool, available, pool[:20], 30, round_index=1)

    for explore in (0.0, 0.5, 1.0):
        chosen = [picks(explore, student) for student in students]
        assert all(len(c) == len(set(c.tolist())) == 30 and available[c].all() for c in chosen)
        # the first explore × 30 picks are the random ones: the same for either student
        random_share = round(explore * 30)
        assert chosen[0][:random_share].tolist() == chosen[1][:random_share].tolist()
    assert picks(0.0, students[0]).tolist() != picks(0.0, students[1]).tolist()


@pytest.mark.parametrize(
    "switches",
    [
        [],
        ["active.class_balance=false", "active.diversity=false"],
        ["active.selection=disagreement"],
        ["active.pseudo_labeler=final"],
        ["active.explore=0.5"],
    ],
)
def test_the_budget_is_spent_exactly_in_rounds(tmp_path: Path, switches: list[str]) -> None:
    context, teacher, oracle = method_context(
        40, "active.budget=250", "active.rounds=3", "active.round_epochs=1", "cvae.epochs=2",
        "active.pool_cvae=true", "active.pool_geometric=true", "active.pseudo_labels=true", *switches,
    )  # fmt: skip
    context.stage_checkpoint = tmp_path / "stage.ckpt"
    outcome = run_fsbbt_active(context, "lenet5-half")
    outcome.trained.result()
    # N = 40, then three rounds of 70; the fourth point is the student that pseudo-labels
    assert [queries for queries, _ in outcome.query_curve] == [40, 110, 180, 250]
    assert outcome.teacher_queries == 250 == oracle.queries_sent == teacher.images_seen == len(oracle.ledger)
    # the rounds' checkpoints are dropped; the final student's is the stage's own
    assert [p.name for p in tmp_path.iterdir()] == ["stage.ckpt"]


@pytest.mark.parametrize("warm_start", [False, True])
def test_warm_start_begins_each_round_from_the_previous_rounds_weights(warm_start: bool) -> None:
    context, _, _ = method_context(
        40, "active.budget=160", "active.rounds=2", "active.round_epochs=1", "cvae.epochs=2",
        f"active.warm_start={str(warm_start).lower()}", "active.pseudo_labels=true",
    )  # fmt: skip
    submitted, finished = [], []
    submit = context.trainings.submit

    def recording(training):  # noqa: ANN001, ANN202 - a pass-through spy on the pool
        submitted.append(training)
        future = submit(training)
        future.add_done_callback(lambda done: finished.append(done.result().model.state_dict()))
        return future

    context.trainings.submit = recording
    run_fsbbt_active(context, "lenet5-half").trained.result()
    # rounds 0, 1, 2 (the one that pseudo-labels), then the final student, always fresh
    assert len(submitted) == 4 and submitted[0].initial_state is None
    assert submitted[-1].initial_state is None
    for round_index in (1, 2):
        start = submitted[round_index].initial_state
        if not warm_start:
            assert start is None
            continue
        previous = finished[round_index - 1]
        assert start.keys() == previous.keys()
        assert all(torch.equal(start[key], previous[key]) for key in start)
        built = submitted[round_index].build().state_dict()
        assert all(torch.equal(built[key], previous[key]) for key in built)


def _recorded_trainings(context):  # noqa: ANN001, ANN202 - a pass-through spy on the pool
    submitted = []
    submit = context.trainings.submit

    def recording(training):  # noqa: ANN001, ANN202
        submitted.append(training)
        return submit(training)

    context.trainings.submit = recording
    return submitted


def test_disagreement_trains_two_students_of_different_seeds_each_round() -> None:
    context, _, _ = method_context(
        40, "active.budget=160", "active.rounds=2", "active.round_epochs=1", "cvae.epochs=2",
        "active.selection=disagreement", "active.pseudo_labels=true",
    )  # fmt: skip
    submitted = _recorded_trainings(context)
    run_fsbbt_active(context, "lenet5-half").trained.result()
    # rounds 0, 1, 2 two students each, then the final student alone, on the run's seed
    assert len(submitted) == 7
    pairs = [(submitted[i].seed, submitted[i + 1].seed) for i in (0, 2, 4)]
    assert all(first == context.seed != second for first, second in pairs)
    assert len({pair for pair in pairs}) == 1 and submitted[-1].seed == context.seed


@pytest.mark.parametrize("pseudo_labels", [False, True])
def test_all_random_purchases_train_no_round_students(pseudo_labels: bool) -> None:
    context, teacher, _ = method_context(
        40, "active.budget=160", "active.rounds=3", "active.round_epochs=1", "cvae.epochs=2",
        "active.explore=1.0", f"active.pseudo_labels={str(pseudo_labels).lower()}",
    )  # fmt: skip
    submitted = _recorded_trainings(context)
    outcome = run_fsbbt_active(context, "lenet5-half")
    outcome.trained.result()
    assert outcome.teacher_queries == teacher.images_seen == 160
    # nothing chooses; only a pseudo-labeller (on everything bought) precedes the final student
    assert [len(t.images_uint8) for t in submitted[:-1]] == ([160] if pseudo_labels else [])


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ([], {0: 2, 1: 2, 2: 2}),  # one student before each of the three purchases
        (["active.pseudo_labels=true"], {0: 2, 1: 2, 2: 2, 3: 2}),  # and one to label the pool
        (["active.pseudo_labels=true", "active.pseudo_labeler=final"], {0: 2, 1: 2, 2: 2, 3: None}),
        (["active.explore=1.0"], {}),  # nothing chooses
        (["active.explore=0.5"], {0: 2, 1: 2, 2: 2}),  # half of each round still chosen
        (["active.explore=1.0", "active.pseudo_labels=true"], {3: 2}),
        (["active.explore=1.0", "active.pseudo_labels=true", "active.pseudo_labeler=final"], {3: None}),
        (["active.pseudo_labels=true", "active.pseudo_share=0"], {0: 2, 1: 2, 2: 2}),
    ],
)
def test_the_round_student_plan_lists_every_round_student(
    overrides: list[str], expected: dict[int, int | None]
) -> None:
    settings = load_config("digits", ["active.rounds=3", *overrides]).active
    assert _round_student_plan(settings, round_epochs=2) == expected


@pytest.mark.parametrize(
    ("budget", "round_epochs", "overrides", "expected"),
    [
        # the recipe's image passes are 4 epochs × 25 N = 4,000 (N = 40); the round students
        # train on the N and then on N + the first round's purchase
        (160, 1, [], 8),  # (4,000 − 40 − 100) / 160 = 24: at most twice the recipe's 4 epochs
        (640, 1, [], 6),  # (4,000 − 40 − 340) / 640 = 5.7
        (640, 2, [], 5),  # (4,000 − 2 × (40 + 340)) / 640 = 5.1; without the rounds: 6.25
        (640, 1, ["active.selection=disagreement"], 5),  # two students a round: 5.1
        (1000, 1, [], 4),  # (4,000 − 40 − 520) / 1,000 = 3.4: never fewer than the recipe's
        (160, 1, ["active.final_epochs=5"], 5),
        (160, 1, ["synthesis.budget=100"], 8),  # FS-BBT's M does not change it
    ],
)
def test_the_final_student_and_labeler_train_what_the_rounds_leave_of_the_recipe_steps(
    budget: int, round_epochs: int, overrides: list[str], expected: int
) -> None:
    context, _, _ = method_context(
        40, f"active.budget={budget}", "active.rounds=2", f"active.round_epochs={round_epochs}",
        "cvae.epochs=2", "student.epochs=4", "active.pseudo_labels=true",
        "active.pseudo_labeler=final", *overrides,
    )  # fmt: skip
    submitted = _recorded_trainings(context)
    run_fsbbt_active(context, "lenet5-half").trained.result()
    # two rounds of students (twins under disagreement), then the labellers as long as the
    # final student
    twins = 2 if "active.selection=disagreement" in overrides else 1
    epochs = [training.recipe.epochs for training in submitted]
    assert epochs == [round_epochs] * (2 * twins) + [expected] * (twins + 1)
    labeler, final = submitted[2 * twins], submitted[-1]
    assert len(labeler.images_uint8) == budget  # everything bought, nothing pseudo-labelled yet
    assert len(final.images_uint8) >= budget


@pytest.mark.parametrize("value", ["0", "foo", "2.5", "true"])
def test_final_epochs_is_a_number_of_epochs_or_the_rule(value: str) -> None:
    with pytest.raises(FsbbtError, match="neither a number of epochs ≥ 1 nor recipe-steps"):
        load_config("digits", [f"active.final_epochs={value}"])
    assert load_config("digits", ["active.final_epochs=7"]).active.final_epochs == 7


def test_a_run_wide_query_budget_shrinks_it_to_the_seed_share() -> None:
    context, teacher, _ = method_context(
        30, "synthesis.budget=400", "active.round_epochs=1", query_budget=300, seeds="[1, 2]"
    )
    outcome = run_fsbbt_active(context, "lenet5-half")
    assert outcome.teacher_queries == teacher.images_seen == 150  # 300 // 2 seeds


def test_a_pool_too_small_for_the_budget_is_refused_before_buying() -> None:
    context, teacher, _ = method_context(
        20, "active.budget=100", "active.pool_mixup=false", "active.pool_geometric=true"
    )
    # views of a blank image are all the same blank image: a pool of one new image at most
    context.fewshot = FewShotSet(np.zeros((20, 1, 28, 28), np.uint8), np.zeros(20, np.int64))
    with pytest.raises(FsbbtError, match="raise active.pool_factor"):
        run_fsbbt_active(context, "lenet5-half")
    assert teacher.images_seen == 1  # only the few images, of which one is distinct


BATCH, FEW, BUDGET = 16, 50, 290


def _command(out: Path) -> list[str]:
    overrides = fast_run_overrides(
        linear_teacher_tree("slow_linear_teacher"),
        f"query_batch_size={BATCH}",
        f"n_fewshot={FEW}",
        f"active.budget={BUDGET}",
        "active.round_epochs=1",
        "methods=[fsbbt-active/lenet5-half]",
    )
    return [sys.executable, "-m", "fsbbt", "run", "digits", "--out", str(out), "-q",
            *[part for assignment in overrides for part in ("--set", assignment)]]  # fmt: skip


@pytest.mark.slow
def test_killed_in_a_round_it_resumes_and_spends_the_budget_exactly(tmp_path: Path) -> None:
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "FSBBT_TEST_TEACHER_SLEEP_S": "0.2"}
    victim = subprocess.Popen(_command(out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while ledger_rows(out) < FEW + BATCH:  # into the first round's purchases
        assert victim.poll() is None, victim.stderr.read() if victim.stderr else ""
        assert time.monotonic() < deadline, "the run never reached the first round"
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert FEW < ledger_rows(out) < BUDGET
    subprocess.run(_command(out), env=env, check=True, capture_output=True, timeout=300)
    results = json.loads((out / "results.json").read_text())
    assert results["methods"]["fsbbt-active/lenet5-half"]["teacher_queries"] == BUDGET
    assert ledger_rows(out) == results["queries"]["paid_in_all"] == BUDGET  # spent, never exceeded
