"""``fsbbt report``: several run directories → report.md + report.html + figures.

Reads each run's results.json and the PNGs the run drew, nothing else: no model, no
ledger, no dataset, so a report is rebuilt in seconds, anywhere, without retraining.
Per dataset: the paper-style table (ours as mean ± std over seeds beside the paper's
number), for methods the runs measured at several budgets a table of accuracy per
teacher-query count, the query-efficiency curve redrawn from the merged numbers, and
each run's sample grid and training curves.
"""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fsbbt.core.errors import FsbbtError
from fsbbt.report.document import Block, Figure, Heading, Paragraph, TableBlock, to_html, to_markdown
from fsbbt.report.figures import QUERY_EFFICIENCY_FILE, plot_query_efficiency
from fsbbt.report.merge import load_run, merge_runs, query_sweeps
from fsbbt.report.paper import paper_accuracy

REPORT_MARKDOWN = "report.md"
REPORT_HTML = "report.html"
FIGURES_DIR = "figures"
RUN_FIGURES = {
    "samples.png": "images the student learns from, with the teacher's top-1 label",
    "curves.png": "training loss and test accuracy per epoch (first seed)",
}
TABLE_HEADERS = [
    "method/student",
    "ours %",
    "seeds",
    "paper %",
    "Δ",
    "macro-F1 %",
    "teacher queries",
    "s/seed",
]


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f}"


def method_rows(results: dict[str, Any]) -> list[list[str]]:
    """The paper-style table: the teacher, then each method (ours mean ± std, the paper's)."""
    dataset = results["dataset"]
    teacher = results["teacher"]
    paper_teacher = paper_accuracy(dataset, "teacher")
    teacher_ours = " / ".join(_percent(a) for a in teacher["test_accuracies"]) or "—"
    rows = [
        [
            f"teacher/{teacher['arch']}",
            teacher_ours,
            "",
            _paper(paper_teacher),
            _delta(teacher["test_accuracy"], paper_teacher),
            "",
            "",
            "",
        ]
    ]
    for key, summary in results["methods"].items():
        paper = paper_accuracy(dataset, key)
        ours = _percent(summary["accuracy_mean"])
        if len(summary["accuracy"]) > 1 and summary["accuracy_mean"] is not None:
            ours += f" ± {100 * summary['accuracy_std']:.2f}"
        seconds = summary["seconds"]
        rows.append(
            [
                key,
                ours,
                str(len(summary["seconds"])),
                _paper(paper),
                _delta(summary["accuracy_mean"], paper),
                _percent(summary["macro_f1_mean"]),
                f"{summary['teacher_queries']:,}",
                f"{sum(seconds) / len(seconds):.0f}",
            ]
        )
    return rows


def sweep_table(results: dict[str, Any]) -> TableBlock | None:
    """Accuracy per teacher-query count of every method the runs measured at several
    budgets (rows: method/student, columns: counts), or None if there is no such method."""
    sweeps = query_sweeps(results)
    if not sweeps:
        return None
    counts = sorted({point["teacher_queries"] for points in sweeps.values() for point in points})
    rows = []
    for key, points in sweeps.items():
        by_count = {point["teacher_queries"]: point for point in points}
        cells = []
        for count in counts:
            point = by_count.get(count)
            if point is None or point["accuracy_mean"] is None:
                cells.append("—")
                continue
            cells.append(f"{_percent(point['accuracy_mean'])} ± {100 * point['accuracy_std']:.2f}")
        rows.append([key, *cells])
    return TableBlock(["method/student", *(f"{count:,} queries" for count in counts)], rows)


def _scored_on(results: dict[str, Any]) -> str:
    """What the accuracies were measured on, for the dataset's paragraph."""
    if results.get("evaluated_on", "test") == "validation":
        return (
            "on training images held out of the few-shot draws (`validation_images`), not on "
            "the test split (the teacher's is on the test split)"
        )
    return "on the full test split"


def _transport_note(results: dict[str, Any]) -> str:
    """Retries and timeouts of a remote teacher, where there were any."""
    retries, timeouts = results.get("retries_in_all", 0), results.get("timeouts_in_all", 0)
    if not retries and not timeouts:
        return ""
    return f"; the teacher's requests were retried {retries:,} times ({timeouts:,} after timeouts)"


