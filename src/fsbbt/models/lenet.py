"""LeNet5 and LeNet5-half for 28×28 grey images, as in the FS-BBT reference code."""

from __future__ import annotations

import torch
from torch import nn


class LeNet5(nn.Module):
    """conv5×5(valid) → pool → conv5×5(same) → pool → FC120 → FC84 → FC C, ReLU throughout.

    The second convolution is "same"-padded (unlike the textbook LeNet5) because the
    reference Keras model is; it makes the flattened feature 16·6·6.
    """

    def __init__(
        self, in_channels: int, num_classes: int, image_size: int = 28, filters: tuple[int, int] = (6, 16)
    ) -> None:
        super().__init__()
        first, second = filters
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, first, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(first, second, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        side = ((image_size - 4) // 2) // 2
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(second * side * side, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, num_classes),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(images))
