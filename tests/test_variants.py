"""Method variants (``METHOD[key=value]/ARCH``) and the ablation switches they carry."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from teacher_helpers import FixedTeacher, fast_run_overrides, linear_teacher_tree

from fsbbt.config.method_entry import parse_method_entry
from fsbbt.core.errors import FsbbtError
from fsbbt.experiment.config import config_with_overrides, load_config
from fsbbt.experiment.runner import run_experiment
from fsbbt.experiment.stages import STAGES_DIR
from fsbbt.methods import FewShotSet, MethodContext
from fsbbt.methods.fsbbt import synthesis_sources
from fsbbt.synth.synthetic_set import build_synthetic_set
from fsbbt.teacher import QueryOracle
from fsbbt.teacher.blackbox import image_keys

FEW = 30
BUDGET = 300


def test_entries_parse_with_nested_values_and_safe_distinct_file_names() -> None:
    spec = parse_method_entry("fsbbt[synthesis.budget=4800,bbkd.weights=[0.3,0.5]]/lenet5")
    assert (spec.method, spec.arch) == ("fsbbt", "lenet5")
    assert spec.overrides == ("synthesis.budget=4800", "bbkd.weights=[0.3,0.5]")
    assert spec.key == "fsbbt[synthesis.budget=4800,bbkd.weights=[0.3,0.5]]/lenet5"
    other = parse_method_entry("fsbbt[synthesis.budget=480]/lenet5")
    assert spec.file_stem != other.file_stem and "/" not in spec.file_stem + other.file_stem
    assert parse_method_entry("fsbbt/lenet5").file_stem == "fsbbt"


@pytest.mark.parametrize(
    "entry, needle",
    [
        ("fsbbt[teacher.epochs=3]/lenet5", "must be KEY=VALUE with KEY in one of"),
        ("fsbbt[budget]/lenet5", "must be KEY=VALUE"),
        ("fsbbt", "must be written METHOD/STUDENT_ARCH"),
    ],
)
def test_bad_entries_are_one_line_errors(entry: str, needle: str) -> None:
    with pytest.raises(FsbbtError, match=needle):
        load_config("digits", [f'methods=["{entry}"]'])


def test_the_same_entry_twice_is_refused() -> None:
    with pytest.raises(FsbbtError, match="lists an entry twice"):
        load_config("digits", ["methods=[fsbbt/lenet5, fsbbt/lenet5]"])


def _synthetic_kinds(*overrides: str) -> tuple[dict[str, int], np.ndarray]:
    """Build FS-BBT's synthetic set under a variant; (images per kind, the CVAE images)."""
    base = load_config("digits", ["cvae.epochs=2", f"synthesis.budget={BUDGET}"])
    config = config_with_overrides(base, overrides, "test")
    images = np.random.default_rng(0).integers(0, 256, (FEW, 1, 28, 28), dtype=np.uint8)
    oracle = QueryOracle(FixedTeacher())
    context = MethodContext(
        config, 1, FewShotSet(images, np.zeros(FEW, np.int64)), oracle, test_accuracy=lambda model: 0.0
    )
    synthetic = build_synthetic_set(images, oracle, synthesis_sources(context), config.synthesis.budget, 1)
    kinds, counts = np.unique(synthetic.kind_of_image, return_counts=True)
    counted = dict(zip(kinds.tolist(), counts.tolist(), strict=True))
    # every distinct image was labelled (an undertrained CVAE decodes some twice)
    assert oracle.queries_sent == len(set(image_keys(synthetic.images_uint8)))
    return counted, synthetic.images_uint8[synthetic.kind_of_image == "cvae"]


def test_ablation_switches_change_what_they_should() -> None:
    both, hybrid_cvae = _synthetic_kinds()
    assert both["real"] == FEW and both["mixup"] + both["cvae"] == BUDGET and both["cvae"] > 0

    mixup_only, _ = _synthetic_kinds("synthesis.cvae=false")
    assert "cvae" not in mixup_only and mixup_only["mixup"] == both["mixup"]

    cvae_only, _ = _synthetic_kinds("synthesis.mixup=false")
    assert "mixup" not in cvae_only and cvae_only["cvae"] == BUDGET

    _, gaussian = _synthetic_kinds("cvae.sampling=gaussian")
    _, uniform = _synthetic_kinds("cvae.sampling=uniform")
    assert len(gaussian) == len(uniform) == len(hybrid_cvae)
    assert not np.array_equal(gaussian, uniform)
    assert not np.array_equal(gaussian, hybrid_cvae) and not np.array_equal(uniform, hybrid_cvae)

    quarter, _ = _synthetic_kinds(f"synthesis.budget={BUDGET // 4}")
    assert quarter["mixup"] + quarter["cvae"] == BUDGET // 4

    strict, _ = _synthetic_kinds("synthesis.threshold=0.2")
    loose, _ = _synthetic_kinds("synthesis.threshold=0.0")
    # a wider τ drops more near-copies, and each dropped pair becomes a CVAE image
    assert strict["cvae"] > both["cvae"] > loose["cvae"]


def test_variants_get_their_own_results_stages_and_synthetic_sets(tmp_path: Path) -> None:
    methods = '["fsbbt/lenet5-half", "fsbbt[synthesis.budget=50]/lenet5-half"]'
    config = load_config("digits", fast_run_overrides(linear_teacher_tree(), f"methods={methods}"))
    results = run_experiment(config, tmp_path)
    assert results["methods"]["fsbbt/lenet5-half"]["teacher_queries"] == 100 + 200
    assert results["methods"]["fsbbt[synthesis.budget=50]/lenet5-half"]["teacher_queries"] == 150
    assert len(list((tmp_path / STAGES_DIR).glob("*.json"))) == 2
    assert (tmp_path / "query_efficiency.png").stat().st_size > 5000
    saved = json.loads((tmp_path / "results.json").read_text())
    assert set(saved["methods"]) == {"fsbbt/lenet5-half", "fsbbt[synthesis.budget=50]/lenet5-half"}

    # a re-run with one variant changed redoes that variant only
    changed = '["fsbbt/lenet5-half", "fsbbt[synthesis.budget=60]/lenet5-half"]'
    rerun = run_experiment(
        load_config("digits", fast_run_overrides(linear_teacher_tree(), f"methods={changed}")), tmp_path
    )
    assert (
        rerun["methods"]["fsbbt/lenet5-half"]["accuracy"]
        == results["methods"]["fsbbt/lenet5-half"]["accuracy"]
    )
    assert rerun["methods"]["fsbbt[synthesis.budget=60]/lenet5-half"]["teacher_queries"] == 160
    assert rerun["queries"]["sent"] > 0  # the new variant's images


@pytest.mark.parametrize("preset", ["fashion-mnist-ablations", "digits-ablations"])
def test_ablation_presets_plan_every_variant(preset: str) -> None:
    from fsbbt.experiment.seed_run import plan_methods

    plans = plan_methods(load_config(preset))
    assert len(plans) == 11 and len({plan.fingerprint for plan in plans}) == 11
    switched = {plan.spec.key: plan.config for plan in plans}
    assert switched["fsbbt[synthesis.cvae=false]/lenet5-half"].synthesis.cvae is False
    assert switched["fsbbt[cvae.sampling=uniform]/lenet5-half"].cvae.sampling == "uniform"
