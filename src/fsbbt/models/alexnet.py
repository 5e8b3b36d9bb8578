"""The CIFAR AlexNet of the FS-BBT reference code, and its half-width student."""

from __future__ import annotations

import torch
from torch import nn


def _conv(in_channels: int, out_channels: int, kernel: int) -> nn.Conv2d:
    """A stride-1 "same" convolution (odd kernel)."""
    return nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2)


class AlexNet(nn.Module):
    """Five "same" convs (5×5, 5×5, 3×3, 3×3, 3×3), each ReLU then BN; 3/2 max-pools after
    the 1st, 2nd and 5th (before their BN); then FC → ReLU → dropout 0.5 → BN twice, FC C.

    The pools are unpadded (Keras' default "valid"), so 32 → 15 → 7 → 3 and the first
    dense layer sees filters[4]·3·3 features. BN layers get Keras' epsilon from
    :func:`~fsbbt.models.init.keras_initialise`.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        image_size: int = 32,
        filters: tuple[int, int, int, int, int] = (48, 128, 192, 192, 128),
        dense: tuple[int, int] = (512, 256),
    ) -> None:
        super().__init__()
        f1, f2, f3, f4, f5 = filters
        self.features = nn.Sequential(
            _conv(in_channels, f1, 5),
            nn.ReLU(),
            nn.MaxPool2d(3, 2),
            nn.BatchNorm2d(f1),
            _conv(f1, f2, 5),
            nn.ReLU(),
            nn.MaxPool2d(3, 2),
            nn.BatchNorm2d(f2),
            _conv(f2, f3, 3),
            nn.ReLU(),
            nn.BatchNorm2d(f3),
            _conv(f3, f4, 3),
            nn.ReLU(),
            nn.BatchNorm2d(f4),
            _conv(f4, f5, 3),
            nn.ReLU(),
            nn.MaxPool2d(3, 2),
            nn.BatchNorm2d(f5),
        )
        side = image_size
        for _ in range(3):
            side = (side - 3) // 2 + 1
        first, second = dense
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(f5 * side * side, first),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.BatchNorm1d(first),
            nn.Linear(first, second),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.BatchNorm1d(second),
            nn.Linear(second, num_classes),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(images))
