"""One way to get a teacher: from a config section, or from a command-line SPEC.

A SPEC is what ``--teacher`` and ``fsbbt teacher serve`` take:

* ``http://host:port`` or ``https://...``      → kind http
* ``KIND:VALUE`` with KIND one of local, torchscript, onnx, python, http
  (``python:pkg.module:function``, ``onnx:model.onnx``, ...)
* a ``.yaml`` file                              → a full ``teacher:`` section
* a ``.onnx`` file                              → kind onnx
* a directory holding teacher.json              → kind local (a saved fsbbt teacher)
* its ``teacher.pt``                            → kind local (the directory)
* a TorchScript file (told by its bytes)        → kind torchscript

A local teacher's weights are read by :class:`~fsbbt.core.model_file.ModelFile`: a file
that is not a state dict of the teacher's network, or that holds anything but tensors, is
a one-line error, never code run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from fsbbt.config.loading import validate_tree
from fsbbt.config.schema import TEACHER_TRANSPORT_KEYS, TeacherConfig
from fsbbt.core.errors import FsbbtError
from fsbbt.core.model_file import torch_format
from fsbbt.data import ImageDataset
from fsbbt.teacher.blackbox import BlackBoxTeacher
from fsbbt.teacher.local import METADATA_FILE, WEIGHTS_FILE, LocalTeacher
from fsbbt.teacher.outputs import with_output

SPEC_KINDS = ("local", "torchscript", "onnx", "python", "http")


def spec_to_tree(spec: str) -> dict[str, Any]:
    """The ``teacher:`` config mapping a SPEC stands for (see the module docstring)."""
    if spec.startswith(("http://", "https://")):
        return {"kind": "http", "url": spec}
    kind, separator, value = spec.partition(":")
    if separator and kind in SPEC_KINDS:
        if kind == "local":
            return {"kind": kind, "path": str(_saved_teacher(Path(value)) or value)}
        key = {"python": "function", "http": "url"}.get(kind, "path")
        return {"kind": kind, key: value}
    path = Path(spec)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        try:
            tree = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise FsbbtError(f"{path} is not valid YAML ({exc}); fix the file") from exc
        if isinstance(tree, dict) and isinstance(tree.get("teacher"), dict):
            tree = tree["teacher"]
        if not isinstance(tree, dict):
            raise FsbbtError(f"{path} must hold a teacher: mapping")
        return tree
    if path.suffix == ".onnx":
        return {"kind": "onnx", "path": spec}
    saved = _saved_teacher(path)
    if saved is not None:
        return {"kind": "local", "path": str(saved)}
    if path.is_file():
        found = torch_format(path)
        if found == "torchscript":
            return {"kind": "torchscript", "path": spec}
        if found == "torch.save":
            raise FsbbtError(
                f"teacher {spec!r} is PyTorch weights without the {METADATA_FILE} of a saved "
                f"teacher; give the directory holding {WEIGHTS_FILE} and {METADATA_FILE} "
                "(written by `fsbbt teacher train`)"
            )
    raise FsbbtError(
        f"teacher {spec!r} is neither a URL, KIND:VALUE ({', '.join(SPEC_KINDS)}), "
        "a teacher YAML, an .onnx file nor a saved teacher directory"
    )


def _saved_teacher(path: Path) -> Path | None:
    """The saved teacher's directory ``path`` names (itself or its weights file), if any."""
    if path.name == WEIGHTS_FILE:
        path = path.parent
    return path if (path / METADATA_FILE).is_file() else None


def teacher_config_from_spec(spec: str, overrides: list[str] | None = None) -> TeacherConfig:
    """Validate a SPEC (plus ``key=value`` overrides) as a teacher config section."""
    return validate_tree(TeacherConfig, spec_to_tree(spec), overrides, f"teacher {spec}")


def build_teacher(
    settings: TeacherConfig, dataset: ImageDataset | None = None, run_dir: Path | None = None
) -> BlackBoxTeacher:
    """The teacher ``settings`` describe, answering probabilities.

    With a dataset (``fsbbt run``) the input shape and class names default to the
    dataset's and the teacher must agree with them; kind ``train`` trains (or reuses)
    a teacher in ``run_dir``.
    """
    kind = settings.resolved_kind
    input_shape = settings.input_shape or (dataset.input_shape if dataset else None)
    class_names = settings.class_names or (dataset.class_names if dataset else None)
    if kind in ("train", "local"):
        teacher: BlackBoxTeacher = LocalTeacher(_trained_or_saved(settings, dataset, run_dir))
    elif kind == "onnx":
        from fsbbt.teacher.onnx_model import OnnxTeacher

        teacher = OnnxTeacher(_existing(settings.path), input_shape, class_names)
    elif kind == "http":
        from fsbbt.teacher.http_client import HttpSettings, HttpTeacher

        teacher = HttpTeacher(
            HttpSettings(**settings.model_dump(include={"url", *TEACHER_TRANSPORT_KEYS})),
            settings.input_shape,
            settings.class_names,
        )
    else:
        if input_shape is None or class_names is None:
            raise FsbbtError(
                f"a {kind} teacher cannot tell its input shape and classes; set "
                "teacher.input_shape (e.g. [1, 28, 28]) and teacher.class_names"
            )
        if kind == "torchscript":
            from fsbbt.teacher.torchscript_model import TorchScriptTeacher

            teacher = TorchScriptTeacher(_existing(settings.path), input_shape, class_names)
        else:
            from fsbbt.teacher.python_function import PythonFunctionTeacher

            teacher = PythonFunctionTeacher(str(settings.function), input_shape, class_names)
    teacher = with_output(teacher, settings.output)
    if dataset is not None:
        _check_matches(teacher, dataset, kind)
    return teacher


def _trained_or_saved(settings: TeacherConfig, dataset: ImageDataset | None, run_dir: Path | None) -> Path:
    if settings.resolved_kind == "local" and dataset is None:
        return _existing(settings.path)
    if dataset is None or run_dir is None:
        raise FsbbtError(
            "fsbbt can only train a teacher for a dataset run; give a teacher "
            "(a saved teacher directory, .onnx file, URL, ...)"
        )
    from fsbbt.teacher.train_local import ensure_teacher

    return ensure_teacher(settings, dataset, run_dir)


def _existing(path: Path | None) -> Path:
    if path is None or not path.exists():
        raise FsbbtError(f"teacher file {path} does not exist; check teacher.path")
    return path


def _check_matches(teacher: BlackBoxTeacher, dataset: ImageDataset, kind: str) -> None:
    if tuple(teacher.input_shape) != dataset.input_shape or len(teacher.class_names) != dataset.num_classes:
        raise FsbbtError(
            f"the {kind} teacher takes {tuple(teacher.input_shape)} with "
            f"{len(teacher.class_names)} classes, but {dataset.name} has "
            f"{dataset.input_shape} and {dataset.num_classes}; use a matching "
            "teacher"
        )
