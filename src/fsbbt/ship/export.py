"""Export a trained student to ONNX or TorchScript, checked against PyTorch on real images.

The exported graph takes float32 N×C×H×W images in [0, 1] and returns probabilities
(softmax included), and carries the student's description (input shape, class names)
inside the file, so ``fsbbt predict`` needs nothing else. After writing, the file is
loaded back the way ``predict`` loads it and run on test images of the student's
dataset, or on its own images for a student distilled from the user's folder; the
export fails if any probability differs from PyTorch's by more than
:data:`PARITY_BOUND`.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from fsbbt.config.schema import USER_IMAGES
from fsbbt.core.errors import FsbbtError
from fsbbt.core.precision import FP32
from fsbbt.data import load_dataset
from fsbbt.data.folder import list_images, read_images
from fsbbt.ship.predict import (
    METADATA_KEY,
    TORCHSCRIPT_EXTRA_FILE,
    load_shipped_model,
)
from fsbbt.ship.student_file import StudentInfo, load_student, resolve_student
from fsbbt.train.evaluate import predict_probabilities

ExportFormat = Literal["onnx", "torchscript"]
PARITY_BOUND = 1e-4
PARITY_IMAGES = 512


@dataclass(frozen=True)
class ExportReport:
    """Where the student went and how closely the export matches PyTorch."""

    student: Path
    path: Path
    format: ExportFormat
    max_abs_difference: float
    images_checked: int
    checked_on: str  # "digits test images", or the folder of the run's own images


class ProbabilityModel(nn.Module):
    """The student followed by softmax: the exported graph answers with probabilities."""

    def __init__(self, student: nn.Module) -> None:
        super().__init__()
        self.student = student

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.student(images), dim=1)


def _write_onnx(model: nn.Module, info: StudentInfo, out: Path) -> None:
    import onnx

    example = torch.zeros((2, *info.input_shape))
    batch = torch.export.Dim("batch", min=1)
    # The exporter logs warnings about torchvision ops and its own deprecations that say
    # nothing about this model; the parity check below is what tells whether it worked.
    exporter_log = logging.getLogger("torch.onnx")
    previous_level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (example,),
                str(out),
                input_names=["images"],
                output_names=["probabilities"],
                dynamic_shapes=({0: batch},),
                external_data=False,
                verbose=False,
            )
    finally:
        exporter_log.setLevel(previous_level)
    exported = onnx.load(str(out))
    onnx.helper.set_model_props(exported, {METADATA_KEY: json.dumps(asdict(info))})
    onnx.save(exported, str(out))


def _write_torchscript(model: nn.Module, info: StudentInfo, out: Path) -> None:
    example = torch.zeros((2, *info.input_shape))
    with torch.no_grad(), warnings.catch_warnings():
        # PyTorch deprecates TorchScript in favour of torch.export; the format is still the
        # one C++/mobile runtimes load, so it is offered, and ONNX is the recommended one.
        warnings.simplefilter("ignore", DeprecationWarning)
        traced = torch.jit.trace(model, example)
    traced.save(str(out), _extra_files={TORCHSCRIPT_EXTRA_FILE: json.dumps(asdict(info))})


def export_student(
    source: Path,
    export_format: ExportFormat,
    out: Path,
    method: str | None = None,
    seed: int | None = None,
    data_dir: Path | None = None,
) -> ExportReport:
    """Write the student of ``source`` (file or run directory) as ``export_format`` to ``out``.

    The parity check runs the written file on real images (:func:`_parity_images`;
    ``data_dir`` says where they are); a larger difference than
    :data:`PARITY_BOUND` removes the file and raises.
    """
    if export_format not in ("onnx", "torchscript"):
        raise FsbbtError(f"--format {export_format!r} is not supported; use onnx or torchscript")
    weights = resolve_student(source, method, seed)
    student, info = load_student(weights)
    model = ProbabilityModel(student).eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    # written beside ``out`` and renamed once checked; the suffix is kept for the loader
    temporary = out.with_name(f"{out.stem}.partial{out.suffix}")
    writer = _write_onnx if export_format == "onnx" else _write_torchscript
    writer(model, info, temporary)

    try:
        check_images, checked_on = _parity_images(info, data_dir)
    except FsbbtError:
        temporary.unlink()
        raise
    reference = predict_probabilities(student, check_images, mode=FP32)  # the file is float32
    exported = load_shipped_model(temporary).predict_proba(check_images)
    difference = float(abs(exported - reference).max())
    if not difference <= PARITY_BOUND:
        temporary.unlink()
        raise FsbbtError(
            f"exported {export_format} model differs from PyTorch by up to "
            f"{difference:.2e} (bound {PARITY_BOUND:.0e}) on {len(check_images)} "
            f"{checked_on}; not written"
        )
    os.replace(temporary, out)
    return ExportReport(weights, out, export_format, difference, len(check_images), checked_on)


def _parity_images(info: StudentInfo, data_dir: Path | None) -> tuple[np.ndarray, str]:
    """Real images to compare the export with PyTorch on: the first test images of the
    student's built-in dataset, or, for a student distilled from the user's own images,
    the first of those images (``data_dir`` overrides where they are looked for)."""
    if info.dataset != USER_IMAGES:
        images = load_dataset(info.dataset, data_dir).test_images[:PARITY_IMAGES]
        return images, f"{info.dataset} test images"
    folder = data_dir or (Path(info.images) if info.images else None)
    if folder is None or not folder.is_dir():
        raise FsbbtError(
            f"the images this student learnt from ({folder}) are not there for "
            "the parity check; give --data-dir with a folder of such images"
        )
    paths = list_images(folder)[:PARITY_IMAGES]
    if not paths:
        raise FsbbtError(
            f"no images in {folder} for the parity check; give --data-dir with "
            "a folder of images like the student's"
        )
    return read_images(paths, info.input_shape, f"read {folder.name}"), f"images of {folder}"
