"""The results table printed in the terminal."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from fsbbt.report.paper import paper_accuracy


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f}"


def results_table(results: dict[str, Any]) -> Table:
    """Teacher and each method: accuracy mean ± std, macro-F1, queries, seconds, paper."""
    dataset = results["dataset"]
    seeds = results["seeds"]
    title = f"{dataset}  N = {results['n_fewshot']}  seeds {seeds}"
    if results.get("evaluated_on") == "validation":
        title += f"  students scored on {results['test_images']:,} held-out training images"
    table = Table(title=title, box=box.SIMPLE_HEAD)
    # the method name must stay whole even in an 80-column terminal; numbers may squeeze
    table.add_column("method/student", no_wrap=True)
    for header in ("accuracy %", "macro-F1 %", "teacher queries", "s/seed", "paper %"):
        table.add_column(header, justify="right")
    teacher = results["teacher"]
    paper_teacher = paper_accuracy(dataset, "teacher")
    table.add_row(
        f"teacher/{teacher['arch']}",
        _percent(teacher["test_accuracy"]),
        "",
        "",
        "",
        "—" if paper_teacher is None else f"{paper_teacher:.2f}",
    )
    for key, summary in results["methods"].items():
        paper = paper_accuracy(dataset, key)
        accuracy = _percent(summary["accuracy_mean"])
        if len(seeds) > 1 and summary["accuracy_mean"] is not None:
            accuracy += f" ± {100 * summary['accuracy_std']:.2f}"
        seconds = sum(summary["seconds"]) / len(summary["seconds"])
        # escaped: a variant's [key=value] would otherwise be read as rich markup
        table.add_row(
            escape(key),
            accuracy,
            _percent(summary["macro_f1_mean"]),
            f"{summary['teacher_queries']:,}",
            f"{seconds:.1f}",
            "—" if paper is None else f"{paper:.2f}",
        )
    return table


def print_results(results: dict[str, Any], console: Console | None = None) -> None:
    """Print the table; piped to a file or a CI log it gets room for every column on one
    line (rich assumes 80 columns when it cannot ask a terminal)."""
    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=max(console.width, 120))
    console.print(results_table(results))
