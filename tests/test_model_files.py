"""Every model file fsbbt reads goes through one loader: a hostile or broken file (a pickle
that would run code, a truncated or empty file, another format, other contents, another
network's tensors) never runs code and ends with one line that names the file, on the
command line with exit code 2 and no traceback."""

from __future__ import annotations

import builtins
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from student_helpers import save_digits_student
from teacher_helpers import DIGITS_CLASSES, DIGITS_SHAPE, export_onnx, export_torchscript, save_digits_teacher

from fsbbt.core.errors import FsbbtError
from fsbbt.models import build_classifier, build_cvae
from fsbbt.ship import export_student, load_shipped_model, resolve_student
from fsbbt.synth import CvaeConfig, SeedImages
from fsbbt.synth.cvae_store import cvae_file, stored_or_trained_cvae
from fsbbt.teacher.factory import build_teacher, spec_to_tree, teacher_config_from_spec
from fsbbt.teacher.local import WEIGHTS_FILE
from fsbbt.train.checkpoint import load_checkpoint, save_checkpoint

STUDENT = "fsbbt__lenet5-half__seed1.pt"


class CreatesFile:
    """Unpickled, it opens (creates) ``path``: the stand-in for code a file would run."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return builtins.open, (self.path, "w")


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    """The file a crafted pickle creates if anything unpickles it; no test may see it."""
    return tmp_path / "the-pickle-ran"


def _write_crafted(path: Path, marker: Path, *, legacy: bool = False) -> Path:
    """A torch.save file whose unpickling runs code (zip format, or the legacy one)."""
    torch.save({"features.0.weight": CreatesFile(marker)}, path, _use_new_zipfile_serialization=not legacy)
    return path


def test_the_crafted_pickle_runs_code_when_loaded_unsafely(tmp_path: Path) -> None:
    """The tests' hostile file is live: torch.load without weights_only runs it."""
    ran = tmp_path / "ran"
    torch.load(_write_crafted(tmp_path / "crafted.pt", ran), weights_only=False)
    assert ran.exists()


def _assert_one_line(message: str, path: Path) -> None:
    assert "\n" not in message.strip() and str(path) in message, message
    assert "weights_only" not in message and "Traceback" not in message, message


