"""The full experiment config: the run-wide keys, teacher and student
(:mod:`fsbbt.config.schema`), plus every registered method's own section, read from its
declaration. A method added to the registry brings its section, its variant keys and its
defaults here without this file changing."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import create_model

from fsbbt.config.loading import PRESET_DIR, read_yaml_mapping, resolve_config_path, validate_tree
from fsbbt.config.schema import RunConfig, TeacherConfig
from fsbbt.methods.registry import owned_sections

__all__ = [
    "ExperimentConfig",
    "PRESET_DIR",
    "TeacherConfig",
    "config_from_tree",
    "config_with_overrides",
    "load_config",
    "user_set_tree",
]


def _compose() -> type[RunConfig]:
    sections = owned_sections()
    fields: dict[str, Any] = {name: (model, model()) for name, model in sections.items()}
    fields["variant_sections"] = (ClassVar[tuple[str, ...]], (*RunConfig.variant_sections, *sections))
    return create_model(
        "ExperimentConfig",
        __base__=RunConfig,
        __doc__="A whole experiment: run-wide keys and every section.",
        **fields,
    )


ExperimentConfig = _compose()


def config_from_tree(tree: dict[str, Any], overrides: list[str] | None, source: str) -> RunConfig:
    """Validate a config built in code (``fsbbt distill``) the same way as a file."""
    return validate_tree(ExperimentConfig, tree, overrides, source)


def load_config(name_or_path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """Read, override (``--set``) and validate a config; a wrong key is a one-line error."""
    path = resolve_config_path(name_or_path)
    return config_from_tree(read_yaml_mapping(path), overrides, str(path))


def user_set_tree(config: RunConfig) -> dict[str, Any]:
    """The keys the user set, as a tree to validate again (a variant, a worker process): a
    full dump would "set" every teacher key, which the teacher section refuses for kinds
    they do not apply to."""
    return config.model_dump(mode="json", exclude_unset=True)


def config_with_overrides(config: RunConfig, overrides: tuple[str, ...], source: str) -> RunConfig:
    """``config`` with ``key=value`` assignments applied (a method variant's config)."""
    if not overrides:
        return config
    return config_from_tree(user_set_tree(config), list(overrides), source)
