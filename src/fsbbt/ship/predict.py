"""Classify image files with a shipped student: ``.pt`` (+ sidecar), ONNX or TorchScript.

All three formats are loaded into one shape, :class:`ShippedModel`, that maps a uint8
N×C×H×W batch to probabilities, so ``fsbbt predict`` and the export parity check read
the same code path. The format is told from the file's bytes, not by trying one loader
after another, so a file that is none of them is named for what it is. Images are read
with Pillow and converted to the model's channels and size; pixels are scaled to [0, 1]
as in training.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fsbbt.core.errors import FsbbtError
from fsbbt.core.model_file import ModelFile, torch_format
from fsbbt.core.precision import FP32
from fsbbt.data.folder import IMAGE_SUFFIXES, read_image
from fsbbt.ship.student_file import load_student, resolve_student, sidecar_path
from fsbbt.train.evaluate import predict_probabilities

METADATA_KEY = "fsbbt"  # ONNX metadata_props key / TorchScript extra file holding the sidecar
TORCHSCRIPT_EXTRA_FILE = "fsbbt.json"
PREDICT_BATCH = 256


@dataclass(frozen=True)
class ShippedModel:
    """A student in any shipped format: what it expects and a function giving probabilities."""

    input_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    kind: str  # "pytorch", "onnx" or "torchscript"
    predict_proba: Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Prediction:
    """The top-k classes of one image, most probable first."""

    image: Path
    labels: tuple[str, ...]
    probabilities: tuple[float, ...]


def _description(raw: str, path: Path) -> tuple[tuple[int, int, int], tuple[str, ...]]:
    try:
        info = json.loads(raw)
        return tuple(info["input_shape"]), tuple(info["class_names"])
    except (ValueError, KeyError, TypeError) as exc:
        raise FsbbtError(
            f"{path} carries no valid fsbbt description ({exc}); export it again with `fsbbt export`"
        ) from exc


def _is_onnx(path: Path) -> bool:
    """Whether ``path`` parses as an ONNX model with a graph (protobuf parses most bytes
    as *something*, so an empty graph or no IR version means it is not one)."""
    import onnx

    try:
        model = onnx.load_model(str(path), load_external_data=False)
    except Exception:  # onnx raises protobuf's untyped DecodeError and others for non-ONNX bytes
        return False
    return model.ir_version > 0 and len(model.graph.node) > 0


def _load_onnx(path: Path) -> ShippedModel:
    import onnxruntime

    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
        raise FsbbtError(
            f"{path} is not a loadable ONNX model ({type(exc).__name__}); export it again with `fsbbt export`"
        ) from exc
    metadata = session.get_modelmeta().custom_metadata_map
    if METADATA_KEY not in metadata:
        raise FsbbtError(
            f"{path} was not exported by fsbbt (no '{METADATA_KEY}' metadata); "
            "export the student with `fsbbt export`"
        )
    input_shape, class_names = _description(metadata[METADATA_KEY], path)
    input_name = session.get_inputs()[0].name

    def predict_proba(images_uint8: np.ndarray) -> np.ndarray:
        floats = images_uint8.astype(np.float32) / np.float32(255.0)
        return session.run(None, {input_name: floats})[0]

    return ShippedModel(input_shape, class_names, "onnx", predict_proba)


def _load_torchscript(path: Path) -> ShippedModel:
    extra_files = {TORCHSCRIPT_EXTRA_FILE: ""}
    module = ModelFile(path, "TorchScript student", "export it again with `fsbbt export`").torchscript(
        extra_files
    )
    input_shape, class_names = _description(extra_files[TORCHSCRIPT_EXTRA_FILE], path)

    @torch.no_grad()
    def predict_proba(images_uint8: np.ndarray) -> np.ndarray:
        floats = torch.from_numpy(images_uint8).to(torch.float32) / 255.0
        return module(floats).numpy()

    return ShippedModel(input_shape, class_names, "torchscript", predict_proba)


def load_shipped_model(path: Path) -> ShippedModel:
    """Load a student saved by ``fsbbt run``/``distill`` (``.pt`` + ``.json``, or their run
    directory, which gives its FS-BBT student as ``fsbbt export`` would) or ``fsbbt export``."""
    path = Path(path)
    if path.is_dir():
        path = resolve_student(path)
    if not path.is_file():
        raise FsbbtError(f"model file {path} not found; give a student .pt, .onnx or TorchScript file")
    if path.suffix == ".json":
        raise FsbbtError(f"{path} is a description, not a model; give the .pt file beside it")
    found = torch_format(path)
    if found == "torchscript":
        return _load_torchscript(path)
    if found is None and (path.suffix == ".onnx" or _is_onnx(path)):
        return _load_onnx(path)
    if sidecar_path(path).is_file():  # a student of `fsbbt run`, or what claims to be one
        model, info = load_student(path)
        return ShippedModel(
            info.input_shape,
            info.class_names,
            "pytorch",
            lambda images_uint8: predict_probabilities(model, images_uint8, mode=FP32),
        )
    if found == "torch.save":
        raise FsbbtError(
            f"{path} is a PyTorch weights file without its .json description (written by "
            "`fsbbt run`); give the .pt file that has its .json beside it, or export with `fsbbt export`"
        )
    raise FsbbtError(
        f"{path} is not a model fsbbt can read (expected a student .pt with its .json, an .onnx "
        "or a TorchScript file)"
    )


def image_files(paths: Sequence[Path]) -> list[Path]:
    """The image files named, with each directory replaced by its images (sorted by name)."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files.extend(
                sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            )
        elif path.is_file():
            files.append(path)
        else:
            raise FsbbtError(f"image {path} not found; give image files or folders of them")
    if not files:
        raise FsbbtError(
            f"no images found in {', '.join(map(str, paths))}; supported: {', '.join(sorted(IMAGE_SUFFIXES))}"
        )
    return files


def predict(
    model: Path | str | ShippedModel, images: Sequence[Path | str], top_k: int = 3
) -> list[Prediction]:
    """The ``top_k`` most probable classes of each image (files or folders of files).

    ``model`` is a path to a student (``.pt`` with its sidecar, ``.onnx``, TorchScript)
    or an already loaded :class:`ShippedModel`. Images must look like the training data
    (e.g. MNIST/digits: a light digit on a dark background).
    """
    if top_k < 1:
        raise FsbbtError(f"--top-k must be at least 1, got {top_k}")
    shipped = model if isinstance(model, ShippedModel) else load_shipped_model(Path(model))
    files = image_files([Path(p) for p in images])
    k = min(top_k, len(shipped.class_names))
    predictions = []
    for start in range(0, len(files), PREDICT_BATCH):  # a folder of any size, bounded memory
        chunk = files[start : start + PREDICT_BATCH]
        probabilities = shipped.predict_proba(
            np.stack([read_image(path, shipped.input_shape) for path in chunk])
        )
        for path, row in zip(chunk, probabilities, strict=True):
            best = np.argsort(-row, kind="stable")[:k]
            predictions.append(
                Prediction(
                    path, tuple(shipped.class_names[i] for i in best), tuple(float(row[i]) for i in best)
                )
            )
    return predictions
