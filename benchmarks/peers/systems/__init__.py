"""One adapter per system. Every adapter gets the same float32 vectors (unit length; inner product
= cosine), the same attribute columns and the same neutral predicates, and answers ``k`` nearest
neighbours as row numbers of the indexed set.

Each adapter is written the way that library's own documentation says to use it, with the
advantages a competent user would take (see ``CHANGES`` in each module and BENCHMARKS.md):
graph indexes use vecnest's parameters (M=32, efConstruction=128); filter masks / bitmaps of
libraries without a metadata store are computed once per workload, outside the timed query (an
application caches them, as vecnest caches its filter bitmaps); dates are numeric where the
library compares strings slowly or not at all.

Contract (what the worker calls, in order)::

    s = SYSTEMS[name](workdir, dim, n, build_threads)
    s.build(base, metas, cols)          # timed: ingest + index build (everything until queryable),
                                        # leaving the store on disk under workdir
    s.close()                           # the build process exits here ...
    s.open(cols)                        # ... and a fresh process opens the store (untimed, but
                                        # reported); systems with reopenable = False keep serving
                                        # from the build process
    s.knobs()                           # the effort sweep, cheapest first ({} = library default)
    f = s.prepare_filter(pred)          # once per workload, untimed, cached by the worker
    s.set_knob(knob)                    # untimed (Chroma needs a client rebuild to change it)
    s.ready(f)                          # untimed: per-(filter, effort) objects (FAISS parameters)
    s.search(q, k, f)                   # timed: one query, returns the system's own answer
    s.ids(res)                          # untimed: that answer as (<=k,) int64 row numbers
    s.disk_bytes()                      # bytes on disk (in-memory libraries: their saved index)
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np

from peers.predicates import Columns, Pred

#: name → "module:Class"; the order is the default order of the run.
SYSTEMS: dict[str, str] = {
    "vecnest": "peers.systems.vecnest_adapter:Vecnest",
    "vecnest-hnsw": "peers.systems.vecnest_adapter:VecnestHnsw",
    "vecnest-ivf_pq": "peers.systems.vecnest_adapter:VecnestIvfPq",
    "chroma": "peers.systems.chroma_adapter:Chroma",
    "lance-flat": "peers.systems.lance_adapter:LanceFlat",
    "lance-ivfpq": "peers.systems.lance_adapter:LanceIvfPq",
    "qdrant-local": "peers.systems.qdrant_adapter:QdrantLocal",
    "faiss-flat": "peers.systems.faiss_adapter:FaissFlat",
    "faiss-hnsw": "peers.systems.faiss_adapter:FaissHnsw",
    "faiss-hnsw-fp16": "peers.systems.faiss_adapter:FaissHnswFp16",
    "faiss-ivfpq": "peers.systems.faiss_adapter:FaissIvfPq",
    "hnswlib": "peers.systems.hnsw_adapter:Hnswlib",
    "usearch": "peers.systems.hnsw_adapter:Usearch",
    "milvus-lite": "peers.systems.milvus_adapter:MilvusLite",
}


#: The effort grid of every HNSW-style knob (ef / ef_search / expansion_search), ~√2 steps: the
#: same grid for every graph index, so "one step of the sweep" means the same everywhere.
EF_GRID = (10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)
#: The grid of IVF ``nprobe`` (cells visited per query).
NPROBE_GRID = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)
#: vecnest's HNSW parameters (``IndexConfig`` defaults), given to every graph index.
HNSW_M, HNSW_EF_CONSTRUCTION = 32, 128
#: vecnest's IVF-PQ rescoring depth (``IndexConfig.rescore_multiplier``): k × 10 candidates are
#: re-ranked with the full vectors, by every IVF-PQ system.
RESCORE_MULTIPLIER = 10


def ivf_nlist(n: int) -> int:
    """vecnest's IVF cell count for ``n`` rows (``4·√n``, at least 39 rows per cell)."""
    import math

    return max(1, min(int(4 * math.sqrt(n)), n // 39))


class Unsupported(Exception):
    """The system (or this variant of it) cannot run here; the message says why."""


def load(name: str) -> type[System]:
    """The adapter class of system ``name``."""
    module, cls = SYSTEMS[name].split(":")
    return getattr(importlib.import_module(module), cls)


class System:
    """Base adapter. Subclasses set the class attributes and implement build/search."""

    name = "?"
    family = "?"  #: the project it belongs to (for "best peer": vecnest variants are not peers)
    distributions: tuple[str, ...] = ()  #: PyPI distributions whose versions are recorded
    exact = False  #: exhaustive search (recall 1 by construction, no knob)
    supports_filter = True
    needs_metas = True  #: wants one metadata dict per row (else only the attribute columns)
    reopenable = True  #: the store can be opened by a fresh process (else it serves from the build)
    filter_note = ""
    knob_name: str | None = None  #: the effort knob swept (``None``: no knob, e.g. exact search)

    def __init__(self, workdir: Path, dim: int, n: int, build_threads: int) -> None:
        self.workdir = workdir
        self.dim = dim
        self.n = n
        self.build_threads = build_threads
        self.knob: dict[str, Any] = {}
        self.cols: Columns | None = None

    @classmethod
    def check(cls) -> None:
        """Import the library (raises ImportError / Unsupported if it cannot run here)."""

    def settings(self) -> dict[str, Any]:
        """The configuration used, for the report."""
        return {}

    def build(self, base: np.ndarray, metas: list[dict[str, Any]] | None, cols: Columns | None) -> dict[str, Any]:
        raise NotImplementedError

    def open(self, cols: Columns | None) -> dict[str, Any]:
        """Open the store ``build`` left under ``workdir`` (a fresh process). Returns details."""
        raise Unsupported(f"{self.name} cannot be reopened")

    def knobs(self) -> list[dict[str, Any]]:
        """The effort sweep, ordered by increasing effort (``[{}]``: nothing to sweep)."""
        return [{}]

    def prepare_filter(self, pred: Pred | None) -> Any:
        return pred

    def set_knob(self, knob: dict[str, Any]) -> None:
        self.knob = dict(knob)

    def ready(self, flt: Any) -> None:
        """Untimed, after ``set_knob`` and before a run of timed searches with filter ``flt``:
        build whatever per-(filter, effort) object the library reuses across queries."""

    def search(self, q: np.ndarray, k: int, flt: Any) -> Any:
        """One timed search: the system's own answer, as an application receives it (an array
        of labels, the client's result objects, ...), best first."""
        raise NotImplementedError

    def ids(self, res: Any) -> np.ndarray:
        """Untimed: the ``int64`` row labels of a :meth:`search` answer, for the recall
        bookkeeping (converting a system's string ids or result objects to the harness's labels
        is the harness's work, not the system's, so it is never inside the timed call)."""
        return np.asarray(res, dtype=np.int64)

    def disk_bytes(self) -> int | None:
        return tree_bytes(self.workdir)

    def close(self) -> None:
        """Release resources."""


def tree_bytes(path: Path) -> int:
    """Allocated bytes of every file under ``path``."""
    total = 0
    if path.is_file():
        return path.stat().st_blocks * 512
    for p in path.rglob("*"):
        if p.is_file():
            total += p.stat().st_blocks * 512
    return total
