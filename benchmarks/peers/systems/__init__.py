"""One adapter per system. Every adapter gets the same float32 vectors (unit length; inner product
= cosine), the same attribute columns and the same neutral predicates, and answers ``k`` nearest
neighbours as row numbers of the indexed set.

Contract (what the worker calls, in order)::

    s = SYSTEMS[name](workdir, dim, n, build_threads)
    s.build(base, metas, cols)          # timed: ingest + index build (everything until queryable)
    s.knobs()                           # the unfiltered sweep: list of knob dicts ({} = no knob)
    f = s.prepare_filter(pred)          # once per workload, untimed (a user builds this per query,
                                        # at negligible cost; FAISS/hnswlib return the predicate and
                                        # evaluate it per query inside search, timed)
    s.set_knob(knob)                    # untimed (Chroma needs a collection update to change it)
    s.search(q, k, f)                   # timed: one query, returns (<=k,) int64 row numbers
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
    "faiss-ivfpq": "peers.systems.faiss_adapter:FaissIvfPq",
    "hnswlib": "peers.systems.hnsw_adapter:Hnswlib",
    "usearch": "peers.systems.hnsw_adapter:Usearch",
    "milvus-lite": "peers.systems.milvus_adapter:MilvusLite",
}


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
    filter_note = ""

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

    def knobs(self) -> list[dict[str, Any]]:
        return [{}]

    def prepare_filter(self, pred: Pred | None) -> Any:
        return pred

    def set_knob(self, knob: dict[str, Any]) -> None:
        self.knob = dict(knob)

    def search(self, q: np.ndarray, k: int, flt: Any) -> np.ndarray:
        raise NotImplementedError

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
