"""The results of a run: per-seed records, their summary, and results.json."""

from __future__ import annotations

import json
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS_FILE = "results.json"


@dataclass(frozen=True)
class StageResult:
    """What one (seed, method, arch) stage measured: one entry of each MethodRecord list."""

    accuracy: float
    macro_f1: float
    teacher_queries: int
    seconds: float
    synthesis_seconds: float
    train_images_per_second: float
    curve: dict[str, list[float]]
    # [teacher queries so far, test accuracy] after each round of a method that queries in
    # rounds (BBKD); empty for the others. Defaulted so older stage files still load.
    query_curve: list[list[float]] = field(default_factory=list)
    cvae_seconds: float = 0.0  # part of synthesis_seconds; absent from older stage files
    train_seconds: float = 0.0  # the student's training loop alone


@dataclass
class MethodRecord:
    """One method/arch across seeds, in seed order."""

    accuracy: list[float] = field(default_factory=list)
    macro_f1: list[float] = field(default_factory=list)
    teacher_queries: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    synthesis_seconds: list[float] = field(default_factory=list)
    cvae_seconds: list[float] = field(default_factory=list)
    train_seconds: list[float] = field(default_factory=list)
    train_images_per_second: list[float] = field(default_factory=list)
    curves: list[dict[str, list[float]]] = field(default_factory=list)
    query_curves: list[list[list[float]]] = field(default_factory=list)

    def add(self, stage: StageResult) -> None:
        """Append one seed's stage (run now or read back from an earlier, killed run)."""
        self.accuracy.append(stage.accuracy)
        self.macro_f1.append(stage.macro_f1)
        self.teacher_queries.append(stage.teacher_queries)
        self.seconds.append(stage.seconds)
        self.synthesis_seconds.append(stage.synthesis_seconds)
        self.cvae_seconds.append(stage.cvae_seconds)
        self.train_seconds.append(stage.train_seconds)
        self.train_images_per_second.append(stage.train_images_per_second)
        self.curves.append(stage.curve)
        self.query_curves.append(stage.query_curve)

    def summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = {
            **score_summary(self.accuracy, self.macro_f1),
            "teacher_queries": max(self.teacher_queries),
            "seconds": self.seconds,
            "train_seconds": self.train_seconds,
            "train_images_per_second": self.train_images_per_second,
            "curves": self.curves,
        }
        if any(self.synthesis_seconds):
            summary["synthesis_seconds"] = self.synthesis_seconds
        if any(self.query_curves):
            summary["query_curves"] = self.query_curves
        if any(self.cvae_seconds):
            summary["cvae_seconds"] = self.cvae_seconds
        return summary


def score_summary(accuracy: list[float], macro_f1: list[float]) -> dict[str, Any]:
    """Per-seed scores and their mean ± population std, as results.json (and a merged
    report) hold them."""
    return {
        "accuracy": accuracy,
        "macro_f1": macro_f1,
        "accuracy_mean": statistics.fmean(accuracy),
        "accuracy_std": statistics.pstdev(accuracy) if len(accuracy) > 1 else 0.0,
        "macro_f1_mean": statistics.fmean(macro_f1),
    }


def write_json_atomically(path: Path, payload: dict[str, Any]) -> None:
    """Write to a temporary file and rename, so a reader never sees half a results.json."""
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(payload, indent=2) + "\n")
    os.replace(temporary, path)
