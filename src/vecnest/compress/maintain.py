"""Tier maintenance: when a collection's code tiers are built, extended or rebuilt, and doing it.

The collection decides nothing here (as with ``index/maintain.py``): after a commit it hands the
pipeline it declares, its segment snapshot and the stored :class:`TierState`; it gets back the
new manifest and records its name and ``upto`` in its catalog. Work runs after the commit and
never turns it into an exception: on failure the old state stays valid (searches keep using it,
with the rows past it scanned exactly) and the caller logs and retries.

Rules (:func:`plan`):

- **build** (a new token, every code fitted again from the float32 rows) when there are no tiers
  yet and :data:`MIN_ROWS` rows are live, the declared pipeline differs from the stored one, the segment generation changed
  (a compaction renumbered the slots), or the collection grew :data:`REFIT_GROWTH` times since
  the codes were fitted (a sample of the first rows may not represent the rest);
- **extend** (append-only: the new rows coded with the fitted codecs) once ``delta_limit`` rows
  have been appended since the codes were last extended;
- nothing otherwise: the delta is scanned exactly at query time.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np

from vecnest.compress import storage
from vecnest.compress.spec import PipelineSpec, parse_pipeline

#: Rebuild (refit transforms and codes) once the rows have grown this many times since the fit.
REFIT_GROWTH = 4.0
#: Appended rows past the codes before they are coded (below, the exact delta scan is cheap).
DELTA_LIMIT = 10_000
#: Live rows before tiers are first built (below, exact search is fast and the fit would be poor).
MIN_ROWS = 5_000


class Action(StrEnum):
    """What :func:`plan` asks for."""

    NONE = "none"
    BUILD = "build"
    EXTEND = "extend"


@dataclass(frozen=True)
class TierState:
    """The catalog's record of a collection's tiers.

    Attributes:
        manifest: the published manifest's file name (``None``: no tiers yet).
        upto: rows ``[0, upto)`` are coded (a copy of the manifest's, for cheap checks).
    """

    manifest: str | None = None
    upto: int = 0


def plan(directory: Path, pipeline: str | PipelineSpec, state: TierState, *, n_slots: int, generation: int, delta_limit: int = DELTA_LIMIT, min_rows: int = MIN_ROWS, n_live: int | None = None) -> tuple[Action, str]:
    """What to do for a collection declaring ``pipeline`` with ``n_slots`` rows (``n_live`` of
    them live; default all); returns the action and the reason (for logs and ``explain``)."""
    live = n_slots if n_live is None else n_live
    if state.manifest is None:
        if live < max(min_rows, storage.MIN_FIT_ROWS):
            return Action.NONE, f"{live:,} live rows: tiers are built from {max(min_rows, storage.MIN_FIT_ROWS):,}"
        return Action.BUILD, "no tiers yet"
    m = storage.read_manifest(directory, state.manifest)
    spec = parse_pipeline(pipeline, m.dim)
    if str(spec) != m.pipeline:
        return Action.BUILD, f"the pipeline changed from {m.pipeline!r} to {str(spec)!r}"
    if m.generation != generation:
        return Action.BUILD, f"the segment generation changed ({m.generation} -> {generation})"
    fitted = int(m.fit.get("n_slots", m.upto)) or 1
    if n_slots >= REFIT_GROWTH * fitted and n_slots - fitted >= delta_limit:
        return Action.BUILD, f"{n_slots:,} rows, {n_slots / fitted:.1f}x the {fitted:,} the codes were fitted on"
    if n_slots - m.upto >= delta_limit:
        return Action.EXTEND, f"{n_slots - m.upto:,} rows past the codes"
    return Action.NONE, f"{n_slots - m.upto:,} rows past the codes (< {delta_limit:,}) are scanned exactly"


def bring_up_to_date(
    directory: Path,
    pipeline: str | PipelineSpec,
    state: TierState,
    vectors: np.ndarray,
    *,
    alive: np.ndarray | None,
    l2: bool,
    generation: int,
    delta_limit: int = DELTA_LIMIT,
    min_rows: int = MIN_ROWS,
    force: Action | None = None,
    progress: storage.Progress | None = None,
) -> tuple[TierState, Action, str]:
    """Run :func:`plan`'s action (or ``force``'s) over the segment snapshot ``vectors``.

    Returns:
        The new state to record (the old one when nothing was done), the action and its reason.
        Files of replaced states are not deleted here: call
        :func:`vecnest.compress.storage.remove_unreferenced` once no reader uses them.
    """
    n = int(vectors.shape[0])
    n_live = None if alive is None else int(np.count_nonzero(alive[:n]))
    action, reason = (force, "asked") if force is not None else plan(directory, pipeline, state, n_slots=n, generation=generation, delta_limit=delta_limit, min_rows=min_rows, n_live=n_live)
    if action is Action.BUILD:
        m = storage.build(directory, pipeline, vectors, l2=l2, generation=generation, alive=alive, progress=progress)
    elif action is Action.EXTEND and state.manifest is not None:
        m = storage.extend(directory, storage.read_manifest(directory, state.manifest), vectors, progress=progress)
    else:
        return state, Action.NONE, reason
    return TierState(m.name, m.upto), action, reason
