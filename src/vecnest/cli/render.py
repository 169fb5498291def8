"""Terminal output for the CLI: result tables, store summaries, ingestion progress."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from vecnest.records import Hit


class _RateColumn(ProgressColumn):
    """Documents per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} docs/s" if speed else "- docs/s", style="cyan")


@contextmanager
def ingest_progress(console: Console, total: int | None, label: str) -> Iterator[Any]:
    """A progress bar with docs/s; yields ``advance(n)``."""
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)


def _snippet(text: str | None, width: int) -> str:
    if not text:
        return ""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _meta_summary(meta: dict[str, Any], width: int = 48) -> str:
    parts = []
    for key, value in meta.items():
        if isinstance(value, list):
            value = ",".join(map(str, value[:3])) + ("…" if len(value) > 3 else "")
        parts.append(f"{key}={value}")
    return _snippet(" ".join(parts), width)


def hits_table(query: str, hits: list[Hit], elapsed_ms: float, show_meta: tuple[str, ...]) -> Table:
    """A table of search results."""
    table = Table(
        title=f"[bold]{_snippet(query, 80)}[/]  ({len(hits)} hits, {elapsed_ms:.1f} ms)",
        title_justify="left",
        show_lines=False,
    )
    table.add_column("#", justify="right", style="dim")
    table.add_column("score", justify="right", style="green")
    table.add_column("id", style="cyan", no_wrap=True)
    table.add_column("text", ratio=3)
    table.add_column("metadata", ratio=2, style="dim")
    for rank, hit in enumerate(hits, 1):
        meta = {k: hit.metadata[k] for k in show_meta if k in hit.metadata} if show_meta else hit.metadata
        table.add_row(str(rank), f"{hit.score:.4f}", hit.id, _snippet(hit.text, 90), _meta_summary(meta))
    return table


def info_table(info: dict[str, Any]) -> Table:
    """A table of the collections in a store."""
    table = Table(
        title=f"[bold]{info['path']}[/]  format v{info['format_version']}, "
        f"{human_bytes(info['disk_bytes'])} on disk",
        title_justify="left",
    )
    for col, justify in (
        ("collection", "left"),
        ("documents", "right"),
        ("dim", "right"),
        ("metric", "left"),
        ("model", "left"),
        ("vectors", "right"),
        ("docs+metadata", "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for c in info["collections"]:
        table.add_row(
            c["name"],
            f"{c['count']:,}",
            str(c["dim"]),
            c["metric"],
            c["model"] or "(precomputed vectors)",
            human_bytes(c["vector_bytes"]),
            human_bytes(c["document_bytes"]),
        )
    return table


def human_bytes(n: int | None) -> str:
    """``1536000`` → ``'1.5 MB'``."""
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1000
    return f"{n} B"


def hits_json(hits: list[Hit]) -> str:
    """Results as JSON lines for scripts."""
    return "\n".join(
        json.dumps({"id": h.id, "score": h.score, "text": h.text, "metadata": h.metadata}, ensure_ascii=False)
        for h in hits
    )
