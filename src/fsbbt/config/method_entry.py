"""Entries of ``methods``: ``METHOD/ARCH`` or a variant ``METHOD[key=value,...]/ARCH``.

A variant runs a method with some config keys changed, inside the same run as the
others: same teacher, same ledger, same few-shot draws, so its numbers sit in the same
results.json and table (``fsbbt[synthesis.budget=4800]/lenet5-half`` is FS-BBT with a
tenth of the synthetic budget). Only the sections that say how a method trains may
change (the student's and the methods' own, as the schema lists them); the teacher and
the data are the run's.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

_ENTRY = re.compile(r"^(?P<method>[A-Za-z0-9_-]+)(?:\[(?P<overrides>.*)\])?/(?P<arch>[A-Za-z0-9_.-]+)$")


@dataclass(frozen=True)
class MethodSpec:
    """One ``methods`` entry, parsed. ``key`` is the entry as written (results.json's key)."""

    method: str
    arch: str
    overrides: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.method}{self.variant}/{self.arch}"

    @property
    def variant(self) -> str:
        """``[a=1,b=2]`` or the empty string."""
        return f"[{','.join(self.overrides)}]" if self.overrides else ""

    @property
    def file_stem(self) -> str:
        """A file-name-safe name of the method and its variant (stage files, students)."""
        if not self.overrides:
            return self.method
        readable = re.sub(r"[^A-Za-z0-9.=-]+", "_", ",".join(self.overrides)).strip("_")
        digest = hashlib.sha256(self.variant.encode()).hexdigest()[:8]
        return f"{self.method}-{readable}-{digest}"


def split_top_level(text: str) -> list[str]:
    """Split at commas outside brackets, so ``bbkd.weights=[0.3,0.5]`` stays whole."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char in "[{"
        depth -= char in "]}"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part.strip() for part in parts if part.strip()]


def parse_method_entry(entry: str, variant_sections: tuple[str, ...] | None = None) -> MethodSpec:
    """Parse one entry; a ValueError says what is wrong with it (pydantic reports it).

    ``variant_sections``: the config sections a variant may change; None accepts any
    (for reading keys back from a results.json, which was checked when it was written).
    """
    match = _ENTRY.match(entry.strip())
    if match is None:
        raise ValueError(
            f"method {entry!r} must be written METHOD/STUDENT_ARCH or "
            "METHOD[key=value,...]/STUDENT_ARCH, e.g. fsbbt/lenet5-half"
        )
    overrides = tuple(split_top_level(match["overrides"] or ""))
    for assignment in overrides:
        dotted = assignment.split("=", 1)[0].strip()
        section_allowed = variant_sections is None or dotted.split(".")[0] in variant_sections
        if "=" not in assignment or not section_allowed or "." not in dotted:
            sections = ", ".join(variant_sections or ("student",))
            raise ValueError(
                f"variant {assignment!r} in method {entry!r} must be KEY=VALUE with "
                f"KEY in one of the sections {sections}, e.g. "
                "synthesis.budget=4800"
            )
    return MethodSpec(match["method"], match["arch"], overrides)
