"""What a method says about itself, so that nothing else has to keep a list of methods.

The registry, the config schema (each method's own section), the sections a variant may
change, the stage fingerprints (the sections a method reads), the split of a query
budget (which sections decide the images a method queries) and the query-efficiency
figure (the key that sets a method's query count) are all derived from these
declarations. A new method is one file ending in a :class:`Method` and one line in
:mod:`fsbbt.methods.registry`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from fsbbt.config.schema import RunConfig
from fsbbt.core.identity import identity

if TYPE_CHECKING:
    from fsbbt.methods.base import MethodContext, MethodOutcome


@dataclass(frozen=True)
class BudgetShare:
    """How a method's queries beyond the N few images share a run's query budget.

    Entries whose ``sections`` (and, when ``per_student``, student architecture) are
    equal query the same images and share one part of the budget: FS-BBT and FS-BBT*
    use one synthetic set, BBKD's choice of images depends on its student.
    """

    sections: tuple[str, ...]
    per_student: bool
    size_key: str
    """The dotted config key that sets how many images the method queries (a variant
    changing only this key is a point on the method's accuracy-per-query curve)."""


@dataclass(frozen=True)
class Method:
    """One method: its name, its recipe, and what it reads and reports."""

    name: str
    summary: str
    run: Callable[[MethodContext, str], MethodOutcome]
    reads: tuple[str, ...]
    """Config sections the recipe reads besides the run-wide keys: a finished stage
    stays valid when only other sections change."""
    sections: Mapping[str, type[BaseModel]] = field(default_factory=dict)
    """The config sections this method owns: name → pydantic model with defaults."""
    budget: BudgetShare | None = None
    timings: tuple[str, ...] = ()
    """Parts of its wall time it reports (``MethodOutcome.timings`` keys), each written to
    results.json as ``<name>_seconds``."""
    uses_true_labels: bool = False
    """Trains on the few images' true labels (Student-Alone): impossible on the user's
    own unlabelled images."""
    replaces: tuple[str, ...] = ()
    """Dotted keys of sections it reads that its own keys replace (fsbbt-active's
    ``active.augmentation`` for ``student.augmentation``): changing them changes nothing
    it computes, so they count in neither its stage fingerprint nor its budget share."""


RUN_SECTIONS = ("teacher", "student")
"""Sections every run has (:mod:`fsbbt.config.schema`); methods may read them."""


def declaration_problems(method: Method, owned: Mapping[str, type[BaseModel]]) -> list[str]:
    """What is missing or inconsistent in ``method``'s declaration, given every section
    the registered methods own (empty when it is complete)."""
    problems = []
    known = {*RUN_SECTIONS, *owned}
    if not method.name or not method.summary:
        problems.append("needs a name and a one-line summary")
    if not callable(method.run):
        problems.append("run must be the recipe run(context, arch) -> MethodOutcome")
    if not method.reads:
        problems.append("reads must list the config sections its recipe reads")
    for section in method.reads:
        if section not in known:
            problems.append(f"reads section {section!r}, which no method declares")
    for section, model in method.sections.items():
        if section not in method.reads:
            problems.append(f"owns section {section!r} but does not list it in reads")
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            problems.append(f"section {section!r} must be a pydantic model")
            continue
        try:
            model()
        except ValueError as exc:
            problems.append(f"section {section!r} must have a default for every key ({exc})")
    if method.budget is not None:
        for section in method.budget.sections:
            if section not in known:
                problems.append(f"budget depends on section {section!r}, which no method declares")
        section, _, key = method.budget.size_key.partition(".")
        model = owned.get(section)
        if model is None or key not in model.model_fields:
            problems.append(f"budget.size_key {method.budget.size_key!r} is not a config key")
    models = {**_run_section_models(), **owned}
    for dotted in method.replaces:
        section, _, key = dotted.partition(".")
        model = models.get(section)
        if section not in method.reads or model is None or key not in model.model_fields:
            problems.append(f"replaces {dotted!r}, which is not a key of a section it reads")
    for name in method.timings:
        if not name.isidentifier():
            problems.append(f"timing {name!r} must be a plain name (it becomes {name}_seconds)")
    return problems


def _run_section_models() -> dict[str, type[BaseModel]]:
    """The models of the sections every run has (the schema owns them, no method)."""
    return {section: RunConfig.model_fields[section].annotation for section in RUN_SECTIONS}


def settings_that_count(method: Method, config: RunConfig) -> dict[str, Any]:
    """``config``'s effective values (defaults included), without the keys ``method``
    replaces by its own."""
    settings = config.model_dump(mode="json")
    for dotted in method.replaces:
        section, _, key = dotted.partition(".")
        settings[section].pop(key, None)
    return settings


def budget_share_key(method: Method, config: RunConfig, arch: str) -> str | None:
    """The identity of the images ``method`` queries under ``config`` (None if it queries
    only the few images): entries with the same key share one budget part and, within a
    seed, one synthetic set."""
    if method.budget is None:
        return None
    settings = settings_that_count(method, config)
    parts = {section: settings[section] for section in method.budget.sections}
    if method.budget.per_student:
        parts["arch"] = arch
    return identity(
        "queried images",
        method=method.name,
        precision_matters=False,
        settings=parts,
    )
