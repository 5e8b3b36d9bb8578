"""The repository keeps its own rules: import layers, formatting, a README for users,
docs that exist, and no citation of a file outside the repository."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CODE = ["src", "tests", "benchmarks", "examples"]


def _tool(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    executable = BIN / name
    if not executable.exists():
        pytest.fail(f"{name} is not installed beside {sys.executable}; run scripts/setup")
    return subprocess.run([str(executable), *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_import_layers_hold() -> None:
    """The contracts in pyproject.toml: each subpackage imports only those below it."""
    checked = _tool("lint-imports")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_code_is_formatted_and_lint_free() -> None:
    formatted = _tool("ruff", "format", "--check", *CODE)
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr
    linted = _tool("ruff", "check", *CODE)
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_readme_is_for_users_and_the_docs_exist() -> None:
    readme = (ROOT / "README.md").read_bytes()
    assert len(readme) <= 15_000, f"README.md is {len(readme):,} bytes; move notes to docs/"
    for doc in ("docs/method.md", "docs/reproduction.md", "docs/teachers.md", "docs/scale-out.md"):
        assert (ROOT / doc).is_file(), doc
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = "scripts/setup && .venv/bin/python -m pytest -q"
    assert test_command in readme.decode() and test_command in ci


def test_no_file_cites_one_outside_the_repository() -> None:
    outside = re.compile(r"\.\./shared|(?<![\w/])method\.md")
    offenders = []
    for folder in [*CODE, "docs", "configs"]:
        for path in (ROOT / folder).rglob("*"):
            if path.suffix not in {".py", ".md", ".yaml", ".toml"} or "egg-info" in str(path):
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if outside.search(line) and "(method.md)" not in line:
                    offenders.append(f"{path.relative_to(ROOT)}:{number}")
    assert not offenders, offenders
