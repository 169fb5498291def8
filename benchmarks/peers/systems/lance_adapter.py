"""LanceDB (``lancedb``) embedded, two variants of one table:

* ``lance-flat``  — no vector index: exhaustive scan (exact).
* ``lance-ivfpq`` — ``IvfPq(distance_type="dot")`` with LanceDB's documented defaults
  (``num_partitions`` ≈ √rows, ``num_sub_vectors`` = dim/16, 8 bits); knobs ``nprobes`` and
  ``refine_factor`` (re-rank ``k × refine_factor`` candidates with the full vectors).

Both get the scalar indexes LanceDB's filtering guide recommends for filtered columns (BTREE on
numbers and dates, LABEL_LIST on the category list) and filter with ``where(sql, prefilter=True)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from peers.predicates import Columns, Pred, to_lance_sql
from peers.systems import System

SCALAR_INDEXES = {"n_authors": "BTREE", "year": "BTREE", "listing_date": "BTREE", "categories": "LABEL_LIST"}


class LanceFlat(System):
    name = "lance-flat"
    family = "lancedb"
    distributions = ("lancedb", "pylance", "pyarrow")
    needs_metas = False
    exact = True
    vector_index = False
    filter_note = "where(sql, prefilter=True) with BTREE / LABEL_LIST scalar indexes"

    @classmethod
    def check(cls) -> None:
        import lancedb  # noqa: F401
        import pyarrow  # noqa: F401

    def settings(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "client": "lancedb.connect(dir).create_table(name, pyarrow.Table)",
            "distance_type": "dot",
            "scalar_indexes": dict(SCALAR_INDEXES),
            "query": "tbl.search(q).distance_type('dot').where(sql, prefilter=True).select(['id']).limit(10).to_arrow()",
        }
        if self.vector_index:
            out["vector_index"] = getattr(self, "index_info", "IvfPq(distance_type='dot') defaults")
            out["knobs"] = "nprobes, refine_factor"
        return out

    def build(self, base: np.ndarray, metas: list[dict[str, Any]] | None, cols: Columns | None) -> dict[str, Any]:
        import lancedb
        import pyarrow as pa

        self.db = lancedb.connect(str(self.workdir / "lance"))
        arrays: dict[str, Any] = {
            "id": pa.array(np.arange(len(base), dtype=np.int64)),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(base.ravel()), self.dim),
        }
        if cols is not None:
            for f in ("primary_category", "year", "month", "n_authors", "listing_date", "date_int"):
                arrays[f] = pa.array(cols.scalars[f].tolist())
            values, indptr = cols.lists["categories"]
            arrays["categories"] = pa.ListArray.from_arrays(pa.array(indptr.astype(np.int32)), pa.array(values.tolist(), pa.string()))
        self.tbl = self.db.create_table("bench", data=pa.table(arrays))
        info: dict[str, Any] = {}
        if cols is not None:
            for field, kind in SCALAR_INDEXES.items():
                self.tbl.create_scalar_index(field, index_type=kind)
        if self.vector_index:
            from lancedb.index import IvfPq

            self.tbl.create_index("vector", config=IvfPq(distance_type="dot"))
            for idx in self.tbl.list_indices():
                if "vector" in list(getattr(idx, "columns", [])):
                    info["vector_index"] = str(idx)
            stats = self.tbl.index_stats("vector_idx") if hasattr(self.tbl, "index_stats") else None
            if stats is not None:
                info["index_stats"] = str(stats)
            self.index_info = info.get("index_stats") or info.get("vector_index")
        self.tbl.search(base[0]).distance_type("dot").limit(1).to_arrow()
        return info

    def prepare_filter(self, pred: Pred | None) -> Any:
        return to_lance_sql(pred) if pred else None

    def _query(self, q: np.ndarray, k: int, flt: Any) -> Any:
        qb = self.tbl.search(q).distance_type("dot").select(["id"]).limit(k)
        if flt:
            qb = qb.where(flt, prefilter=True)
        return qb

    def search(self, q: np.ndarray, k: int, flt: Any) -> np.ndarray:
        tab = self._query(q, k, flt).to_arrow()
        return tab.column("id").to_numpy().astype(np.int64)


class LanceIvfPq(LanceFlat):
    name = "lance-ivfpq"
    exact = False
    vector_index = True

    def knobs(self) -> list[dict[str, Any]]:
        plain = [{"nprobes": p} for p in (5, 10, 20, 50, 100)]
        refined = [{"nprobes": p, "refine_factor": 10} for p in (10, 20, 50, 100)]
        return plain + refined

    def _query(self, q: np.ndarray, k: int, flt: Any) -> Any:
        qb = super()._query(q, k, flt)
        if "nprobes" in self.knob:
            qb = qb.nprobes(int(self.knob["nprobes"]))
        if self.knob.get("refine_factor"):
            qb = qb.refine_factor(int(self.knob["refine_factor"]))
        return qb
