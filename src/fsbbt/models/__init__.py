"""Networks: classifiers (teachers and students) and conditional VAEs, looked up by name."""

from fsbbt.models.registry import CLASSIFIERS, CVAES, build_classifier, build_cvae

__all__ = ["CLASSIFIERS", "CVAES", "build_classifier", "build_cvae"]
