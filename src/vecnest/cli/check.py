"""``vecnest check --db PATH [--repair] [--json]``: the store's health, one verdict per collection."""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

import vecnest

_STYLE = {"ok": "green", "note": "cyan", "damaged": "yellow", "lost": "bold red"}


def report_table(report: vecnest.CheckReport) -> Table:
    """A table: one row for the store itself, one per collection, each with its verdict."""
    action = "checked and repaired" if report.repair else "checked"
    table = Table(
        title=f"[bold]{report.root}[/]  {action}: [{_STYLE[report.severity.value]}]{report.severity.value}[/]",
        title_justify="left",
    )
    table.add_column("collection", style="cyan", no_wrap=True)
    table.add_column("documents", justify="right")
    table.add_column("state")
    table.add_column("verdict", ratio=1)
    for part in (report.store, *report.collections):
        sev = part.severity.value
        table.add_row(
            part.name if part.name is not None else "(store)",
            f"{part.documents:,}" if part.name is not None else "",
            f"[{_STYLE[sev]}]{sev}[/]",
            part.verdict,
        )
    return table


def run(db: str, console: Console, *, repair: bool, as_json: bool) -> int:
    """Run the check; print a table (or JSON); return 0 if the store is sound, 1 if not."""
    if as_json:
        report = vecnest.check(db, repair=repair)
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        with console.status("checking" + (" and repairing" if repair else "")):
            report = vecnest.check(db, repair=repair)
        console.print(report_table(report))
        for name, finding in report.findings():
            if finding.severity.value in ("damaged", "lost") and not finding.repaired:
                console.print(f"[{_STYLE[finding.severity.value]}]{finding.severity.value}[/] {name or '(store)'} / {finding.part}: {finding.message}")
    return report.exit_code
