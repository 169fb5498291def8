"""Milvus Lite (``pymilvus`` + ``milvus-lite``): ``MilvusClient("file.db")``, an explicit schema
(INT64 primary key, FLOAT_VECTOR, scalar fields, ARRAY<VARCHAR> categories), an ``HNSW`` index
with vecnest's graph parameters (``M=32``, ``efConstruction=128``, metric ``IP``; Milvus Lite
builds it in the background, so the build ends when ``describe_index`` reports every row
indexed), knob ``ef`` (``search_params``), filters as Milvus boolean expressions with numeric
dates. The store is reopened by a fresh process (``MilvusClient(file)`` + ``load_collection``);
its memory includes the Milvus Lite server process the client starts.

CHANGES (issue 11): graph parameters 32/128 (were 16/200); ef grid shared with every graph index,
swept per workload; reopened for serving.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from peers.predicates import Columns, Pred, to_milvus_expr
from peers.systems import EF_GRID, HNSW_EF_CONSTRUCTION, HNSW_M, System

BATCH = 5_000
HNSW = {"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION}


class MilvusLite(System):
    name = "milvus-lite"
    family = "milvus"
    distributions = ("pymilvus", "milvus-lite")
    knob_name = "ef"
    filter_note = 'filter="array_contains(categories, \\"cs.LG\\") and n_authors >= 30"; dates via date_int'

    @classmethod
    def check(cls) -> None:
        import milvus_lite  # noqa: F401
        import pymilvus  # noqa: F401

    def settings(self) -> dict[str, Any]:
        return {
            "client": "pymilvus.MilvusClient('<dir>/milvus.db') (Milvus Lite, in-process)",
            "index": {"index_type": "HNSW", "metric_type": "IP", "params": dict(HNSW)},
            "insert": f"client.insert(rows) in batches of {BATCH:,}",
            "query": "client.search(data=[q], limit=10, filter=expr, search_params={'params': {'ef': ef}}, output_fields=[])",
            "knob": f"ef, grid {list(EF_GRID)} (at least k)",
        }

    def build(self, base: np.ndarray, metas: list[dict[str, Any]] | None, cols: Columns | None) -> dict[str, Any]:
        from pymilvus import DataType, MilvusClient

        self.client = MilvusClient(str(self.workdir / "milvus.db"))
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        if metas is not None:
            schema.add_field("primary_category", DataType.VARCHAR, max_length=32)
            schema.add_field("categories", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=64, max_length=32)
            for f in ("year", "month", "n_authors", "date_int"):
                schema.add_field(f, DataType.INT64)
            schema.add_field("listing_date", DataType.VARCHAR, max_length=16)
        ip = self.client.prepare_index_params()
        ip.add_index(field_name="vector", index_type="HNSW", metric_type="IP", params=dict(HNSW))
        self.client.create_collection("bench", schema=schema, index_params=ip)
        for s in range(0, len(base), BATCH):
            e = min(s + BATCH, len(base))
            rows = []
            for i in range(s, e):
                row: dict[str, Any] = {"id": i, "vector": base[i]}
                if metas is not None:
                    row.update(metas[i])
                rows.append(row)
            self.client.insert("bench", rows)
        if hasattr(self.client, "flush"):
            self.client.flush("bench")
        deadline = time.monotonic() + 3600
        info: dict[str, Any] = {}
        while time.monotonic() < deadline:
            info = self.client.describe_index("bench", "vector")
            if int(info.get("indexed_rows", 0)) >= len(base) and int(info.get("pending_index_rows", 0)) == 0:
                break
            time.sleep(0.5)
        self.client.load_collection("bench")
        return {"describe_index": {k: v for k, v in info.items() if isinstance(v, (int, str, float))}}

    def open(self, cols: Columns | None) -> dict[str, Any]:
        from pymilvus import MilvusClient

        self.client = MilvusClient(str(self.workdir / "milvus.db"))
        self.client.load_collection("bench")
        return {"open": "MilvusClient(file).load_collection"}

    def knobs(self) -> list[dict[str, Any]]:
        return [{"ef": v} for v in EF_GRID]

    def prepare_filter(self, pred: Pred | None) -> Any:
        return to_milvus_expr(pred) if pred else ""

    def search(self, q: np.ndarray, k: int, flt: Any) -> Any:
        ef = max(int(self.knob.get("ef", 64)), k)
        return self.client.search("bench", data=[q], limit=k, filter=flt, search_params={"params": {"ef": ef}}, output_fields=[])

    def ids(self, res: Any) -> np.ndarray:
        return np.asarray([int(h["id"]) for h in res[0]], dtype=np.int64)

    def close(self) -> None:
        self.client.close()
