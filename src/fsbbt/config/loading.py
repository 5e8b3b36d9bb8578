"""Reading a config: a YAML file or a bundled preset, ``key=value`` overrides, validation
against a schema, and every mistake as one line naming the key and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from fsbbt.core.errors import FsbbtError

PRESET_DIR = Path(__file__).resolve().parent.parent / "configs"

Schema = TypeVar("Schema", bound=BaseModel)


def apply_override(tree: dict[str, Any], assignment: str) -> None:
    """Apply one ``a.b.c=value`` (value parsed as YAML) to a nested dict."""
    if "=" not in assignment:
        raise FsbbtError(f"--set {assignment!r} is not KEY=VALUE; write e.g. --set student.epochs=5")
    dotted, raw_value = assignment.split("=", 1)
    *parents, leaf = dotted.strip().split(".")
    node = tree
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise FsbbtError(f"--set {dotted}: {part!r} is not a section")
    node[leaf] = yaml.safe_load(raw_value)


def validation_message(error: ValidationError, source: str) -> str:
    """A pydantic error as one line: each bad key by its dotted name, then the fix."""
    problems = []
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"])
        if item["type"] == "extra_forbidden":
            problems.append(f"unknown config key '{key}'")
        elif item["type"] == "missing":
            problems.append(f"missing config key '{key}'")
        else:
            problems.append(f"'{key}': {item['msg']}")
    return f"{source}: {'; '.join(problems)}; fix the key (see the config reference in README.md)"


def validate_tree(
    schema: type[Schema], tree: dict[str, Any], overrides: list[str] | None, source: str
) -> Schema:
    """``tree`` with ``overrides`` applied, validated as ``schema`` (one-line error)."""
    for assignment in overrides or []:
        apply_override(tree, assignment)
    try:
        return schema.model_validate(tree)
    except ValidationError as exc:
        raise FsbbtError(validation_message(exc, source)) from None


def resolve_config_path(name_or_path: str | Path) -> Path:
    """A config file path, or the name of a bundled preset (``digits``, ``fashion-mnist``...)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    preset = PRESET_DIR / f"{name_or_path}.yaml"
    if preset.is_file():
        return preset
    presets = ", ".join(sorted(p.stem for p in PRESET_DIR.glob("*.yaml")))
    raise FsbbtError(f"config {name_or_path} not found; give a YAML path or a preset ({presets})")


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """The mapping a YAML file holds, or a one-line error."""
    try:
        tree = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise FsbbtError(f"{path} is not valid YAML ({exc}); fix the file") from exc
    if not isinstance(tree, dict):
        raise FsbbtError(f"{path} must hold a mapping of config keys")
    return tree