def _fails(call, path: Path, *needles: str) -> str:
    """The one-line FsbbtError of ``call()``, which names ``path`` and holds ``needles``."""
    with pytest.raises(FsbbtError) as raised:
        call()
    message = str(raised.value)
    _assert_one_line(message, path)
    for needle in needles:
        assert needle in message, message
    return message


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A run directory with one untrained student, for the test to spoil."""
    directory = tmp_path / "run"
    save_digits_student(directory, "fsbbt", "lenet5-half", train=False)
    return directory


@pytest.fixture
def teacher_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "teacher"
    save_digits_teacher(directory)
    return directory


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "digit.png"
    Image.fromarray(np.zeros(DIGITS_SHAPE[1:], np.uint8)).save(path)
    return path


@pytest.mark.parametrize("command", ["predict", "export", "distill"])
def test_crafted_pickle_on_the_command_line_is_one_line_and_exit_2(
    run_cli, run_dir: Path, teacher_dir: Path, image: Path, marker: Path, tmp_path: Path, command: str
) -> None:
    student = _write_crafted(run_dir / "students" / STUDENT, marker)
    teacher = _write_crafted(teacher_dir / WEIGHTS_FILE, marker)
    argv, named = {
        "predict": (["predict", student, image], student),
        "export": (["export", run_dir, "--format", "onnx", "--out", tmp_path / "s.onnx"], student),
        "distill": (
            [
                "distill",
                "--teacher",
                f"local:{teacher_dir}",
                "--images",
                image.parent,
                "--out",
                tmp_path / "o",
            ],
            teacher,
        ),
    }[command]
    done = run_cli(*argv, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stdout + done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("fsbbt: error: cannot load "), done.stderr
    _assert_one_line(lines[0], named)
    assert "refuses to load" in lines[0]
    assert not marker.exists() and not (tmp_path / "s.onnx").exists()


def test_legacy_pickle_given_to_predict_on_the_command_line(run_cli, tmp_path: Path, image: Path) -> None:
    legacy = tmp_path / "weights.pt"
    model = build_classifier("lenet5-half", DIGITS_SHAPE, 10)
    torch.save(model.state_dict(), legacy, _use_new_zipfile_serialization=False)
    done = run_cli("predict", legacy, image, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        f"fsbbt: error: {legacy} is a PyTorch weights file without its .json description (written by "
        "`fsbbt run`); give the .pt file that has its .json beside it, or export with `fsbbt export`"
    )


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_crafted_pickle_never_runs_wherever_it_is_given(
    run_dir: Path, teacher_dir: Path, marker: Path, legacy: bool
) -> None:
    student = _write_crafted(run_dir / "students" / STUDENT, marker, legacy=legacy)
    teacher = _write_crafted(teacher_dir / WEIGHTS_FILE, marker, legacy=legacy)
    refused = "it holds pickled Python objects besides tensors, which fsbbt refuses to load"
    for call in (
        lambda: load_shipped_model(student),
        lambda: load_shipped_model(run_dir),
        lambda: resolve_student(run_dir),  # counts parameters to choose the smallest student
        lambda: export_student(student, "torchscript", run_dir / "s.ts"),
    ):
        _fails(call, student, refused, "; the file is damaged or not an fsbbt student")
    for spec in (str(teacher_dir), f"local:{teacher_dir}", str(teacher)):
        _fails(lambda s=spec: build_teacher(teacher_config_from_spec(s)), teacher, refused)
    checkpoint = _write_crafted(run_dir / "stage.ckpt", marker, legacy=legacy)
    _fails(lambda: load_checkpoint(checkpoint), checkpoint, refused, "delete it to train this stage")
    assert not marker.exists()


def _with_sidecar(run_dir: Path, contents: bytes) -> Path:
    """The student file of ``run_dir`` (its sidecar kept) with ``contents`` instead."""
    student = run_dir / "students" / STUDENT
    student.write_bytes(contents)
    return student


def _zip_of(path: Path) -> bytes:
    archive = shutil.make_archive(str(path), "zip", root_dir=path.parent, base_dir=path.name)
    return Path(archive).read_bytes()


def test_broken_student_files_are_named_for_what_they_are(run_dir: Path, tmp_path: Path) -> None:
    good = (run_dir / "students" / STUDENT).read_bytes()
    torch.save([1, 2, 3], tmp_path / "list.pt")
    torch.save({"conv1.weight": 1.0}, tmp_path / "numbers.pt")
    (tmp_path / "readme.txt").write_text("hello")
    cases = {
        good[: len(good) // 2]: "it is a truncated or damaged zip archive",
        b"": "it is empty",
        b"\x89PNG\r\n\x1a\n" + bytes(64): "it is not a PyTorch file",
        b"plain text\n": "it is not a PyTorch file",
        pickle.dumps({"conv1.weight": 1.0}): "it is not a PyTorch file",  # pickle.dump, not torch.save
        (tmp_path / "list.pt").read_bytes(): "it is not a PyTorch state dict",
        (tmp_path / "numbers.pt").read_bytes(): "it is not a PyTorch state dict",
        _zip_of(tmp_path / "readme.txt"): "it is a zip archive PyTorch did not write",
    }
    for contents, problem in cases.items():
        student = _with_sidecar(run_dir, contents)
        message = _fails(lambda s=student: load_shipped_model(s), student)
        assert message == (
            f"cannot load student weights from {student} ({problem}); "
            "the file is damaged or not an fsbbt student"
        )


def test_wrong_architecture_names_the_first_misfit(run_dir: Path) -> None:
    sidecar = run_dir / "students" / STUDENT.replace(".pt", ".json")
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "arch": "lenet5"}))
    student = run_dir / "students" / STUDENT
    message = _fails(lambda: load_shipped_model(student), student)
    assert message == (
        f"cannot load student weights from {student} (it does not fit a lenet5 network: "
        "features.0.weight is [3, 1, 5, 5], the network's is [6, 1, 5, 5]); "
        "the file is damaged or not an fsbbt student"
    )


def test_predict_tells_formats_apart_by_content(tmp_path: Path) -> None:
    model = build_classifier("lenet5-half", DIGITS_SHAPE, 10)
    without_sidecar = [tmp_path / "zip.pt", tmp_path / "legacy.pt"]
    torch.save(model.state_dict(), without_sidecar[0])
    torch.save(model.state_dict(), without_sidecar[1], _use_new_zipfile_serialization=False)
    for path in without_sidecar:
        _fails(lambda p=path: load_shipped_model(p), path, "is a PyTorch weights file without its .json")
    plain = tmp_path / "plain.pt"
    plain.write_bytes(pickle.dumps(model.state_dict()))
    image = tmp_path / "image.pt"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    for path in (plain, image):
        message = _fails(lambda p=path: load_shipped_model(p), path)
        assert message == (
            f"{path} is not a model fsbbt can read (expected a student .pt with its .json, "
            "an .onnx or a TorchScript file)"
        )
    onnx_named_pt, script_named_bin = tmp_path / "model.pt", tmp_path / "model.bin"
    export_onnx(model, DIGITS_SHAPE, onnx_named_pt)
    export_torchscript(model, DIGITS_SHAPE, script_named_bin)
    # read as what they are, whatever their names: neither was written by `fsbbt export`
    _fails(lambda: load_shipped_model(onnx_named_pt), onnx_named_pt, "was not exported by fsbbt")
    _fails(lambda: load_shipped_model(script_named_bin), script_named_bin, "no valid fsbbt description")


def test_teacher_files_of_another_kind(teacher_dir: Path, tmp_path: Path) -> None:
    """A saved teacher's teacher.pt stands for its directory; other .pt files are read as
    what their bytes say they are."""
    weights = teacher_dir / WEIGHTS_FILE
    assert spec_to_tree(str(weights)) == {"kind": "local", "path": str(teacher_dir)}
    bare = tmp_path / "bare.pt"
    shutil.copy(weights, bare)
    _fails(lambda: spec_to_tree(str(bare)), bare, "PyTorch weights without the teacher.json")
    script = tmp_path / "script.pt"
    export_torchscript(build_classifier("lenet5", DIGITS_SHAPE, 10), DIGITS_SHAPE, script)
    assert spec_to_tree(str(script)) == {"kind": "torchscript", "path": str(script)}
    shape = ["input_shape=[1, 28, 28]", f"class_names={list(DIGITS_CLASSES)}"]
    message = _fails(lambda: build_teacher(teacher_config_from_spec(f"torchscript:{bare}", shape)), bare)
    assert message == (
        f"cannot load TorchScript teacher from {bare} (it is a torch.save file, not a TorchScript "
        "program); give a file saved with torch.jit.save"
    )
    _fails(lambda: build_teacher(teacher_config_from_spec(f"local:{bare}")), bare, "teacher.json missing")


def test_teacher_weights_of_another_network(teacher_dir: Path) -> None:
    save_digits_teacher(teacher_dir, "lenet5-half")
    description = teacher_dir / "teacher.json"
    description.write_text(description.read_text().replace('"lenet5-half"', '"lenet5"'))
    weights = teacher_dir / WEIGHTS_FILE
    message = _fails(lambda: build_teacher(teacher_config_from_spec(str(teacher_dir))), weights)
    assert message == (
        f"cannot load teacher weights from {weights} (it does not fit a lenet5 network: "
        "features.0.weight is [3, 1, 5, 5], the network's is [6, 1, 5, 5]); re-train the teacher"
    )


def test_checkpoint_that_is_not_one(tmp_path: Path) -> None:
    checkpoint = tmp_path / "stage.ckpt"
    save_checkpoint(checkpoint, {"weights": torch.zeros(2)})
    message = _fails(lambda: load_checkpoint(checkpoint), checkpoint)
    assert message == (
        f"cannot load training checkpoint from {checkpoint} (it is not an fsbbt training checkpoint); "
        "delete it to train this stage from the start"
    )


CVAE = CvaeConfig(kind="mlp", epochs=1, batch_size=32)


def _stored_cvae(store: Path) -> Path:
    """Where the CVAE of a tiny few-shot set is stored; the call reads it."""
    return cvae_file(store, CVAE, 1, "key")


def _read_cvae(store: Path):
    few = SeedImages(np.zeros((8, *DIGITS_SHAPE), np.uint8), np.arange(8) % 10, 10, 1)
    return stored_or_trained_cvae(few, CVAE, "key", store)


def test_stored_cvae_that_is_garbage_or_of_another_recipe(tmp_path: Path, marker: Path) -> None:
    stored = _stored_cvae(tmp_path)
    fix = "; delete it and the CVAE is trained again"
    stored.write_bytes(b"\x00garbage")
    _fails(lambda: _read_cvae(tmp_path), stored, "(it is not a PyTorch file)", fix)
    _write_crafted(stored, marker)
    _fails(lambda: _read_cvae(tmp_path), stored, "refuses to load", fix)
    save_checkpoint(stored, build_cvae("mlp", DIGITS_SHAPE, 10, CVAE.latent_dim + 1).state_dict())
    _fails(lambda: _read_cvae(tmp_path), stored, "(it does not fit this CVAE recipe: ", fix)
    assert not marker.exists()
