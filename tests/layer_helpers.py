"""What a network's layers are, for tests that check architectures against docs/method.md."""

from __future__ import annotations

import torch


def conv_filters(model: torch.nn.Module) -> list[int]:
    """Output channels of every convolution, in order."""
    return [m.out_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d)]


def dense_widths(model: torch.nn.Module) -> list[int]:
    """Output width of every dense layer, in order."""
    return [m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear)]
