"""Which config changes send a finished stage back to training, and which keep it."""

from __future__ import annotations

from fsbbt.experiment import config as experiment_config
from fsbbt.experiment.config import load_config
from fsbbt.experiment.seed_run import plan_methods
from fsbbt.experiment.stages import config_fingerprint
from fsbbt.methods import METHODS


def _fingerprints(*overrides: str) -> dict[str, str]:
    config = load_config("digits", list(overrides))
    return {
        method: config_fingerprint(config, METHODS[method])
        for method in ("student-alone", "standard-kd", "fsbbt", "bbkd")
    }


def test_a_stage_depends_only_on_the_sections_its_method_reads() -> None:
    base = _fingerprints()
    cvae_changed = _fingerprints("cvae.epochs=7")
    assert cvae_changed["fsbbt"] != base["fsbbt"]
    assert {m: cvae_changed[m] for m in ("student-alone", "standard-kd", "bbkd")} == {
        m: base[m] for m in ("student-alone", "standard-kd", "bbkd")
    }

    bbkd_changed = _fingerprints("bbkd.per_round=500")
    assert bbkd_changed["bbkd"] != base["bbkd"] and bbkd_changed["fsbbt"] == base["fsbbt"]

    teacher_changed = _fingerprints("teacher.epochs=3")
    assert teacher_changed["student-alone"] == base["student-alone"]
    assert teacher_changed["standard-kd"] != base["standard-kd"]

    student_changed = _fingerprints("student.epochs=3")
    assert all(student_changed[m] != base[m] for m in base)


def test_keys_that_only_choose_stages_or_transport_keep_every_stage() -> None:
    base = _fingerprints()
    assert (
        _fingerprints("seeds=[1,2,3]", "curve_points=2", "query_batch_size=7", "methods=[fsbbt/lenet5]")
        == base
    )


def test_the_query_budget_counts_only_where_it_shrinks_the_synthetic_set() -> None:
    base = _fingerprints()
    budgeted = _fingerprints("query_budget=100000")
    assert budgeted["fsbbt"] != base["fsbbt"] and budgeted["bbkd"] != base["bbkd"]
    assert budgeted["student-alone"] == base["student-alone"]
    # the per-seed share depends on how many seeds split the budget
    assert _fingerprints("query_budget=100000", "seeds=[1,2]")["fsbbt"] != budgeted["fsbbt"]


def test_setting_a_key_to_its_default_keeps_the_stage() -> None:
    assert _fingerprints("synthesis.threshold=0.05") == _fingerprints()


def test_the_precision_counts_as_resolved() -> None:
    assert _fingerprints("precision=bf16") != _fingerprints("precision=fp32")


def test_each_distinct_synthetic_set_takes_a_part_of_the_budget() -> None:
    def parts(*methods: str) -> set[int]:
        quoted = ", ".join(f"'{method}'" for method in methods)
        config = load_config("digits", [f"methods=[{quoted}]", "query_budget=100000"])
        return {plan.budget_parts for plan in plan_methods(config)}

    # FS-BBT and FS-BBT* query one synthetic set; the baselines query none of their own
    assert parts("student-alone/lenet5-half", "fsbbt/lenet5-half", "fsbbt/lenet5") == {1}
    assert parts("fsbbt/lenet5-half", "bbkd/lenet5-half") == {2}
    # BBKD picks its images with the student, so each student architecture is a set
    assert parts("bbkd/lenet5-half", "bbkd/lenet5") == {2}
    assert parts("fsbbt/lenet5-half", "fsbbt[synthesis.budget=4800]/lenet5-half") == {2}
    config = load_config("digits", ["query_budget=100000"])
    assert config_fingerprint(config, METHODS["fsbbt"], budget_parts=2) != config_fingerprint(
        config, METHODS["fsbbt"], budget_parts=1
    )


def test_how_answers_travel_from_a_remote_teacher_keeps_every_stage() -> None:
    remote = "teacher={kind: http, url: 'http://127.0.0.1:9'}"
    assert _fingerprints(remote, "teacher.timeout_s=120", "teacher.concurrency=1") == _fingerprints(remote)
    assert _fingerprints("teacher={kind: http, url: 'http://elsewhere:9'}") != _fingerprints(remote)


def test_a_changed_default_retrains_the_stage(monkeypatch) -> None:
    """A release that changes what a key left unset means computes something else: its
    finished stages are not read back as if they had used the new default."""
    before = _fingerprints()
    synthesis_schema = type(load_config("digits", []).synthesis)
    field = synthesis_schema.model_fields["mixup"]  # a key the digits preset leaves unset
    try:
        monkeypatch.setattr(field, "default", not field.default)
        synthesis_schema.model_rebuild(force=True)
        monkeypatch.setattr(experiment_config, "ExperimentConfig", experiment_config._compose())
        assert load_config("digits", []).synthesis.mixup is not True  # the new default took
        after = _fingerprints()
        assert after["fsbbt"] != before["fsbbt"] and after["student-alone"] == before["student-alone"]
    finally:
        monkeypatch.undo()
        synthesis_schema.model_rebuild(force=True)
    assert _fingerprints() == before
