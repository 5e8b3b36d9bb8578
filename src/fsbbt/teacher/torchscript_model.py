"""A TorchScript file as a teacher: ``torch.jit.load`` on CPU, uint8 scaled to [0, 1].

Like every fsbbt network the model takes float N×C×H×W in [0, 1]; what it returns is
declared by the config's ``output`` (logits are the usual case for an exported network).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from fsbbt.core.model_file import ModelFile
from fsbbt.core.tensors import uint8_to_float
from fsbbt.teacher.local import file_fingerprint


class TorchScriptTeacher:
    def __init__(self, path: Path, input_shape: tuple[int, int, int], class_names: tuple[str, ...]) -> None:
        file = ModelFile(path, "TorchScript teacher", "give a file saved with torch.jit.save")
        self._model = file.torchscript().eval()
        self.input_shape = input_shape
        self.class_names = class_names
        self.fingerprint = f"torchscript:{file_fingerprint(path)}"

    @torch.no_grad()
    def predict_proba(self, images_uint8: np.ndarray) -> np.ndarray:
        return self._model(uint8_to_float(images_uint8)).float().numpy()
