"""Widening: the efforts a filtered index search that left queries short is tried again at.

A filtered graph walk (or IVF probe) at a low effort can run out of matching neighbours before
it has ``k`` of them: the query is *short*. Searching it again at twice the effort reaches
matches the narrow search stopped short of, and is cheaper than the exact scan of every match
that otherwise completes it, but only while the match set is large: a walk at effort ``e``
under a filter keeping a fraction ``s`` of the rows expands about ``e / s`` nodes of ``2 m``
neighbours each (a graph distance, read at random, costing about :data:`WALK_COST` scanned
rows), an IVF search at ``nprobe`` scans about ``nprobe / nlist`` of the rows. Efforts whose
estimated cost reaches the exact scan's are not tried: the scan answers exactly for less.
"""

from __future__ import annotations

#: How many rows an exact scan reads for the cost of one graph distance (random access, heap
#: upkeep) in the estimate above.
WALK_COST = 4.0
#: The most times a short query is searched again before the exact completion.
MAX_WIDENINGS = 3


def widening(knob: str, effort: int, *, n_match: int, n_live: int, m: int = 32, nlist: int = 0) -> list[int]:
    """The efforts, doubling from ``effort`` (at most :data:`MAX_WIDENINGS`), at which queries
    a filtered search left short are searched again, each estimated cheaper than an exact scan
    of the ``n_match`` matching rows out of ``n_live``; empty when none is.

    Args:
        knob: ``"ef_search"`` (HNSW, ``m`` its graph degree) or ``"nprobe"`` (IVF with ``nlist``
            cells; the effort never exceeds ``nlist``).
        effort: the effort the search used.
    """
    out: list[int] = []
    sel = n_match / max(n_live, 1)
    for _ in range(MAX_WIDENINGS):
        nxt = 2 * effort
        if knob == "nprobe":
            nxt = min(nxt, nlist) if nlist else nxt
            cost = nxt / max(nlist, 1) * n_live
        else:
            cost = nxt / max(sel, 1e-12) * 2 * m * WALK_COST
        if nxt <= effort or cost >= n_match:
            break
        out.append(nxt)
        effort = nxt
    return out
