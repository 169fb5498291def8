"""The 75k arXiv title vectors with their attributes, and vecnest stores of them, for the
single-workload benchmarks (the same data and predicates as the peer suite's ``arxiv-75k``)."""

from __future__ import annotations

import shutil
import time
from contextlib import nullcontext
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from peers.data import load_columns, metadata_records, prepare
from peers.predicates import WORKLOADS, Columns, to_vecnest

BENCH_DIR = Path(__file__).resolve().parent
CACHE = BENCH_DIR / ".cache"
INDEXED_FIELDS = ("year", "n_authors", "listing_date", "primary_category")


@dataclass(frozen=True)
class Point:
    """``base`` ``(n, 384) float32`` unit rows, ``queries`` ``(q, 384) float32``, their
    attribute columns and metadata dicts, and the workloads measured on these rows."""

    base: np.ndarray
    queries: np.ndarray
    cols: Columns
    metas: list[dict[str, Any]]
    meta: dict[str, Any]

    @property
    def n(self) -> int:
        return int(self.base.shape[0])

    def where(self, workload: str) -> dict[str, Any] | None:
        """vecnest's ``where`` of a workload (``None`` for ``"unfiltered"``)."""
        return None if workload == "unfiltered" else to_vecnest(WORKLOADS[workload]["pred"])

    def mask(self, workload: str) -> np.ndarray | None:
        return None if workload == "unfiltered" else self.cols.mask(WORKLOADS[workload]["pred"])

    def subset(self, n: int, seed: int = 0) -> Point:
        """A random ``n``-row subset (rows kept in order; same queries): for smoke runs."""
        rows = np.sort(np.random.default_rng(seed).choice(self.n, size=n, replace=False))
        values, indptr = self.cols.lists["categories"]
        lens = indptr[rows + 1] - indptr[rows]
        vals = np.concatenate([values[indptr[r] : indptr[r + 1]] for r in rows.tolist()])
        cols = Columns(n, {f: a[rows] for f, a in self.cols.scalars.items()}, {"categories": (vals, np.concatenate([[0], np.cumsum(lens)]))})
        return Point(self.base[rows], self.queries, cols, [self.metas[i] for i in rows.tolist()], self.meta)


def load_point(shared: Path, log: Callable[[str], None], start_task: Callable[[str, int], Any], *, n_queries: int = 500, seed: int = 0) -> Point:
    folder = CACHE / "peers" / "data" / "arxiv-75k"
    meta = prepare("arxiv-75k", shared, folder, n_queries=n_queries, seed=seed, target_1m=0, start_task=start_task, log=log)
    return Point(np.load(folder / "base.npy"), np.load(folder / "queries.npy"), load_columns(folder), metadata_records(folder) or [], meta)


def build_store(root: Path, point: Point, *, index: str | None, rows: slice | None = None, batch: int = 10_000, bulk: bool = True, advance: Callable[[int], None] | None = None) -> dict[str, Any]:
    """A fresh vecnest store at ``root`` holding ``point``'s rows (``rows``, default all) with
    their metadata, loaded in ``batch``-row ``add`` calls (inside ``bulk()`` unless told not
    to). Returns the seconds it took and ``optimize()``'s answer."""
    import vecnest

    shutil.rmtree(root, ignore_errors=True)
    sel = rows or slice(0, point.n)
    ids = np.arange(point.n)[sel]
    t0 = time.perf_counter()
    with vecnest.open(root) as db:
        col = db.create_collection("bench", model=None, dim=point.base.shape[1], index=index, indexed_fields=list(INDEXED_FIELDS))
        ctx = col.bulk() if bulk else nullcontext()
        with ctx:
            for s in range(0, len(ids), batch):
                part = ids[s : s + batch]
                col.add([str(i) for i in part], vectors=point.base[part], metadatas=[point.metas[i] for i in part])
                if advance:
                    advance(len(part))
        opt = col.optimize() if index else {"action": "none"}
    return {"seconds": time.perf_counter() - t0, "optimize": {k: v for k, v in opt.items() if isinstance(v, (int, float, str))}}
