"""fsbbt: black-box few-shot knowledge distillation.

Data flows one way: data → teacher queries → synthesis → student training →
evaluation → report. The subpackages are layered, each importing only those below it
(checked by the import-linter contracts in pyproject.toml), from the bottom:
``core`` (errors, progress, precision, distributed, tensors, identity) → ``config``
(the schema) → ``data`` → ``models`` → ``train`` (the one training loop) → ``teacher``
(the black-box boundary, ledger, HTTP) → ``synth`` (synthesis sources) → ``methods``
(each declares itself) → ``report`` | ``ship`` → ``experiment`` (the one pipeline of
``run`` and ``distill``) → ``cli``.

Everything a notebook needs is importable from here; torch and the rest are loaded
only when a name is first used, so ``import fsbbt`` stays fast::

    import fsbbt
    digits = fsbbt.load_dataset("digits")
    results = fsbbt.run_experiment(fsbbt.load_config("digits"), Path("runs/nb"))
    fsbbt.predict("runs/nb/students/fsbbt__lenet5-half__seed1.pt", ["seven.png"])
    fsbbt.distill("http://127.0.0.1:8000", "my-images", "runs/mine")  # your teacher, your images

See ``examples/distill_digits.py`` for the pipeline piece by piece.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name → module that defines it (imported on first access)
_API: dict[str, str] = {
    # data
    "load_dataset": "fsbbt.data",
    "ImageDataset": "fsbbt.data",
    "sample_fewshot_indices": "fsbbt.data",
    # models
    "build_classifier": "fsbbt.models",
    "build_cvae": "fsbbt.models",
    # teacher
    "QueryOracle": "fsbbt.teacher",
    "LocalTeacher": "fsbbt.teacher",
    "train_teacher": "fsbbt.teacher.train_local",
    "ensure_teacher": "fsbbt.teacher.train_local",
    # synthesis
    "mixup_from_fewshot": "fsbbt.synth",
    "CvaeConfig": "fsbbt.synth",
    "train_cvae": "fsbbt.synth",
    "sample_cvae": "fsbbt.synth",
    # training and evaluation
    "TrainRecipe": "fsbbt.train",
    "TrainHistory": "fsbbt.train",
    "fit_classifier": "fsbbt.train",
    "evaluate_classifier": "fsbbt.train",
    "predict_probabilities": "fsbbt.train",
    "init_distributed": "fsbbt.core.distributed",
    # methods and experiments
    "FewShotSet": "fsbbt.methods",
    "MethodContext": "fsbbt.methods",
    "get_method": "fsbbt.methods",
    "load_config": "fsbbt.experiment.config",
    "run_experiment": "fsbbt.experiment.runner",
    "TeacherConfig": "fsbbt.config.schema",
    "distill": "fsbbt.experiment.distill",
    "Method": "fsbbt.methods",
    # shipping
    "export_student": "fsbbt.ship",
    "predict": "fsbbt.ship",
    "load_shipped_model": "fsbbt.ship",
    "load_student": "fsbbt.ship",
    "save_student": "fsbbt.ship",
    "StudentInfo": "fsbbt.ship",
    "FsbbtError": "fsbbt.core.errors",
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    """Import the defining module of a public name on first use (PEP 562)."""
    if name not in _API:
        raise AttributeError(f"module 'fsbbt' has no attribute {name!r}")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
