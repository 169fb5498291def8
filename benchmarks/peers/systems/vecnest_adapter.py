"""vecnest through its public API only: ``vecnest.open`` → ``create_collection(model=None, dim=…)``
→ ``add(ids, vectors=…, metadatas=…)`` → ``search(vec, k=10, where=…)``.

Index settings are forwarded only when the installed vecnest accepts them (checked with
``inspect.signature``): ``create_collection(index="hnsw" | "ivf_pq")``, ``search(ef_search=…,
nprobe=…, include=())``, and ``optimize()`` after the last write so the index is built inside the
timed build. Without them only the exact variant runs; the ANN variants report why.
"""

from __future__ import annotations

import contextlib
import inspect
from typing import Any

import numpy as np

from peers.predicates import Columns, Pred, to_vecnest
from peers.systems import System, Unsupported

#: Metadata fields that filters compare as scalars: vecnest's README recommends ``indexed_fields``
#: ("a SQLite expression index") for fields used in filters.
INDEXED_FIELDS = ("year", "n_authors", "listing_date")
BATCH = 10_000


def _accepts(fn: Any, name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


class Vecnest(System):
    name = "vecnest"
    family = "vecnest"
    distributions = ("vecnest",)
    exact = True
    index_kind: str | None = None
    knob_name: str | None = None
    knob_values: tuple[int, ...] = ()

    @classmethod
    def check(cls) -> None:
        import vecnest  # noqa: F401 - fails here if vecnest cannot be imported

        if cls.index_kind is not None:
            from vecnest.database import Database

            if not _accepts(Database.create_collection, "index"):
                raise Unsupported(
                    "this vecnest has no create_collection(index=...) yet; only exact search is benchmarked"
                )

    def settings(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "api": "vecnest.open(dir).create_collection(name, model=None, dim=d, metric='cosine'"
            + (f", index={self.index_kind!r}" if self.index_kind else "")
            + f", indexed_fields={list(INDEXED_FIELDS)})",
            "add": f"col.add(ids, vectors=..., metadatas=...) in batches of {BATCH:,} (one durable transaction each)"
            + (" inside col.bulk() (one index merge at the end)" if hasattr(self, "col") and hasattr(self.col, "bulk") else ""),
            "search": "col.search(vec, k=10, where=..., include=())" if self._search_kw("include") else "col.search(vec, k=10, where=...)",
        }
        if self.index_kind:
            out["index"] = self.index_kind
            out["knob"] = self.knob_name
        return out

    def _search_kw(self, name: str) -> bool:
        from vecnest.collection import Collection

        return _accepts(Collection.search, name)

    def build(self, base: np.ndarray, metas: list[dict[str, Any]] | None, cols: Columns | None) -> dict[str, Any]:
        import vecnest

        self.db = vecnest.open(self.workdir / "store")
        kwargs: dict[str, Any] = {"model": None, "dim": self.dim}
        if metas is not None:
            kwargs["indexed_fields"] = list(INDEXED_FIELDS)
        if self.index_kind:
            kwargs["index"] = self.index_kind
        self.col = self.db.create_collection("bench", **kwargs)
        bulk = self.col.bulk() if hasattr(self.col, "bulk") else contextlib.nullcontext()
        with bulk:  # one index merge at the end of the load (vecnest's README for bulk loads)
            for s in range(0, len(base), BATCH):
                e = min(s + BATCH, len(base))
                self.col.add(
                    [str(i) for i in range(s, e)],
                    vectors=base[s:e],
                    metadatas=metas[s:e] if metas is not None else None,
                )
        info: dict[str, Any] = {}
        if hasattr(self.col, "optimize"):
            info["optimize"] = _jsonable(self.col.optimize())
        self._include = self._search_kw("include")
        self._knob_ok = bool(self.knob_name) and self._search_kw(self.knob_name)
        return info

    def knobs(self) -> list[dict[str, Any]]:
        if not self.knob_name or not self._knob_ok:
            return [{}]
        return [{}] + [{self.knob_name: v} for v in self.knob_values]

    def prepare_filter(self, pred: Pred | None) -> Any:
        return to_vecnest(pred) if pred else None

    def search(self, q: np.ndarray, k: int, flt: Any) -> np.ndarray:
        kw: dict[str, Any] = dict(self.knob)
        if self._include:
            kw["include"] = ()
        hits = self.col.search(q, k=k, where=flt, **kw)
        return np.fromiter((int(h.id) for h in hits), dtype=np.int64, count=len(hits))

    def explain(self, q: np.ndarray, k: int, flt: Any) -> Any:
        """The planner's plan for one query, when this vecnest can explain (else ``None``)."""
        if not self._search_kw("explain"):
            return None
        kw: dict[str, Any] = dict(self.knob)
        if self._include:
            kw["include"] = ()
        plan = self.col.search(q, k=k, where=flt, explain=True, **kw).plan
        return _jsonable(getattr(plan, "__dict__", plan))

    def close(self) -> None:
        self.db.close()


class VecnestHnsw(Vecnest):
    name = "vecnest-hnsw"
    exact = False
    index_kind = "hnsw"
    knob_name = "ef_search"
    knob_values = (16, 32, 64, 128, 256)


class VecnestIvfPq(Vecnest):
    name = "vecnest-ivf_pq"
    exact = False
    index_kind = "ivf_pq"
    knob_name = "nprobe"
    knob_values = (4, 8, 16, 32, 64)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    return str(obj)
