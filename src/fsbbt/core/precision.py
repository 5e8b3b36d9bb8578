"""Numeric precision of training and inference: float32, or autocast where it is faster.

``auto`` picks per device: bf16 autocast with channels-last tensors on CPUs with native
bf16 arithmetic (AVX-512 BF16 or AMX; measured on such a CPU: AlexNet trains 2.2×,
AlexNet-half 2.9× faster, see benchmarks/results/train_throughput.json), fp16 autocast
with gradient scaling (AMP) on CUDA, float32 everywhere else, where bf16 would be emulated
and slower. Weights, optimiser state and losses stay float32 in every mode.

The setting is per process, like the device (:mod:`fsbbt.core.distributed`): the entry
points (``fsbbt run``, ``teacher train``, ``distill``) call :func:`configure` once, and
every loop and inference call asks :func:`mode_for` for its device. A process that never
configures computes in float32.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

PrecisionName = Literal["auto", "fp32", "bf16", "fp16"]


@dataclass(frozen=True)
class ComputeMode:
    """How one device computes: the autocast dtype (None = float32), tensor layout, scaling."""

    name: str
    autocast_dtype: torch.dtype | None = None
    channels_last: bool = False
    grad_scaling: bool = False


FP32 = ComputeMode("fp32")
FP32_CHANNELS_LAST = ComputeMode("fp32", channels_last=True)
_requested: PrecisionName = "fp32"


def cpu_has_fast_bf16() -> bool:
    """True on CPUs that do bf16 arithmetic natively (AVX-512 BF16 or AMX) through oneDNN."""
    if not torch.backends.mkldnn.is_available():
        return False
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def resolve(requested: PrecisionName, device: torch.device) -> ComputeMode:
    """The compute mode ``requested`` means on ``device`` (``auto`` decided by the hardware)."""
    on_cuda = device.type == "cuda"
    if requested == "auto":
        if on_cuda:
            requested = "fp16"
        elif cpu_has_fast_bf16():
            requested = "bf16"
        else:
            requested = "fp32"
    if requested == "bf16":
        return ComputeMode("bf16", torch.bfloat16, channels_last=True)
    if requested == "fp16":
        return ComputeMode("fp16", torch.float16, channels_last=on_cuda, grad_scaling=True)
    # oneDNN's convolutions are faster channels-last in float32 too (one training step at
    # batch 64, one thread: LeNet5-half 1.4×, LeNet5 1.26×, AlexNet-half 1.25×)
    return FP32_CHANNELS_LAST if device.type == "cpu" else FP32


def configure(requested: PrecisionName) -> None:
    """Set this process's precision (the config's ``precision`` key, ``--precision``)."""
    global _requested
    _requested = requested


def requested() -> PrecisionName:
    """The precision this process was configured with."""
    return _requested


def mode_for(device: torch.device) -> ComputeMode:
    """The compute mode of this process on ``device``."""
    return resolve(_requested, device)


@contextlib.contextmanager
def autocast(mode: ComputeMode, device: torch.device) -> Iterator[None]:
    """Autocast to the mode's dtype on ``device`` (a no-op for float32)."""
    with torch.autocast(
        device.type, dtype=mode.autocast_dtype or torch.float32, enabled=mode.autocast_dtype is not None
    ):
        yield


def memory_format(mode: ComputeMode) -> torch.memory_format:
    """channels-last where the mode wants it (oneDNN's and tensor cores' fast layout)."""
    return torch.channels_last if mode.channels_last else torch.contiguous_format


def prepare_images(images: torch.Tensor, mode: ComputeMode) -> torch.Tensor:
    """``images`` (N×C×H×W floats) in the mode's layout; a no-op if already there."""
    return images.contiguous(memory_format=memory_format(mode))


def prepare_model(model: nn.Module, mode: ComputeMode) -> nn.Module:
    """``model``'s 4-d weights in the mode's layout, in place (values are unchanged)."""
    if mode.channels_last:
        model.to(memory_format=torch.channels_last)
    return model


def grad_scaler(mode: ComputeMode, device: torch.device) -> torch.amp.GradScaler:
    """A gradient scaler, enabled only for fp16 (bf16 has float32's exponent range)."""
    return torch.amp.GradScaler(device.type, enabled=mode.grad_scaling)
