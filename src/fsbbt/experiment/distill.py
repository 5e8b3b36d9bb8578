"""``fsbbt distill``: FS-BBT (or another method) from any teacher on a folder of the
user's own images.

It is a run like any other: one seed of the pipeline (:func:`run_experiment`) on the
dataset ``images`` (every image of the folder is one of the N few images, no labels
needed), with an optional labelled test folder for reporting accuracy. The synthetic
budget defaults to M = 24 × N (the paper's Fashion-MNIST ratio, docs/method.md), shrunk
to the query budget if one is given. A re-run into the same directory reuses every
finished stage and pays for no answer twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fsbbt.config.schema import USER_IMAGES, RunConfig
from fsbbt.core.errors import FsbbtError
from fsbbt.data.folder import IMAGE_SUFFIXES, list_images
from fsbbt.experiment.config import config_from_tree
from fsbbt.experiment.runner import run_experiment
from fsbbt.methods.base import SYNTHETIC_PER_FEW_IMAGE
from fsbbt.teacher.factory import spec_to_tree


def distill_config(
    teacher_tree: dict[str, Any],
    images_dir: Path,
    image_count: int,
    student_arch: str,
    seed: int,
    test_dir: Path | None,
    overrides: list[str],
    skip_unreadable: bool = False,
    method: str = "fsbbt",
) -> RunConfig:
    """The config for ``method`` on N user images; ``overrides`` (``--set``) win over
    defaults. Every method with a query budget spends the same N + M by default."""
    tree: dict[str, Any] = {
        "dataset": USER_IMAGES,
        "data_dir": str(images_dir),
        "n_fewshot": image_count,
        "seeds": [seed],
        "methods": [f"{method}/{student_arch}"],
        "teacher": teacher_tree,
        "synthesis": {"budget": SYNTHETIC_PER_FEW_IMAGE * image_count},
        "curve_points": 10 if test_dir is not None else 0,
        "skip_unreadable": skip_unreadable,
    }
    if test_dir is not None:
        tree["test_data_dir"] = str(test_dir)
    return config_from_tree(tree, overrides, "fsbbt distill")


def distill(
    teacher: str,
    images: str | Path,
    out: str | Path,
    student: str = "lenet5-half",
    test_images: str | Path | None = None,
    seed: int = 1,
    query_budget: int | None = None,
    overrides: list[str] | None = None,
    skip_unreadable: bool = False,
    method: str = "fsbbt",
) -> dict[str, Any]:
    """Distil ``teacher`` (a URL, KIND:VALUE, teacher YAML, .onnx or saved teacher
    directory) into a ``student`` on the ``images`` folder; the run directory ``out``
    holds the student (``students/``), results.json and the figures. Returns the results.
    With ``skip_unreadable`` files that do not decode are left out and listed in the
    results' ``skipped_images`` instead of stopping the run. ``method`` is FS-BBT by
    default; ``fsbbt-active`` buys its answers where the student is least sure."""
    images_dir = Path(images)
    image_count = len(list_images(images_dir))
    if image_count == 0:
        raise FsbbtError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {images_dir}; give a folder of images")
    assignments = list(overrides or [])
    if query_budget is not None:
        assignments.append(f"query_budget={query_budget}")
    config = distill_config(
        spec_to_tree(teacher),
        images_dir,
        image_count,
        student,
        seed,
        None if test_images is None else Path(test_images),
        assignments,
        skip_unreadable,
        method,
    )
    return run_experiment(config, Path(out))
