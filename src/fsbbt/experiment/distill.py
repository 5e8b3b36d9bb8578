"""``fsbbt distill``: FS-BBT from any teacher on a folder of the user's own images.

The folder's images are the N few images (no labels needed); the synthetic budget
defaults to M = 24 × N (method.md's Fashion-MNIST ratio), shrunk to the query budget
if one is given. Writes the student (state dict + student.json), results.json, the
sample grid and the training curves in the output directory.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fsbbt.core import precision, progress
from fsbbt.data.folder import load_image_folder, load_labelled_folder
from fsbbt.experiment.config import ExperimentConfig, config_from_tree
from fsbbt.experiment.results import write_json_atomically
from fsbbt.experiment.runner import RESULTS_FILE, check_methods, training_curve
from fsbbt.methods import FewShotSet, MethodContext, get_method
from fsbbt.report.figures import plot_sample_grid, plot_training_curves
from fsbbt.synth.cvae_store import CVAE_DIR
from fsbbt.teacher.blackbox import QueryOracle
from fsbbt.teacher.factory import build_teacher
from fsbbt.train import evaluate_classifier

SYNTHETIC_PER_IMAGE = 24
STUDENT_DIR = "student"


def distill_config(teacher_tree: dict[str, Any], image_count: int, student_arch: str,
                   seed: int, has_test_set: bool, overrides: list[str]) -> ExperimentConfig:
    """The FS-BBT config for N user images; ``overrides`` (``--set``) win over defaults."""
    tree: dict[str, Any] = {
        "dataset": "image-folder",
        "n_fewshot": image_count,
        "seeds": [seed],
        "methods": [f"fsbbt/{student_arch}"],
        "teacher": teacher_tree,
        "synthesis": {"budget": SYNTHETIC_PER_IMAGE * image_count},
        "curve_points": 10 if has_test_set else 0,
    }
    return config_from_tree(tree, overrides, "fsbbt distill")


def run_distill(config: ExperimentConfig, images_dir: Path, out_dir: Path,
                test_dir: Path | None = None) -> dict[str, Any]:
    """Label, synthesise, distil; save the student and the report in ``out_dir``."""
    ((method, arch),) = check_methods(config)
    precision.configure(config.precision)
    teacher = build_teacher(config.teacher)
    images = load_image_folder(images_dir, tuple(teacher.input_shape))
    test_set = (load_labelled_folder(test_dir, tuple(teacher.input_shape),
                                     tuple(teacher.class_names)) if test_dir else None)
    out_dir.mkdir(parents=True, exist_ok=True)
    oracle = QueryOracle.keeping_answers_in(out_dir, teacher, config.query_batch_size,
                                            config.query_budget)

    def test_accuracy(model: torch.nn.Module) -> float:
        assert test_set is not None, "curve_points is 0 without a test set"
        return evaluate_classifier(model, *test_set, len(teacher.class_names)).accuracy

    # No true labels exist: -1 makes any accidental use visible.
    fewshot = FewShotSet(images, np.full(len(images), -1, np.int64))
    seed = config.seeds[0]
    context = MethodContext(config, seed, fewshot, oracle, test_accuracy,
                            cvae_store=out_dir / CVAE_DIR)
    started = time.perf_counter()
    outcome = get_method(method)(context, arch)
    seconds = time.perf_counter() - started

    summary: dict[str, Any] = {
        "teacher_queries": outcome.teacher_queries,
        "seconds": [round(seconds, 2)],
        "synthesis_seconds": [round(outcome.extra_seconds.get("synthesis", 0.0), 2)],
        "train_images_per_second": [round(outcome.history.images_per_second, 1)],
        "curves": [training_curve(outcome.history)],
    }
    if test_set is not None:
        scores = evaluate_classifier(outcome.student, *test_set, len(teacher.class_names))
        summary.update(accuracy=[scores.accuracy], macro_f1=[scores.macro_f1],
                       accuracy_mean=scores.accuracy, accuracy_std=0.0,
                       macro_f1_mean=scores.macro_f1, test_images=len(test_set[0]))
        progress.status(f"student {arch}: test accuracy {scores.accuracy:.4f}, macro-F1 "
                        f"{scores.macro_f1:.4f} on {len(test_set[0])} images")
    key = f"{method}/{arch}"
    results = {
        "dataset": f"images {images_dir}",
        "n_fewshot": len(images),
        "seeds": [seed],
        "teacher": {"arch": config.teacher.resolved_kind, "test_accuracy": None},
        "methods": {key: summary},
        "queries": oracle.usage(),
        "student": str(out_dir / STUDENT_DIR),
        "config": config.model_dump(mode="json"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    _save_student(outcome.student, arch, teacher, summary, out_dir / STUDENT_DIR)
    write_json_atomically(out_dir / RESULTS_FILE, results)
    if outcome.samples:
        plot_sample_grid(outcome.samples, tuple(teacher.class_names), out_dir / "samples.png")
    plot_training_curves(results, out_dir / "curves.png")
    return results


def _save_student(student: torch.nn.Module, arch: str, teacher: Any, summary: dict[str, Any],
                  directory: Path) -> None:
    """State dict plus what is needed to rebuild and use it (``build_classifier`` + names)."""
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(student.state_dict(), directory / "student.pt")
    description = {"arch": arch, "input_shape": list(teacher.input_shape),
                   "class_names": list(teacher.class_names),
                   "test_accuracy": summary.get("accuracy_mean")}
    (directory / "student.json").write_text(json.dumps(description, indent=2) + "\n")
