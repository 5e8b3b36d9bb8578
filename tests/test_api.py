"""The Python API: ``import fsbbt`` is light, exposes the pipeline, and the example runs."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

import fsbbt

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "distill_digits.py"


def test_import_is_lazy() -> None:
    code = "import sys, fsbbt; print('torch' in sys.modules, 'fsbbt.train' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.split() == ["False", "False"]


def test_every_public_name_resolves_and_is_documented() -> None:
    for name in fsbbt.__all__:
        value = getattr(fsbbt, name)
        assert value.__doc__, f"fsbbt.{name} has no docstring"
    assert "predict" in dir(fsbbt)
    with pytest.raises(AttributeError):
        fsbbt.no_such_thing  # noqa: B018


@pytest.mark.slow
def test_example_distils_and_ships(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("distill_digits", EXAMPLE)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    scores = example.distill(
        tmp_path, teacher_epochs=3, student_epochs=3, cvae_epochs=5, budget=600, n_fewshot=200
    )
    assert scores["teacher_queries"] > 200  # the few images and the synthetic ones
    assert scores["onnx_accuracy"] == pytest.approx(scores["student_accuracy"], abs=0.01)
    assert (tmp_path / "student.onnx").is_file()
    assert (tmp_path / "students" / "fsbbt__lenet5-half__seed1.json").is_file()
