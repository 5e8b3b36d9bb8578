"""Method name → its declaration. A new method is one new file and one line here."""

from __future__ import annotations

from fsbbt.core.errors import FsbbtError
from fsbbt.methods.bbkd import BBKD
from fsbbt.methods.declaration import Method
from fsbbt.methods.fsbbt import FSBBT
from fsbbt.methods.standard_kd import STANDARD_KD
from fsbbt.methods.student_alone import STUDENT_ALONE

METHODS: dict[str, Method] = {method.name: method for method in (
    STUDENT_ALONE,
    STANDARD_KD,
    FSBBT,
    BBKD,
)}


def get_method(name: str) -> Method:
    """The method registered as ``name``, or a one-line error listing the others."""
    if name not in METHODS:
        raise FsbbtError(f"unknown method {name!r}; choose one of {', '.join(sorted(METHODS))}")
    return METHODS[name]


def owned_sections() -> dict[str, type]:
    """Config section name → model, of every registered method (each owned by one)."""
    sections: dict[str, type] = {}
    for method in METHODS.values():
        for name, model in method.sections.items():
            if name in sections:
                raise FsbbtError(f"config section {name!r} is declared by two methods")
            sections[name] = model
    return sections
