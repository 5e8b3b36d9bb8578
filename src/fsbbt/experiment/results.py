"""The results of a run: per-seed records, their summary, and results.json."""

from __future__ import annotations

import json
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class MethodRecord:
    """One method/arch across seeds, in seed order."""

    accuracy: list[float] = field(default_factory=list)
    macro_f1: list[float] = field(default_factory=list)
    teacher_queries: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    synthesis_seconds: list[float] = field(default_factory=list)
    train_images_per_second: list[float] = field(default_factory=list)
    curves: list[dict[str, list[float]]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        std = statistics.pstdev(self.accuracy) if len(self.accuracy) > 1 else 0.0
        summary: dict[str, Any] = {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "accuracy_mean": statistics.fmean(self.accuracy),
            "accuracy_std": std,
            "macro_f1_mean": statistics.fmean(self.macro_f1),
            "teacher_queries": max(self.teacher_queries),
            "seconds": self.seconds,
            "train_images_per_second": self.train_images_per_second,
            "curves": self.curves,
        }
        if any(self.synthesis_seconds):
            summary["synthesis_seconds"] = self.synthesis_seconds
        return summary


def write_json_atomically(path: Path, payload: dict[str, Any]) -> None:
    """Write to a temporary file and rename, so a reader never sees half a results.json."""
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(payload, indent=2) + "\n")
    os.replace(temporary, path)
