"""What every benchmark script shares at its edge: a console with progress bars, log lines,
the result file (with its provenance) and the regenerated report."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import RESULTS_DIR, default_shared_dir, write_json
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

Advance = Callable[[int], None]


def common_args(p: argparse.ArgumentParser, result: str, quick: str) -> None:
    """The options every single-workload benchmark takes: data folder, smoke mode, result file."""
    p.add_argument("--shared", type=Path, default=default_shared_dir(), help="folder with datasets/ and embeddings/ (default: $VECNEST_SHARED_DIR or <repo>/../shared)")
    p.add_argument("--quick", action="store_true", help=f"smoke run: {quick}")
    p.add_argument("--out", type=Path, default=RESULTS_DIR / result, help=f"result file (default benchmarks/results/{result}; use a scratch path for smoke runs)")
    p.add_argument("--no-report", action="store_true", help="do not regenerate BENCHMARKS.md")


class Session:
    """A console, a live progress display, ``log()`` and ``start_task()``."""

    def __init__(self) -> None:
        self.console = Console() if sys.stdout.isatty() else Console(width=160)
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(), console=self.console, transient=False)

    def __enter__(self) -> Session:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def log(self, msg: str) -> None:
        self.progress.console.log(msg)

    def start_task(self, label: str, total: int) -> Advance:
        task = self.progress.add_task(label, total=total)
        return lambda n=1: self.progress.advance(task, n)


def save(session: Session, path: Path, data: dict[str, Any], *, report: bool) -> None:
    """Write the result file and, unless told not to, regenerate BENCHMARKS.md."""
    write_json(path, data)
    session.console.print(f"results: {path}")
    if report:
        from report import write_report

        session.console.print(f"report: {write_report()}")
