"""Teacher kinds from config and SPEC: local, torchscript, onnx, python; config key rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from teacher_helpers import DIGITS_CLASSES, DIGITS_SHAPE, export_onnx, export_torchscript, save_digits_teacher

from fsbbt.core.errors import FsbbtError
from fsbbt.experiment.config import load_config
from fsbbt.teacher.factory import build_teacher, spec_to_tree, teacher_config_from_spec
from fsbbt.teacher.local import LocalTeacher

IMAGES = np.random.default_rng(0).integers(0, 256, (20, *DIGITS_SHAPE), dtype=np.uint8)


@pytest.fixture(scope="module")
def saved_teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("teacher")
    model = save_digits_teacher(directory)
    export_torchscript(model, DIGITS_SHAPE, directory / "teacher.ts")
    export_onnx(model, DIGITS_SHAPE, directory / "teacher.onnx")
    return directory


def test_every_file_kind_answers_like_the_saved_teacher(saved_teacher: Path) -> None:
    expected = LocalTeacher(saved_teacher).predict_proba(IMAGES)
    specs = [str(saved_teacher), f"local:{saved_teacher}", str(saved_teacher / "teacher.onnx")]
    for spec in specs:
        teacher = build_teacher(
            teacher_config_from_spec(spec, ["output=logits"] if spec.endswith(".onnx") else [])
        )
        assert tuple(teacher.input_shape) == DIGITS_SHAPE and len(teacher.class_names) == 10
        assert np.allclose(teacher.predict_proba(IMAGES), expected, atol=1e-5), spec
    torchscript = teacher_config_from_spec(
        f"torchscript:{saved_teacher / 'teacher.ts'}",
        ["output=logits", "input_shape=[1, 28, 28]", f"class_names={list(DIGITS_CLASSES)}"],
    )
    assert np.allclose(build_teacher(torchscript).predict_proba(IMAGES), expected, atol=1e-5)


def test_label_and_topk_teachers_from_python_functions(tmp_path: Path) -> None:
    module = tmp_path / "answers.py"
    module.write_text(
        "import numpy as np\n"
        "def label(x):\n    return np.arange(len(x)) % 10\n"
        "def top2(x):\n"
        "    n = len(x)\n"
        "    return np.tile([[3, 7]], (n, 1)), np.tile([[0.7, 0.2]], (n, 1))\n"
    )
    shape = ["input_shape=[1, 28, 28]", f"class_names={list(DIGITS_CLASSES)}"]
    label = build_teacher(teacher_config_from_spec(f"python:{module}:label", ["output=label", *shape]))
    assert np.array_equal(label.predict_proba(IMAGES[:3]).argmax(1), [0, 1, 2])
    top2 = build_teacher(teacher_config_from_spec(f"python:{module}:top2", ["output=topk", *shape]))
    row = top2.predict_proba(IMAGES[:1])[0]
    assert np.isclose(row[3], 0.7) and np.isclose(row[7], 0.2) and np.isclose(row[0], 0.1 / 8)
    with pytest.raises(FsbbtError, match="set teacher.input_shape"):
        build_teacher(teacher_config_from_spec(f"python:{module}:label"))
    with pytest.raises(FsbbtError, match="has no function"):
        build_teacher(teacher_config_from_spec(f"python:{module}:missing", shape))


def test_spec_forms_and_config_key_rules(saved_teacher: Path) -> None:
    assert spec_to_tree("http://127.0.0.1:9/") == {"kind": "http", "url": "http://127.0.0.1:9/"}
    assert spec_to_tree("python:pkg.mod:fn") == {"kind": "python", "function": "pkg.mod:fn"}
    yaml_spec = saved_teacher / "teacher.yaml"
    yaml_spec.write_text(f"teacher:\n  kind: onnx\n  path: {saved_teacher / 'teacher.onnx'}\n")
    assert spec_to_tree(str(yaml_spec))["kind"] == "onnx"
    with pytest.raises(FsbbtError, match="neither a URL"):
        spec_to_tree("nowhere/at/all")

    # the preset's training keys stay valid when the kind changes; other kinds' keys do not
    config = load_config("digits", ["teacher.kind=http", "teacher.url=http://x"])
    assert config.teacher.resolved_kind == "http"
    assert load_config("digits", [f"teacher.path={saved_teacher}"]).teacher.resolved_kind == "local"
    with pytest.raises(FsbbtError, match="url do not apply to teacher kind 'onnx'"):
        load_config("digits", ["teacher.kind=onnx", "teacher.path=m.onnx", "teacher.url=u"])
    with pytest.raises(FsbbtError, match="needs teacher.url"):
        load_config("digits", ["teacher.kind=http"])
    with pytest.raises(FsbbtError, match="unknown config key 'teacher.colour'"):
        load_config("digits", ["teacher.colour=red"])
