"""Markdown helpers of the report generator: tables and number formatting (pure)."""

from __future__ import annotations

from typing import Any


def table(headers: list[str], rows: list[list[Any]], align: str | None = None) -> str:
    """A Markdown table; ``align`` is one char per column, ``l`` or ``r`` (default: first left)."""
    align = align or ("l" + "r" * (len(headers) - 1))
    sep = ["---" if a == "l" else "---:" for a in align]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(sep) + " |"]
    for r in rows:
        lines.append("| " + " | ".join(_cell(c) for c in r) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return _num(value)
    return str(value).replace("|", "\\|").replace("\n", " ")


def _num(x: float) -> str:
    if x != x:  # nan
        return "nan"
    ax = abs(x)
    if ax >= 1000:
        return f"{x:,.0f}"
    if ax >= 100:
        return f"{x:.1f}"
    if ax >= 1:
        return f"{x:.2f}"
    return f"{x:.4g}"


def ms(seconds: float) -> str:
    """Seconds as milliseconds with sensible precision."""
    v = seconds * 1e3
    return f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def pct(x: float) -> str:
    return f"{x * 100:+.1f}%"


def mib(b: float | None) -> str | None:
    """Bytes as MiB with one decimal (``None`` stays ``None``)."""
    return None if b is None else f"{b / 2**20:,.1f}"


def ratio(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}×"


def spread(sp: dict[str, Any] | None, unit: str = "×") -> str:
    """A ratio with its spread: ``0.85× [0.74–0.97]``."""
    if not sp:
        return "–"
    return f"{sp['point']:.2f}{unit} [{sp['lo']:.2f}–{sp['hi']:.2f}]"
