"""Training: the one loop, its augmentations, and evaluation."""

from fsbbt.train.evaluate import Scores, TestAccuracy, evaluate_classifier, predict_probabilities
from fsbbt.train.loop import TrainHistory, TrainRecipe, fit_classifier

__all__ = [
    "Scores",
    "TestAccuracy",
    "TrainHistory",
    "TrainRecipe",
    "evaluate_classifier",
    "fit_classifier",
    "predict_probabilities",
]
