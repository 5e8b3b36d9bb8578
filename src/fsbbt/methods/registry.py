"""Method name → recipe. A new method is one new file and one entry here."""

from __future__ import annotations

from collections.abc import Callable

from fsbbt.core.errors import FsbbtError
from fsbbt.methods.base import MethodContext, MethodOutcome
from fsbbt.methods.bbkd import run_bbkd
from fsbbt.methods.fsbbt import SYNTHETIC_SET_SECTIONS, run_fsbbt
from fsbbt.methods.standard_kd import run_standard_kd
from fsbbt.methods.student_alone import run_student_alone

MethodRecipe = Callable[[MethodContext, str], MethodOutcome]

METHODS: dict[str, MethodRecipe] = {
    "student-alone": run_student_alone,
    "standard-kd": run_standard_kd,
    "fsbbt": run_fsbbt,
    "bbkd": run_bbkd,
}

# The config sections each method reads, besides the run-wide keys (dataset, N, ...).
# A finished stage stays valid when only other sections change: adding BBKD settings to
# a run does not send its finished FS-BBT stages back to training.
CONFIG_SECTIONS_READ: dict[str, tuple[str, ...]] = {
    "student-alone": ("student",),
    "standard-kd": ("student", "teacher"),
    "fsbbt": ("student", "teacher", "cvae", "synthesis"),
    "bbkd": ("student", "teacher", "synthesis", "bbkd"),
}
# Methods whose synthetic queries shrink to fit query_budget, and the config sections
# that decide which images they query. Entries with equal sections (and, for a method
# whose choice of images depends on the student, equal student architectures) query the
# same images and share one part of the budget: FS-BBT and FS-BBT* use one synthetic set.
BUDGETED_METHODS: dict[str, tuple[tuple[str, ...], bool]] = {
    # method: (sections, whether the student architecture changes the images)
    "fsbbt": (SYNTHETIC_SET_SECTIONS, False),
    "bbkd": (("student", "synthesis", "bbkd"), True),
}


def get_method(name: str) -> MethodRecipe:
    """The recipe ``run(context, arch) -> MethodOutcome`` registered as ``name``."""
    if name not in METHODS:
        raise FsbbtError(f"unknown method {name!r}; choose one of {', '.join(sorted(METHODS))}")
    return METHODS[name]
