"""Accuracy and macro-F1 of a classifier on a labelled split (the full test split, last epoch)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from fsbbt.core import precision
from fsbbt.core.tensors import uint8_to_float


@torch.no_grad()
def predict_probabilities(
    model: nn.Module,
    images_uint8: np.ndarray,
    batch_size: int = 1024,
    mode: precision.ComputeMode | None = None,
) -> np.ndarray:
    """Softmax outputs for a uint8 N×C×H×W array, in eval mode, batch by batch.

    ``mode`` defaults to this process's precision (the softmax itself is float32);
    callers whose outputs are kept as data (a teacher's answers) or compared with an
    exported float32 file pass :data:`~fsbbt.core.precision.FP32`.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device  # a GPU model mid-training is evaluated in place
    mode = mode or precision.mode_for(device)
    outputs = []
    for start in range(0, len(images_uint8), batch_size):
        batch = uint8_to_float(images_uint8[start : start + batch_size]).to(device)
        with precision.autocast(mode, device):
            logits = model(precision.prepare_images(batch, mode))
        outputs.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
    model.train(was_training)
    return np.concatenate(outputs) if outputs else np.zeros((0, 0), np.float32)


@dataclass(frozen=True)
class Scores:
    accuracy: float
    macro_f1: float


def score_predictions(predicted: np.ndarray, labels: np.ndarray, num_classes: int) -> Scores:
    """Top-1 accuracy and macro-averaged F1 over all ``num_classes`` classes."""
    # imported here: scikit-learn costs ~1.5 s of start-up, which the training workers
    # (they import this module but never score) would otherwise pay each
    from sklearn.metrics import f1_score

    return Scores(
        accuracy=float(np.mean(predicted == labels)),
        macro_f1=float(
            f1_score(labels, predicted, average="macro", labels=list(range(num_classes)), zero_division=0)
        ),
    )


def evaluate_classifier(
    model: nn.Module, images_uint8: np.ndarray, labels: np.ndarray, num_classes: int
) -> Scores:
    """Scores of ``model`` on a labelled split."""
    predicted = predict_probabilities(model, images_uint8).argmax(axis=1)
    return score_predictions(predicted, labels, num_classes)


@dataclass(frozen=True)
class TestAccuracy:
    """Accuracy on a labelled test split, as a value a training can take to another
    process (the training curves' points; never used to select anything)."""

    images_uint8: np.ndarray
    labels: np.ndarray
    num_classes: int

    def __call__(self, model: nn.Module) -> float:
        return evaluate_classifier(model, self.images_uint8, self.labels, self.num_classes).accuracy
