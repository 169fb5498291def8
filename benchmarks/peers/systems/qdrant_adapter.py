"""Qdrant local mode (``qdrant-client``, no server): exhaustive numpy search in the client,
payload filters evaluated in Python (local mode has no HNSW and no payload index; Qdrant documents
it for development and small collections).

Queries run on ``QdrantClient(":memory:")``: with ``QdrantClient(path=…)`` the client persists
every point with its own SQLite commit (≈20 ms each on this disk, so 74k points ≈ 25 minutes),
while searching runs the very same code. The on-disk ingest rate is measured on a sample
(``disk_sample``) and reported beside the in-memory build. An in-memory client cannot be reopened,
so Qdrant serves its queries from the build process (its memory is measured there, after the
input arrays are released).

CHANGES (issue 11): none to the method (local mode has no index or knob to tune); memory now
measured as PSS/USS like every other system.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from peers.predicates import Columns, Pred, to_qdrant
from peers.systems import System, tree_bytes

BATCH = 1_000
DISK_SAMPLE = 500


class QdrantLocal(System):
    name = "qdrant-local"
    family = "qdrant"
    distributions = ("qdrant-client",)
    exact = True
    reopenable = False
    filter_note = "query_filter=Filter(must=[FieldCondition(match=MatchValue | range=Range)]), evaluated in Python per point; dates via date_int"

    @classmethod
    def check(cls) -> None:
        import qdrant_client  # noqa: F401

    def settings(self) -> dict[str, Any]:
        return {
            "client": "QdrantClient(':memory:') for queries; QdrantClient(path=...) ingest measured on a sample",
            "vectors": "VectorParams(size=d, distance=Distance.DOT)",
            "upsert": f"client.upsert(points=Batch(ids, vectors, payloads)) in batches of {BATCH:,}",
            "query": "client.query_points(q, limit=10, query_filter=..., with_payload=False)",
            "index": "none in local mode (exhaustive)",
        }

    def build(self, base: np.ndarray, metas: list[dict[str, Any]] | None, cols: Columns | None) -> dict[str, Any]:
        from qdrant_client import QdrantClient

        self.client = QdrantClient(":memory:")
        self._fill(self.client, base, metas)
        return {}

    def _fill(self, client: Any, base: np.ndarray, metas: list[dict[str, Any]] | None) -> None:
        from qdrant_client import models

        client.create_collection("bench", vectors_config=models.VectorParams(size=self.dim, distance=models.Distance.DOT))
        for s in range(0, len(base), BATCH):
            e = min(s + BATCH, len(base))
            client.upsert(
                "bench",
                points=models.Batch(
                    ids=list(range(s, e)),
                    vectors=base[s:e].tolist(),
                    payloads=metas[s:e] if metas is not None else None,
                ),
            )

    def disk_sample(self, base: np.ndarray, metas: list[dict[str, Any]] | None) -> dict[str, Any]:
        """Ingest the first ``DISK_SAMPLE`` points with ``QdrantClient(path=...)``: time and bytes."""
        from qdrant_client import QdrantClient

        n = min(DISK_SAMPLE, len(base))
        path = self.workdir / "qdrant-disk"
        t0 = time.perf_counter()
        client = QdrantClient(path=str(path))
        self._fill(client, base[:n], metas[:n] if metas is not None else None)
        client.close()
        secs = time.perf_counter() - t0
        size = tree_bytes(path)
        return {
            "points": n,
            "seconds": secs,
            "points_per_s": n / secs,
            "bytes": size,
            "extrapolated_build_s": secs * len(base) / n,
            "extrapolated_bytes": size * len(base) / n,
        }

    def prepare_filter(self, pred: Pred | None) -> Any:
        return to_qdrant(pred) if pred else None

    def search(self, q: np.ndarray, k: int, flt: Any) -> Any:
        return self.client.query_points("bench", query=q, limit=k, query_filter=flt, with_payload=False)

    def ids(self, res: Any) -> np.ndarray:
        return np.asarray([p.id for p in res.points], dtype=np.int64)

    def disk_bytes(self) -> int | None:
        return None  # in memory; see disk_sample
