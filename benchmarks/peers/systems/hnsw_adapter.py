"""Stand-alone HNSW libraries:

* ``hnswlib`` — ``Index(space="ip")``, ``M=16``, ``ef_construction=200`` (the README's example),
  knob ``ef`` (``set_ef``); filters through ``knn_query(filter=callable)`` over a numpy mask
  evaluated per query (timed).
* ``usearch`` — ``Index(ndim, metric="ip", dtype="f32")`` with its defaults (connectivity 16,
  expansion_add 128), knob ``expansion_search``. Its Python API has no filtered search (predicate
  callbacks exist in the C/C++ API only), so it runs the unfiltered sweep only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from peers.predicates import Columns, Pred
from peers.systems import System, tree_bytes


class Hnswlib(System):
    name = "hnswlib"
    family = "hnswlib"
    distributions = ("hnswlib",)
    needs_metas = False
    filter_note = "knn_query(filter=lambda label: mask[label]) with a numpy mask evaluated per query (timed); when the filtered walk finds fewer than k labels hnswlib raises, so k is halved and retried (timed)"
    M, EF_CONSTRUCTION = 16, 200

    @classmethod
    def check(cls) -> None:
        import hnswlib  # noqa: F401

    def settings(self) -> dict[str, Any]:
        return {"index": "hnswlib.Index(space='ip', dim=d)", "M": self.M, "ef_construction": self.EF_CONSTRUCTION, "knob": "ef (set_ef)", "query_threads": 1}

    def build(self, base: np.ndarray, metas: list[dict[str, Any]] | None, cols: Columns | None) -> dict[str, Any]:
        import hnswlib

        self.cols = cols
        self.index = hnswlib.Index(space="ip", dim=self.dim)
        self.index.init_index(max_elements=len(base), M=self.M, ef_construction=self.EF_CONSTRUCTION, random_seed=100)
        self.index.add_items(base, np.arange(len(base)), num_threads=self.build_threads)
        self.index.set_num_threads(1)
        self.index.save_index(str(self.workdir / "index.hnswlib"))
        return {}

    def knobs(self) -> list[dict[str, Any]]:
        return [{"ef": v} for v in (16, 32, 64, 128, 256)]

    def set_knob(self, knob: dict[str, Any]) -> None:
        self.index.set_ef(int(knob.get("ef", 10)))
        self.knob = dict(knob)

    def search(self, q: np.ndarray, k: int, flt: Any) -> np.ndarray:
        if not flt:
            labels, _ = self.index.knn_query(q, k=k, num_threads=1)
            return labels[0].astype(np.int64)
        allowed = self.cols.mask(flt).tobytes()
        # hnswlib raises when the filtered walk finds fewer than k labels; ask for fewer, as an
        # application would (the retries are inside the timed query)
        kk = k
        while kk >= 1:
            try:
                labels, _ = self.index.knn_query(q, k=kk, num_threads=1, filter=lambda i: allowed[i])
                return labels[0].astype(np.int64)
            except RuntimeError:
                kk //= 2
        return np.empty(0, dtype=np.int64)

    def disk_bytes(self) -> int | None:
        return tree_bytes(self.workdir / "index.hnswlib")


class Usearch(System):
    name = "usearch"
    family = "usearch"
    distributions = ("usearch",)
    needs_metas = False
    supports_filter = False
    filter_note = "not run: usearch's Python API (2.x) has no filtered search; predicate callbacks are C/C++ only"

    @classmethod
    def check(cls) -> None:
        import usearch.index  # noqa: F401

    def settings(self) -> dict[str, Any]:
        return {"index": "usearch.index.Index(ndim=d, metric='ip', dtype='f32') defaults (connectivity 16, expansion_add 128)", "knob": "expansion_search", "query_threads": 1}

    def build(self, base: np.ndarray, metas: list[dict[str, Any]] | None, cols: Columns | None) -> dict[str, Any]:
        from usearch.index import Index

        self.index = Index(ndim=self.dim, metric="ip", dtype="f32")
        self.index.add(np.arange(len(base)), base, threads=self.build_threads)
        self.index.save(str(self.workdir / "index.usearch"))
        return {"connectivity": int(self.index.connectivity), "expansion_add": int(self.index.expansion_add)}

    def knobs(self) -> list[dict[str, Any]]:
        return [{"expansion_search": v} for v in (16, 32, 64, 128, 256)]

    def set_knob(self, knob: dict[str, Any]) -> None:
        self.index.expansion_search = int(knob.get("expansion_search", 64))
        self.knob = dict(knob)

    def search(self, q: np.ndarray, k: int, flt: Any) -> np.ndarray:
        m = self.index.search(q, k, threads=1)
        return np.asarray(m.keys, dtype=np.int64)

    def disk_bytes(self) -> int | None:
        return tree_bytes(self.workdir / "index.usearch")
