"""The results of a run: per-seed stage results, their summary per method, and the
results.json file every run writes (``fsbbt run`` and ``fsbbt distill`` alike) and every
report reads."""

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
    """What one (seed, method, arch) stage measured. The scores are None where the run has
    no labelled test set (the user's own images without ``--test-images``)."""

    accuracy: float | None
    macro_f1: float | None
    teacher_queries: int
    seconds: float
    train_seconds: float  # the student's training loop alone
    train_images_per_second: float
    curve: dict[str, list[float]]
    # [teacher queries so far, test accuracy] after each round of a method that queries in
    # rounds (BBKD); empty for the others
    query_curve: list[list[float]] = field(default_factory=list)
    # the parts of its wall time the method declares (Method.timings), in seconds
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class MethodRecord:
    """One method/arch across seeds, in seed order."""

    stages: list[StageResult] = field(default_factory=list)

    def add(self, stage: StageResult) -> None:
        """Append one seed's stage (run now or read back from an earlier, killed run)."""
        self.stages.append(stage)

    def summary(self) -> dict[str, Any]:
        stages = self.stages
        scored = [s for s in stages if s.accuracy is not None]
        summary: dict[str, Any] = {}
        if scored:
            summary.update(
                score_summary(
                    [s.accuracy for s in scored],  # type: ignore[misc]
                    [s.macro_f1 for s in scored],
                )
            )  # type: ignore[misc]
        else:
            summary.update(
                accuracy=[], macro_f1=[], accuracy_mean=None, accuracy_std=None, macro_f1_mean=None
            )
        summary.update(
            teacher_queries=max(s.teacher_queries for s in stages),
            seconds=[s.seconds for s in stages],
            train_seconds=[s.train_seconds for s in stages],
            train_images_per_second=[s.train_images_per_second for s in stages],
            curves=[s.curve for s in stages],
        )
        for name in dict.fromkeys(name for s in stages for name in s.timings):
            summary[f"{name}_seconds"] = [s.timings.get(name, 0.0) for s in stages]
        if any(s.query_curve for s in stages):
            summary["query_curves"] = [s.query_curve for s in stages]
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
