"""Stand-alone HNSW libraries, with vecnest's graph parameters (M=32, ef_construction=128):

* ``hnswlib`` — ``Index(space="ip")``, knob ``ef`` (``set_ef``). Filters through
  ``knn_query(filter=callable)``, the only filter its Python API offers: the callable is the
  ``__getitem__`` of a Python list of bools built once per workload from the cached mask (the
  cheapest callable found: no lambda frame, returns real bools). When the filtered walk finds
  fewer than ``k`` labels hnswlib raises; the adapter then asks for fewer (timed), as an
  application must.
* ``usearch`` — ``Index(ndim, metric="ip", dtype="f32", connectivity=32, expansion_add=128)``,
  knob ``expansion_search``. Its Python API has no filtered search (predicate callbacks exist in
  C/C++ only), so a filtered query is what an application would write: search
  ``k / selectivity × 2`` candidates (from the cached mask's match count), keep those the cached
  mask allows, and double the count until ``k`` are found or every row was asked for.

CHANGES (issue 11): M=32 / ef_construction=128 for both (were 16/200 and 16/128); masks cached
per workload (hnswlib evaluated the predicate inside every timed query); usearch now runs the
filtered workloads (post-filter with the cached mask) instead of none; the ef grid shared with
every graph index.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from peers.predicates import Columns, Pred
from peers.systems import EF_GRID, HNSW_EF_CONSTRUCTION, HNSW_M, System, tree_bytes


class Hnswlib(System):
    name = "hnswlib"
    family = "hnswlib"
    distributions = ("hnswlib",)
    needs_metas = False
    knob_name = "ef"
    filter_note = "knn_query(filter=allowed.__getitem__), allowed = list of bools from the mask computed once per workload (untimed); fewer than k found → k halved and retried (timed)"

    @classmethod
    def check(cls) -> None:
        import hnswlib  # noqa: F401

    def settings(self) -> dict[str, Any]:
        return {"index": "hnswlib.Index(space='ip', dim=d)", "M": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION, "knob": f"ef (set_ef), grid {list(EF_GRID)}", "query_threads": 1}

    def build(self, base: np.ndarray, metas: list[dict[str, Any]] | None, cols: Columns | None) -> dict[str, Any]:
        import hnswlib

        self.cols = cols
        self.index = hnswlib.Index(space="ip", dim=self.dim)
        self.index.init_index(max_elements=len(base), M=HNSW_M, ef_construction=HNSW_EF_CONSTRUCTION, random_seed=100)
        self.index.add_items(base, np.arange(len(base)), num_threads=self.build_threads)
        self.index.save_index(str(self.workdir / "index.hnswlib"))
        return {}

    def open(self, cols: Columns | None) -> dict[str, Any]:
        import hnswlib

        self.cols = cols
        self.index = hnswlib.Index(space="ip", dim=self.dim)
        self.index.load_index(str(self.workdir / "index.hnswlib"), max_elements=self.n)
        self.index.set_num_threads(1)
        return {"load_index": "whole index in RAM"}

    def knobs(self) -> list[dict[str, Any]]:
        return [{"ef": v} for v in EF_GRID]

    def set_knob(self, knob: dict[str, Any]) -> None:
        self.index.set_ef(int(knob.get("ef", 10)))
        self.knob = dict(knob)

    def prepare_filter(self, pred: Pred | None) -> Any:
        if not pred:
            return None
        return self.cols.mask(pred).tolist().__getitem__

    def search(self, q: np.ndarray, k: int, flt: Any) -> np.ndarray:
        if flt is None:
            labels, _ = self.index.knn_query(q, k=k, num_threads=1)
            return labels[0]
        kk = k
        while kk >= 1:
            try:
                labels, _ = self.index.knn_query(q, k=kk, num_threads=1, filter=flt)
                return labels[0]
            except RuntimeError:
                kk //= 2
        return np.empty(0, dtype=np.int64)

    def disk_bytes(self) -> int | None:
        return tree_bytes(self.workdir / "index.hnswlib")


class _PostFilter:
    """A workload's cached mask for post-filtering, with its match count."""

    def __init__(self, mask: np.ndarray) -> None:
        self.mask = mask
        self.count = int(mask.sum())


class Usearch(System):
    name = "usearch"
    family = "usearch"
    distributions = ("usearch",)
    needs_metas = False
    knob_name = "expansion_search"
    filter_note = "no filtered search in usearch's Python API: search k/selectivity×2 candidates, keep those the cached mask (computed once per workload, untimed) allows, double until k are found (timed)"

    @classmethod
    def check(cls) -> None:
        import usearch.index  # noqa: F401

    def settings(self) -> dict[str, Any]:
        return {
            "index": f"usearch.index.Index(ndim=d, metric='ip', dtype='f32', connectivity={HNSW_M}, expansion_add={HNSW_EF_CONSTRUCTION})",
            "knob": f"expansion_search, grid {list(EF_GRID)}",
            "query_threads": 1,
        }

    def build(self, base: np.ndarray, metas: list[dict[str, Any]] | None, cols: Columns | None) -> dict[str, Any]:
        from usearch.index import Index

        self.cols = cols
        self.index = Index(ndim=self.dim, metric="ip", dtype="f32", connectivity=HNSW_M, expansion_add=HNSW_EF_CONSTRUCTION)
        self.index.add(np.arange(len(base)), base, threads=self.build_threads)
        self.index.save(str(self.workdir / "index.usearch"))
        return {"connectivity": int(self.index.connectivity), "expansion_add": int(self.index.expansion_add)}

    def open(self, cols: Columns | None) -> dict[str, Any]:
        from usearch.index import Index

        self.cols = cols
        self.index = Index.restore(str(self.workdir / "index.usearch"))
        return {"restore": "Index.restore (whole index in RAM)"}

    def knobs(self) -> list[dict[str, Any]]:
        return [{"expansion_search": v} for v in EF_GRID]

    def set_knob(self, knob: dict[str, Any]) -> None:
        self.index.expansion_search = int(knob.get("expansion_search", 64))
        self.knob = dict(knob)

    def prepare_filter(self, pred: Pred | None) -> Any:
        if not pred:
            return None
        return _PostFilter(self.cols.mask(pred))

    def search(self, q: np.ndarray, k: int, flt: Any) -> Any:
        if flt is None:
            return self.index.search(q, k, threads=1)  # (its Matches)
        if flt.count == 0:
            return np.empty(0, dtype=np.int64)
        count = min(self.n, max(k, math.ceil(2 * k * self.n / flt.count)))
        while True:
            keys = np.asarray(self.index.search(q, count, threads=1).keys, dtype=np.int64)
            hit = keys[flt.mask[keys]]
            if len(hit) >= k or count >= self.n:
                return hit[:k]
            count = min(self.n, 2 * count)

    def ids(self, res: Any) -> np.ndarray:
        return np.asarray(res if isinstance(res, np.ndarray) else res.keys, dtype=np.int64)

    def disk_bytes(self) -> int | None:
        return tree_bytes(self.workdir / "index.usearch")
