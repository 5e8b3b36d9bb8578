"""What the README promises of every command: ``--quiet``, help a user can read, and bad
input (a wrong ``--set``, a broken YAML, an impossible few-shot draw) as one line that
blames the right thing, before any work starts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer

from fsbbt.cli import app
from fsbbt.core.errors import FsbbtError
from fsbbt.experiment.config import load_config


def _commands() -> dict[str, Any]:
    """Every leaf command of the CLI by its full name ("run", "teacher serve", ...)."""
    found: dict[str, Any] = {}

    def walk(command: Any, prefix: str) -> None:
        if hasattr(command, "commands"):  # a group
            for name, sub in command.commands.items():
                walk(sub, f"{prefix} {name}".strip())
        else:
            found[prefix] = command

    walk(typer.main.get_command(app), "")
    return found


def test_every_command_takes_quiet() -> None:
    commands = _commands()
    assert {"run", "demo", "distill", "report", "predict", "export", "teacher train", "teacher serve"} <= set(
        commands
    )
    without = [
        name for name, command in commands.items() if not any("--quiet" in p.opts for p in command.params)
    ]
    assert without == []


@pytest.mark.parametrize("name", sorted(_commands()))
def test_help_shows_no_python_type_tags(name: str, run_cli) -> None:
    shown = run_cli(*name.split(), "--help").stdout
    assert "Usage: fsbbt" in shown
    tags = re.findall(r"<(?:str|int|float|bool|path|list\[[a-z]+\]|int range|float range)>", shown)
    assert tags == [], f"fsbbt {name} --help shows {tags}"


def test_teacher_serve_set_example_is_a_teacher_key(run_cli) -> None:
    shown = run_cli("teacher", "serve", "--help").stdout
    assert "student.epochs" not in shown and "input_shape" in shown


def test_a_bad_set_key_blames_set_not_the_preset() -> None:
    with pytest.raises(FsbbtError) as caught:
        load_config("digits", ["student.epoch=3"])
    message = str(caught.value)
    assert message.startswith("--set student.epoch=3: unknown config key 'student.epoch'")
    assert "digits" not in message.split(";")[0] and "\n" not in message


def test_a_bad_key_in_the_file_still_blames_the_file(tmp_path: Path) -> None:
    config = tmp_path / "mine.yaml"
    config.write_text("dataset: digits\nstudnet: {epochs: 3}\n")
    with pytest.raises(FsbbtError, match=rf"^{re.escape(str(config))}: unknown config key 'studnet'"):
        load_config(str(config), ["student.epochs=2"])


def test_a_bad_set_value_is_one_line() -> None:
    with pytest.raises(FsbbtError) as caught:
        load_config("digits", ["student.epochs=[3"])
    assert str(caught.value).startswith("--set student.epochs=[3: the value is not valid YAML")
    assert "\n" not in str(caught.value)


def test_broken_yaml_is_one_line_with_line_and_column(tmp_path: Path, run_cli) -> None:
    config = tmp_path / "broken.yaml"
    config.write_text("dataset: digits\nstudent: {epochs: 5\nteacher:\n  arch: lenet5\n")
    failed = run_cli("run", config, "--out", tmp_path / "out", check=False)
    assert failed.returncode == 2
    message = failed.stderr.strip()
    assert "\n" not in message and "Traceback" not in message
    assert re.search(r"broken\.yaml is not valid YAML \(.* at line 3, column \d+\); fix the file$", message)
    assert not (tmp_path / "out").exists()


def test_an_impossible_fewshot_draw_is_refused_before_the_teacher_trains(tmp_path: Path, run_cli) -> None:
    failed = run_cli("run", "digits", "--out", tmp_path / "out", "--set", "n_fewshot=15", check=False)
    assert failed.returncode == 2
    assert "n_fewshot=15 is not a multiple of the 10 classes" in failed.stderr
    assert "teacher" not in failed.stderr  # nothing was trained
    assert not (tmp_path / "out").exists()
