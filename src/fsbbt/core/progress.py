"""Progress bars for long loops, silenced in quiet mode (CI, tests, ``--quiet``).

One switch for the whole process so that library code can show progress without
every caller threading a flag through.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

T = TypeVar("T")

console = Console(stderr=True)
_quiet = os.environ.get("FSBBT_QUIET", "") not in ("", "0") or os.environ.get("CI") == "true"


def set_quiet(quiet: bool) -> None:
    """Turn progress bars and status lines off (True) or on (False) for this process."""
    global _quiet
    _quiet = quiet


def is_quiet() -> bool:
    return _quiet


def status(message: str) -> None:
    """Print a one-line status message to stderr unless quiet."""
    if not _quiet:
        console.print(message, highlight=False, markup=False)


class _Bar:
    """A handle to advance one progress bar and show a short live metric."""

    def __init__(self, progress: Progress | None, task_id: int | None) -> None:
        self._progress = progress
        self._task_id = task_id

    def advance(self, steps: float = 1.0, **metrics: float) -> None:
        if self._progress is None or self._task_id is None:
            return
        text = "  ".join(f"{k}={v:.4g}" for k, v in metrics.items())
        self._progress.update(self._task_id, advance=steps, metrics=text)


_plain = False
PLAIN_INTERVAL_SECONDS = 20.0
"""How often a plain progress line is printed (and once when the loop ends)."""


def set_plain(plain: bool) -> None:
    """Print progress as a plain line every :data:`PLAIN_INTERVAL_SECONDS` instead of a live
    bar: for worker processes, whose bars would overwrite each other's, and for output
    that is not a terminal (a log file), where a live bar is cut mid-line."""
    global _plain
    _plain = plain


def is_plain() -> bool:
    return _plain or not console.is_terminal


class _PlainBar:
    """The count, rate and ETA of a loop as one line every few seconds."""

    def __init__(self, description: str, total: float, unit: str, completed: float = 0.0) -> None:
        self._description, self._total, self._unit = description, total, unit
        self._done = self._done_before = completed
        self._started = self._printed = time.monotonic()
        self._text = ""

    def advance(self, steps: float = 1.0, **metrics: float) -> None:
        self._done += steps
        if metrics:
            self._text = "  ".join(f"{k}={v:.4g}" for k, v in metrics.items())
        if time.monotonic() - self._printed >= PLAIN_INTERVAL_SECONDS:
            self.print_line()

    def print_line(self) -> None:
        self._printed = now = time.monotonic()
        elapsed = now - self._started
        rate = (self._done - self._done_before) / elapsed if elapsed > 0 else 0.0
        left = (self._total - self._done) / rate if rate > 0 else float("nan")
        percent = 100 * self._done / self._total if self._total else 100.0
        eta = "--" if left != left else _clock(left)
        console.print(
            f"{self._description}: {self._done:,.0f}/{self._total:,.0f} {self._unit} ({percent:.0f} %), "
            f"{rate:,.1f} {self._unit}/s, {_clock(elapsed)} elapsed, ETA {eta}  {self._text}".rstrip(),
            highlight=False,
            markup=False,
            soft_wrap=True,
        )


def _clock(seconds: float) -> str:
    minutes, second = divmod(int(seconds), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}:{minute:02d}:{second:02d}"


@contextmanager
def bar(
    description: str, total: float, unit: str = "it", completed: float = 0.0
) -> Iterator[_Bar | _PlainBar]:
    """A progress bar with count, rate and ETA; plain lines where a live bar cannot be
    drawn (:func:`set_plain`); a no-op in quiet mode.

    ``completed`` is work an earlier process did (a resumed training): it fills the bar
    but not the rate, which would otherwise promise an ETA of minutes for hours of work.
    """
    if _quiet:
        yield _Bar(None, None)
        return
    if is_plain():
        plain = _PlainBar(description, total, unit, completed)
        yield plain
        plain.print_line()
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        _RateColumn(unit),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[metrics]}"),
        console=console,
        transient=False,
    )
    with progress:
        task_id = progress.add_task(description, total=total, completed=completed, metrics="")
        yield _Bar(progress, task_id)


class _RateColumn(TextColumn):
    """Items per second, in the unit of the loop (images/s, epochs/s)."""

    def __init__(self, unit: str) -> None:
        super().__init__("")
        self._unit = unit

    def render(self, task):  # type: ignore[override]
        speed = task.finished_speed or task.speed
        return Text("  -- " + self._unit + "/s" if speed is None else f"{speed:8.1f} {self._unit}/s")


def track(items: Iterable[T], description: str, total: int, unit: str = "it") -> Iterator[T]:
    """Iterate with a progress bar."""
    with bar(description, total, unit) as progress_bar:
        for item in items:
            yield item
            progress_bar.advance()
