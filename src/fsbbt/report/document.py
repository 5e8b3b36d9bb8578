"""A report as a list of blocks, rendered to Markdown and to one self-contained HTML page.

One structure, two renderers, so the two files always say the same thing. The HTML
embeds every image as base64 and its style inline: it opens anywhere, offline, alone.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class TableBlock:
    headers: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Figure:
    """A PNG in the report directory; Markdown links it, HTML embeds it."""

    path: Path
    caption: str


Block = Heading | Paragraph | TableBlock | Figure

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
    "color:#222}table{border-collapse:collapse;margin:1em 0;font-size:14px}"
    "th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}"
    "th:first-child,td:first-child{text-align:left;font-family:monospace}"
    "th{background:#f3f3f3}figure{margin:1em 0}img{max-width:100%}"
    "figcaption{color:#555;font-size:13px}"
)


def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(title: str, blocks: list[Block], base_dir: Path) -> str:
    """Markdown with images linked relative to ``base_dir`` (where report.md is written)."""
    lines = [f"# {title}", ""]
    for block in blocks:
        if isinstance(block, Heading):
            lines += [f"{'#' * block.level} {block.text}", ""]
        elif isinstance(block, Paragraph):
            lines += [block.text, ""]
        elif isinstance(block, TableBlock):
            lines.append("| " + " | ".join(map(_markdown_cell, block.headers)) + " |")
            lines.append("|" + "|".join(["---"] + ["---:"] * (len(block.headers) - 1)) + "|")
            lines += ["| " + " | ".join(map(_markdown_cell, row)) + " |" for row in block.rows]
            lines.append("")
        else:
            relative = block.path.relative_to(base_dir).as_posix()
            lines += [f"![{block.caption}]({relative})", "", f"*{block.caption}*", ""]
    return "\n".join(lines)


def to_html(title: str, blocks: list[Block]) -> str:
    """One HTML page, images inlined as base64 data URIs, no external asset."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(f"<h{block.level}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            parts.append(f"<p>{html.escape(block.text)}</p>")
        elif isinstance(block, TableBlock):
            header = "".join(f"<th>{html.escape(h)}</th>" for h in block.headers)
            body = "".join(
                "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in block.rows
            )
            parts.append(f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>")
        else:
            encoded = base64.b64encode(block.path.read_bytes()).decode("ascii")
            parts.append(
                f'<figure><img alt="{html.escape(block.caption)}" '
                f'src="data:image/png;base64,{encoded}">'
                f"<figcaption>{html.escape(block.caption)}</figcaption></figure>"
            )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
