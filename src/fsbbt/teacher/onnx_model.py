"""An ONNX file as a teacher, run by onnxruntime on CPU.

The model takes float32 N×C×H×W in [0, 1] (the form fsbbt networks use); the input
shape and the class count are read from the graph when it states them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fsbbt.core.errors import FsbbtError
from fsbbt.teacher.local import file_fingerprint


class OnnxTeacher:
    def __init__(
        self, path: Path, input_shape: tuple[int, int, int] | None, class_names: tuple[str, ...] | None
    ) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        try:
            self._session = onnxruntime.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own unrelated exception types
            raise FsbbtError(
                f"cannot load ONNX teacher {path} ({type(exc).__name__}); give a valid .onnx file"
            ) from exc
        graph_input = self._session.get_inputs()[0]
        self._input_name = graph_input.name
        self.input_shape = input_shape or _static_shape(graph_input.shape[1:], path, "input_shape")
        if class_names is None:
            (num_classes,) = _static_shape(self._session.get_outputs()[0].shape[1:], path, "class_names")
            class_names = tuple(str(i) for i in range(num_classes))
        self.class_names = class_names
        self.fingerprint = f"onnx:{file_fingerprint(path)}"

    def predict_proba(self, images_uint8: np.ndarray) -> np.ndarray:
        floats = images_uint8.astype(np.float32) / np.float32(255.0)
        return self._session.run(None, {self._input_name: floats})[0]


def _static_shape(dims: list, path: Path, key: str) -> tuple[int, ...]:
    if not all(isinstance(d, int) for d in dims):
        raise FsbbtError(f"ONNX teacher {path} does not state a fixed {key} ({dims}); set teacher.{key}")
    return tuple(dims)
