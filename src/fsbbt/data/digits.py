"""scikit-learn's bundled 8×8 digits, upscaled to 28×28: the embedded default.

It ships inside scikit-learn, so the demo and the fast tests need no download.
Upscaling lets the MNIST networks (LeNet5) apply unchanged.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from fsbbt.data.dataset import ImageDataset

TEST_FRACTION = 0.25
SPLIT_SEED = 0  # fixed: the test split must not move with the experiment seed


def load_digits_dataset() -> ImageDataset:
    """1,347 training and 450 test images, stratified, as uint8 1×28×28."""
    bunch = load_digits()
    images = torch.from_numpy(bunch.images.astype(np.float32) / 16.0).unsqueeze(1)
    upscaled = F.interpolate(images, size=(28, 28), mode="bilinear", align_corners=False)
    images_uint8 = (upscaled.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    labels = bunch.target.astype(np.int64)
    train_x, test_x, train_y, test_y = train_test_split(
        images_uint8, labels, test_size=TEST_FRACTION, stratify=labels, random_state=SPLIT_SEED
    )
    return ImageDataset("digits", train_x, train_y, test_x, test_y, tuple(str(d) for d in range(10)))
