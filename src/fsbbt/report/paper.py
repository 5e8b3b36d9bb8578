"""The paper's Table (top-1 test accuracy, %), for printing our numbers beside it.

Keys follow results.json: ``<method>/<student-arch>``. FS-BBT is the half-size student,
FS-BBT* the teacher's architecture.
"""

from __future__ import annotations

PAPER_ACCURACY: dict[str, dict[str, float]] = {
    "mnist": {
        "teacher": 99.18,
        "student-alone/lenet5-half": 95.97,
        "standard-kd/lenet5-half": 95.99,
        "bbkd/lenet5-half": 98.74,
        "fsbbt/lenet5-half": 98.42,
        "fsbbt/lenet5": 98.91,
    },
    "fashion-mnist": {
        "teacher": 90.15,
        "student-alone/lenet5-half": 81.37,
        "standard-kd/lenet5-half": 83.87,
        "bbkd/lenet5-half": 80.90,
        "fsbbt/lenet5-half": 84.73,
        "fsbbt/lenet5": 86.53,
    },
    "cifar10": {
        "teacher": 84.07,
        "student-alone/alexnet-half": 54.59,
        "standard-kd/alexnet-half": 58.96,
        "bbkd/alexnet-half": 74.60,
        "fsbbt/alexnet-half": 74.10,
        "fsbbt/alexnet": 76.17,
    },
    "cifar100": {
        "teacher": 69.08,
        "student-alone/resnet20": 32.85,
        "standard-kd/resnet20": 36.79,
        "bbkd/resnet20": 53.41,
        "fsbbt/resnet20": 56.28,
    },
}


def paper_accuracy(dataset: str, key: str) -> float | None:
    """The paper's number for ``key`` on ``dataset`` in %, or None where it has none."""
    return PAPER_ACCURACY.get(dataset, {}).get(key)
