"""Widening: the efforts a filtered index search that left queries short is tried again at.

A filtered graph walk (or IVF probe) at a low effort can run out of matching neighbours before
it has ``k`` of them: the query is *short*. Searching it again at twice the effort reaches
matches the narrow search stopped short of, and can be cheaper than the exact scan of every
match that otherwise completes it. FAISS's filtered HNSW walk visits as many nodes as an
unfiltered one at the same effort (the filter only decides what enters the results: 4,000
rows, M 8, 175 / 259 / 409 / 669 / 1,077 distances at ef 10-160, the same at 100 %, 10 % and
3 % matching), about ``ef * m`` distances, each read at random (:data:`WALK_COST` scanned rows);
an IVF search at ``nprobe`` of ``nlist`` cells computes the distances of that fraction of the
matches. The widenings are tried while their summed estimate stays below the cost of scanning
the ``n_match`` matches (which may still follow): at most about twice the scan.
"""

from __future__ import annotations

#: How many rows an exact scan reads for the cost of one graph distance (random access, heap
#: upkeep) in the estimate above.
WALK_COST = 4.0
#: The most times a short query is searched again before the exact completion.
MAX_WIDENINGS = 3


def widening(knob: str, effort: int, *, n_match: int, m: int = 32, nlist: int = 0) -> list[int]:
    """The efforts, doubling from ``effort`` (at most :data:`MAX_WIDENINGS`), at which queries
    a filtered search left short are searched again, while their summed estimated cost stays
    below an exact scan of the ``n_match`` indexed rows that match; empty when none is.

    Args:
        knob: ``"ef_search"`` (HNSW, ``m`` its graph degree) or ``"nprobe"`` (IVF with ``nlist``
            cells; the effort never exceeds ``nlist``).
        effort: the effort the search used.
    """
    out: list[int] = []
    spent = 0.0
    for _ in range(MAX_WIDENINGS):
        nxt = 2 * effort
        if knob == "nprobe":
            nxt = min(nxt, nlist) if nlist else nxt
            cost = nxt / max(nlist, 1) * n_match
        else:
            cost = nxt * m * WALK_COST
        if nxt <= effort or spent + cost >= n_match:
            break
        spent += cost
        out.append(nxt)
        effort = nxt
    return out
