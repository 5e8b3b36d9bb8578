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


def _dotted_key(assignment: str) -> str:
    return assignment.split("=", 1)[0].strip()


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
    try:
        node[leaf] = yaml.safe_load(raw_value)
    except yaml.YAMLError as exc:
        raise FsbbtError(f"--set {assignment}: the value is not valid YAML ({_yaml_problem(exc)})") from None


def validation_message(error: ValidationError, source: str, overrides: list[str] | None = None) -> str:
    """A pydantic error as one line: each bad key by its dotted name, blamed on the
    ``--set`` that wrote it or else on ``source``, then the fix."""
    from_source, from_overrides = [], []
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"])
        if item["type"] == "extra_forbidden":
            problem = f"unknown config key '{key}'"
        elif item["type"] == "missing":
            problem = f"missing config key '{key}'"
        else:
            problem = f"'{key}': {item['msg']}"
        setter = next(
            (a for a in overrides or [] if key == _dotted_key(a) or key.startswith(_dotted_key(a) + ".")),
            None,
        )
        if setter is None:
            from_source.append(problem)
        else:
            from_overrides.append(f"--set {setter}: {problem}")
    parts = [f"{source}: {'; '.join(from_source)}"] if from_source else []
    return f"{'; '.join(parts + from_overrides)}; fix the key (see the config reference in README.md)"


def validate_tree(
    schema: type[Schema], tree: dict[str, Any], overrides: list[str] | None, source: str
) -> Schema:
    """``tree`` with ``overrides`` applied, validated as ``schema`` (one-line error)."""
    for assignment in overrides or []:
        apply_override(tree, assignment)
    try:
        return schema.model_validate(tree)
    except ValidationError as exc:
        raise FsbbtError(validation_message(exc, source, overrides)) from None


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


def _yaml_problem(error: yaml.YAMLError) -> str:
    """PyYAML's multi-line report as "what, at line L, column C" (1-based, as editors count)."""
    problem = getattr(error, "problem", None) or getattr(error, "context", None) or type(error).__name__
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return " ".join(f"{problem}{where}".split())


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """The mapping a YAML file holds, or a one-line error."""
    try:
        tree = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise FsbbtError(f"{path} is not valid YAML ({_yaml_problem(exc)}); fix the file") from None
    if not isinstance(tree, dict):
        raise FsbbtError(f"{path} must hold a mapping of config keys")
    return tree
