"""Conversions between the uint8 images the teacher sees and the floats networks train on."""

from __future__ import annotations

import numpy as np
import torch


def uint8_to_float(images_uint8: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 N×C×H×W → float32 in [0, 1] (the paper scales pixels, no normalisation)."""
    tensor = torch.as_tensor(images_uint8)
    return tensor.to(torch.float32).div_(255.0)


def float_to_uint8(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """float in [0, 1] → uint8, rounding to nearest: the exact bytes a teacher will receive."""
    tensor = torch.as_tensor(images, dtype=torch.float32)
    return tensor.clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8).numpy()


def one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Integer labels → float32 one-hot rows, the soft-target form of a hard label."""
    targets = np.zeros((len(labels), num_classes), dtype=np.float32)
    targets[np.arange(len(labels)), labels] = 1.0
    return targets
