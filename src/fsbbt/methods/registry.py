"""Method name → its declaration. A new method is one new file and one line here."""

from __future__ import annotations

from pydantic import BaseModel

from fsbbt.core.errors import FsbbtError
from fsbbt.methods.bbkd import BBKD
from fsbbt.methods.declaration import RUN_SECTIONS, Method, declaration_problems
from fsbbt.methods.fsbbt import FSBBT
from fsbbt.methods.fsbbt_active import FSBBT_ACTIVE
from fsbbt.methods.standard_kd import STANDARD_KD
from fsbbt.methods.student_alone import STUDENT_ALONE

METHODS: dict[str, Method] = {
    method.name: method
    for method in (
        STUDENT_ALONE,
        STANDARD_KD,
        FSBBT,
        BBKD,
        FSBBT_ACTIVE,
    )
}


def check_declarations(methods: dict[str, Method]) -> None:
    """Refuse an incomplete or inconsistent declaration when the registry loads, rather
    than let a schema, fingerprint or figure silently leave the method out."""
    owned = owned_sections(methods)
    for key, method in methods.items():
        problems = declaration_problems(method, owned)
        if key != method.name:
            problems.append(f"is registered as {key!r}")
        if problems:
            raise TypeError(f"method {method.name!r}: {'; '.join(problems)}")


def get_method(name: str) -> Method:
    """The method registered as ``name``, or a one-line error listing the others."""
    if name not in METHODS:
        raise FsbbtError(f"unknown method {name!r}; choose one of {', '.join(sorted(METHODS))}")
    return METHODS[name]


def owned_sections(methods: dict[str, Method] | None = None) -> dict[str, type[BaseModel]]:
    """Config section name → model, of every registered method (each owned by one)."""
    sections: dict[str, type[BaseModel]] = {}
    for method in (METHODS if methods is None else methods).values():
        for name, model in method.sections.items():
            if name in sections or name in RUN_SECTIONS:
                raise TypeError(f"config section {name!r} is declared twice")
            sections[name] = model
    return sections


check_declarations(METHODS)