def _paper(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _delta(ours: float | None, paper: float | None) -> str:
    return "" if ours is None or paper is None else f"{100 * ours - paper:+.2f}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "run"


def _dataset_blocks(results: dict[str, Any], out_dir: Path) -> list[Block]:
    dataset = results["dataset"]
    figures = out_dir / FIGURES_DIR
    teacher = results["teacher"]
    blocks: list[Block] = [
        Heading(f"{dataset} (N = {results['n_fewshot']:,})"),
        Paragraph(
            f"Seeds {', '.join(map(str, results['seeds']))}; runs: "
            f"{', '.join(results['runs'])}. Teacher {teacher['arch']}. Accuracy is top-1 "
            "after the last epoch (no model selection), mean ± population std over seeds, "
            f"{_scored_on(results)}. Teacher queries: images one seed of the method "
            f"had labelled. Their last invocations sent {results['queries_sent']:,} "
            f"queries; their run directories have paid for {results['queries_paid']:,} "
            "answers in all (methods and re-runs share answers through the ledger)"
            + _transport_note(results)
            + "."
        ),
        TableBlock(TABLE_HEADERS, method_rows(results)),
    ]
    if len(teacher["test_accuracies"]) > 1:
        blocks.append(
            Paragraph(
                "The merged runs used different teachers (accuracies above); "
                "their students are not strictly comparable."
            )
        )
    sweep = sweep_table(results)
    if sweep is not None:
        blocks += [
            Heading(f"{dataset}: accuracy against teacher queries across runs", level=3),
            Paragraph(
                "Methods the runs measured at more than one query count (one run per budget, "
                "`benchmarks/query_efficiency.py`): accuracy %, mean ± population std over "
                "the seeds at that count; a column is the method's own teacher queries, the "
                "N few images included. In the table above they are `METHOD/ARCH @ QUERIES`."
            ),
            sweep,
        ]
    curve = figures / f"{_slug(dataset)}-{QUERY_EFFICIENCY_FILE}"
    plot_query_efficiency(results, curve)
    blocks.append(
        Figure(
            curve,
            f"{dataset}: student accuracy against teacher queries "
            "(BBKD per round, or per run where the runs differ in budget; FS-BBT per "
            "synthetic budget; Standard-KD at N)",
        )
    )
    for index, run in enumerate(results["runs"]):
        for name, caption in RUN_FIGURES.items():
            source = Path(run) / name
            if source.is_file():
                target = figures / f"{_slug(dataset)}-run{index + 1}-{_slug(Path(run).name)}-{name}"
                shutil.copyfile(source, target)
                blocks.append(Figure(target, f"{dataset}, run {Path(run).name}: {caption}"))
    return blocks


def build_report(run_dirs: list[Path], out_dir: Path) -> tuple[Path, Path]:
    """Write report.md, report.html and figures/ in ``out_dir``; return the two files."""
    if not run_dirs:
        raise FsbbtError("no run directory given; pass one or more OUT directories of `fsbbt run`")
    merged = merge_runs([(run_dir, load_run(run_dir)) for run_dir in run_dirs])
    (out_dir / FIGURES_DIR).mkdir(parents=True, exist_ok=True)
    blocks: list[Block] = [
        Paragraph(
            f"Built {datetime.now(UTC).isoformat(timespec='seconds')} from "
            f"{len(run_dirs)} run(s) by `fsbbt report`, from their results.json and figures only. "
            "The paper's numbers are Nguyen et al., ECCV 2022 (its results table); its BBKD numbers come "
            "from the BBKD paper, with slightly different teachers."
        )
    ]
    for results in merged:
        blocks += _dataset_blocks(results, out_dir)
    title = "fsbbt report: " + ", ".join(results["dataset"] for results in merged)
    markdown = out_dir / REPORT_MARKDOWN
    page = out_dir / REPORT_HTML
    markdown.write_text(to_markdown(title, blocks, out_dir))
    page.write_text(to_html(title, blocks))
    return markdown, page
