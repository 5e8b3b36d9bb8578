"""Every registered method declares itself completely, and everything that lists methods
(the config schema, variants, fingerprints, the budget split, figures) follows from it."""

from __future__ import annotations

import dataclasses

import pytest

from fsbbt.experiment.config import ExperimentConfig, load_config
from fsbbt.experiment.stages import config_fingerprint
from fsbbt.methods import METHODS
from fsbbt.methods.declaration import budget_share_key, declaration_problems
from fsbbt.methods.registry import check_declarations, owned_sections


@pytest.mark.parametrize("name", sorted(METHODS))
def test_each_registered_declaration_is_complete(name: str) -> None:
    method = METHODS[name]
    assert declaration_problems(method, owned_sections()) == []
    for section, model in method.sections.items():
        assert ExperimentConfig.model_fields[section].annotation is model
        assert section in ExperimentConfig.variant_sections


def test_an_incomplete_declaration_is_refused_when_the_registry_loads() -> None:
    fsbbt = METHODS["fsbbt"]
    broken = {
        "reads an unknown section": dataclasses.replace(fsbbt, reads=(*fsbbt.reads, "magic")),
        "owns an unread section": dataclasses.replace(fsbbt, reads=("student",)),
        "no summary": dataclasses.replace(fsbbt, summary=""),
        "replaces an unread key": dataclasses.replace(fsbbt, replaces=("student.augmentatio",)),
        "replaces a key of an unread section": dataclasses.replace(fsbbt, replaces=("bbkd.per_round",)),
        "bad size key": dataclasses.replace(
            fsbbt, budget=dataclasses.replace(fsbbt.budget, size_key="synthesis.budgett")
        ),
    }
    for method in broken.values():
        with pytest.raises(TypeError, match="method 'fsbbt'"):
            check_declarations({**METHODS, "fsbbt": method})
    with pytest.raises(TypeError, match="registered as"):
        check_declarations({**{k: m for k, m in METHODS.items() if k != "fsbbt"}, "other": fsbbt})
    with pytest.raises(TypeError, match="declared twice"):
        owned_sections({**METHODS, "fsbbt2": dataclasses.replace(fsbbt, name="fsbbt2")})


def test_a_stage_fingerprint_follows_only_the_sections_its_method_reads() -> None:
    base = load_config("digits")
    bbkd_changed = load_config("digits", ["bbkd.per_round=500"])
    cvae_changed = load_config("digits", ["cvae.epochs=3"])
    fsbbt, bbkd = METHODS["fsbbt"], METHODS["bbkd"]
    assert config_fingerprint(base, fsbbt) == config_fingerprint(bbkd_changed, fsbbt)
    assert config_fingerprint(base, fsbbt) != config_fingerprint(cvae_changed, fsbbt)
    assert config_fingerprint(base, bbkd) != config_fingerprint(bbkd_changed, bbkd)
    assert config_fingerprint(base, bbkd) == config_fingerprint(cvae_changed, bbkd)


def test_keys_a_method_replaces_by_its_own_do_not_count_in_its_fingerprint() -> None:
    """fsbbt-active trains with active.augmentation and active.average_epochs: changing the
    student section's pair must not retrain its stages, yet must retrain FS-BBT's."""
    base = load_config("digits")
    replaced = load_config("digits", ["student.average_epochs=3", "student.augmentation=standard"])
    own_changed = load_config("digits", ["active.average_epochs=3"])
    active, fsbbt = METHODS["fsbbt-active"], METHODS["fsbbt"]
    assert config_fingerprint(base, active) == config_fingerprint(replaced, active)
    assert budget_share_key(active, base, "lenet5-half") == budget_share_key(active, replaced, "lenet5-half")
    assert config_fingerprint(base, active) != config_fingerprint(own_changed, active)
    assert config_fingerprint(base, fsbbt) != config_fingerprint(replaced, fsbbt)
