"""Chroma (``chromadb``) embedded: ``PersistentClient(path)``; HNSW configured through the
collection ``configuration`` (Chroma's documented way) with vecnest's graph parameters
(``max_neighbors`` 32, ``ef_construction`` 128), space ``ip`` (the vectors are unit length, so
inner product = cosine). The sweep changes ``ef_search`` with ``collection.modify(configuration=
{"hnsw": {"ef_search": …}})``, untimed, between runs; the loaded segment keeps its old value until
the client is rebuilt, so the adapter rebuilds it (untimed). Filters are Chroma ``where``
clauses; range operators compare numbers only, so dates use the numeric ``date_int`` column.

CHANGES (issue 11): graph parameters 32/128 (were Chroma's defaults 16/100); ef grid shared with
every graph index, swept per workload; the store is reopened by a fresh process for serving.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from peers.predicates import Columns, Pred, to_chroma
from peers.systems import EF_GRID, HNSW_EF_CONSTRUCTION, HNSW_M, System

HNSW = {"space": "ip", "ef_construction": HNSW_EF_CONSTRUCTION, "max_neighbors": HNSW_M, "ef_search": 100}


class Chroma(System):
    name = "chroma"
    family = "chroma"
    distributions = ("chromadb",)
    knob_name = "ef_search"
    filter_note = "where= (metadata filter, evaluated by Chroma before/with the HNSW search); $gt/$gte compare numbers only, so dates use date_int"

    @classmethod
    def check(cls) -> None:
        import chromadb  # noqa: F401

    def settings(self) -> dict[str, Any]:
        return {
            "client": "chromadb.PersistentClient(path)",
            "hnsw": dict(HNSW),
            "add": f"collection.add(ids, embeddings, metadatas) in batches of client.get_max_batch_size() ({getattr(self, 'batch', '?')})",
            "query": "collection.query(query_embeddings=[q], n_results=10, where=..., include=['distances'])",
            "knob": f"ef_search (collection.modify + client rebuild, untimed), grid {list(EF_GRID)}",
        }

    def build(self, base: np.ndarray, metas: list[dict[str, Any]] | None, cols: Columns | None) -> dict[str, Any]:
        import chromadb

        self.client = chromadb.PersistentClient(path=str(self.workdir / "chroma"))
        self.col = self.client.create_collection("bench", configuration={"hnsw": dict(HNSW)}, embedding_function=None)
        self.batch = int(self.client.get_max_batch_size())
        for s in range(0, len(base), self.batch):
            e = min(s + self.batch, len(base))
            self.col.add(
                ids=[str(i) for i in range(s, e)],
                embeddings=base[s:e],
                metadatas=metas[s:e] if metas is not None else None,
            )
        self._ef = HNSW["ef_search"]
        # a first query makes sure the index is loaded and queryable
        self.col.query(query_embeddings=base[:1], n_results=1, include=["distances"])
        return {"max_batch_size": self.batch}

    def open(self, cols: Columns | None) -> dict[str, Any]:
        import chromadb

        self.client = chromadb.PersistentClient(path=str(self.workdir / "chroma"))
        self.col = self.client.get_collection("bench", embedding_function=None)
        self._ef = None  # the first set_knob applies its ef_search
        return {"client": "chromadb.PersistentClient(path).get_collection"}

    def knobs(self) -> list[dict[str, Any]]:
        return [{"ef_search": v} for v in EF_GRID]

    def set_knob(self, knob: dict[str, Any]) -> None:
        ef = int(knob.get("ef_search", HNSW["ef_search"]))
        if ef != self._ef:
            # modify() stores the new ef_search, but the HNSW segment already loaded in this
            # process keeps the old one (measured: recall unchanged) until the client is rebuilt
            import chromadb
            from chromadb.api.client import SharedSystemClient

            self.col.modify(configuration={"hnsw": {"ef_search": ef}})
            SharedSystemClient.clear_system_cache()
            self.client = chromadb.PersistentClient(path=str(self.workdir / "chroma"))
            self.col = self.client.get_collection("bench", embedding_function=None)
            self.col.query(query_embeddings=[[0.0] * (self.dim - 1) + [1.0]], n_results=1, include=["distances"])
            self._ef = ef
        self.knob = dict(knob)

    def prepare_filter(self, pred: Pred | None) -> Any:
        return to_chroma(pred) if pred else None

    def search(self, q: np.ndarray, k: int, flt: Any) -> Any:
        return self.col.query(query_embeddings=q[None, :], n_results=k, where=flt, include=["distances"])

    def ids(self, res: Any) -> np.ndarray:
        return np.asarray([int(i) for i in res["ids"][0]], dtype=np.int64)
