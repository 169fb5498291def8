"""``vecnest tune``: the command-line core of the memory-budget tuner (see
:mod:`vecnest.compress.tune`).

The command itself (``--db PATH -c NAME``) is wired in ``cli/main.py``, which opens the
collection through the public API and hands this module the collection's vectors and, for
``--apply``, a callable that switches the collection to the chosen pipeline::

    vecnest tune --db PATH -c NAME --budget 48B | --min-quality 0.99 [--apply] [--plot FILE]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
from rich.console import Console

from vecnest.compress import tune
from vecnest.errors import BudgetError


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The tuner's options (``--db`` and ``-c`` are the caller's)."""
    goal = p.add_mutually_exclusive_group(required=True)
    goal.add_argument("--budget", help="RAM bytes per vector, e.g. 48B, 24, or a fraction of float32 such as 1/32")
    goal.add_argument("--min-quality", type=float, help="smallest quality to accept, e.g. 0.99 (recall@10 vs float32, or nDCG@10 ratio with qrels)")
    p.add_argument("--apply", action="store_true", help="switch the collection to the chosen pipeline (codes are rebuilt from the stored float32 vectors)")
    p.add_argument("--plot", type=Path, default=Path("tune-pareto.png"), help="where to draw the quality-vs-RAM Pareto front (PNG)")
    p.add_argument("--candidates", default=None, help="';'-separated pipelines to try instead of the default grid")
    p.add_argument("--multipliers", default="10,20,40", help="first-tier rescore multipliers to try (comma list)")
    p.add_argument("--queries", type=int, default=200, help="held-out rows used as queries when there are no qrels")
    p.add_argument("-k", type=int, default=10, help="results per query the quality is measured at")


def run(args: argparse.Namespace, vectors: np.ndarray, console: Console, *, l2: bool = False, apply: Callable[[str], None] | None = None) -> int:
    """Evaluate, print the table, draw the plot, pick (and apply); returns the exit status.

    Args:
        args: parsed with :func:`add_arguments`.
        vectors: ``(n, dim) float32`` rows of the collection (live rows).
        console: where the table and messages go.
        l2: the collection's metric is L2.
        apply: switches the collection to a pipeline string (required with ``--apply``).
    """
    candidates = [c.strip() for c in args.candidates.split(";") if c.strip()] if args.candidates else None
    multipliers = tuple(int(m) for m in args.multipliers.split(",") if m.strip())
    with console.status("evaluating compression pipelines ...") as status:
        try:
            result = tune.tune(
                vectors,
                budget=args.budget,
                min_quality=args.min_quality,
                candidates=candidates,
                plot=args.plot,
                l2=l2,
                k=args.k,
                n_queries=args.queries,
                multipliers=multipliers,
                progress=lambda line: status.update(line),
            )
        except BudgetError as exc:
            measured = getattr(exc, "result", None)
            if measured is not None:
                console.print(tune.table(measured))
            console.print(f"[red]{exc}[/red]")
            return 2
    console.print(tune.table(result))
    console.print(f"Pareto plot: {args.plot}")
    assert result.choice is not None
    c = result.choice
    console.print(f"chosen: [bold]{c.pipeline}[/bold] — quality {c.quality:.4f} ({c.quality_kind}), {c.ram_bytes_per_vector:.1f} B RAM per vector")
    if args.apply:
        if apply is None:
            console.print("[red]--apply is not available here[/red]")
            return 2
        apply(c.pipeline)
        console.print(f"applied: the collection now uses {c.pipeline!r}")
    return 0
