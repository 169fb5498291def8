"""What ``indexed_fields`` buys: ``get(where=…)`` / ``delete(where=…)`` with and without the
SQLite expression index, on the real arXiv title set (74k documents, their real metadata).

Writes ``benchmarks/results/indexed_fields.json``. Searches are not measured: their filters run on
in-memory columns loaded once per snapshot and never use these indexes.

Usage::

    .venv/bin/python benchmarks/indexed_fields.py          # ~2 min on 2 cores
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import RESULTS_DIR, command_line, default_shared_dir, machine_info, write_json

import vecnest

FIELDS = ("primary_category", "year", "listing_date")
#: (label, filter): selective equality, selective range, a filter matching nothing, a broad range
FILTERS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("equality, rare value", {"primary_category": "cs.DL"}),
    ("equality, no match", {"year": 2024}),
    ("range, 1 day", {"listing_date": {"$gte": "2025-12-19", "$lte": "2025-12-19"}}),
    ("range, half the rows", {"listing_date": {"$gte": "2025-12-01"}}),
)
REPEATS = 7


def load(shared: Path) -> tuple[list[str], np.ndarray, list[dict[str, Any]]]:
    """Every arXiv title id, its precomputed vector and its real metadata."""
    emb = shared / "embeddings"
    ids = json.loads((emb / "arxiv-daily-cs.titles.ids.json").read_text())
    vecs = np.load(emb / "arxiv-daily-cs.titles.f16.npy", mmap_mode="r")
    meta: dict[str, dict[str, Any]] = {}
    with open(shared / "datasets" / "arxiv-daily-cs" / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            meta[row["_id"]] = {k: row[k] for k in FIELDS}
    return ids, vecs, [meta[i] for i in ids]


def timed(fn: Any) -> tuple[float, Any]:
    """Median seconds of ``REPEATS`` calls, and the last result."""
    times, out = [], None
    for _ in range(REPEATS):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), out


def main() -> None:
    ids, vecs, metas = load(default_shared_dir())
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, vecnest.open(tmp) as db:
        cols = {
            "plain": db.create_collection("plain", model=None, dim=vecs.shape[1]),
            "indexed": db.create_collection("indexed", model=None, dim=vecs.shape[1], indexed_fields=list(FIELDS)),
        }
        for col in cols.values():
            for s in range(0, len(ids), 5000):
                col.add(ids[s : s + 5000], vectors=np.asarray(vecs[s : s + 5000], dtype=np.float32), metadatas=metas[s : s + 5000])
        for label, where in FILTERS:
            row: dict[str, Any] = {"filter": label, "where": where}
            for name, col in cols.items():
                seconds, docs = timed(lambda c=col, w=where: c.get(where=w))
                row[f"get_ms_{name}"] = seconds * 1000
                row["matches"] = len(docs)
            row["get_speedup"] = row["get_ms_plain"] / row["get_ms_indexed"]
            rows.append(row)
            print(f"{label:24s} {row['matches']:6d} rows  get: {row['get_ms_plain']:8.2f} ms plain, "
                  f"{row['get_ms_indexed']:8.2f} ms indexed ({row['get_speedup']:.0f}x)", flush=True)
        delete = {"primary_category": "cs.DL"}
        for name, col in cols.items():
            t = time.perf_counter()
            n = col.delete(where=delete)
            rows.append({"filter": "delete, rare value", "where": delete, "matches": n, f"delete_ms_{name}": (time.perf_counter() - t) * 1000})
        print(f"delete {delete}: {rows[-2]['delete_ms_plain']:.2f} ms plain, {rows[-1]['delete_ms_indexed']:.2f} ms indexed")
    write_json(
        RESULTS_DIR / "indexed_fields.json",
        {"machine": machine_info(), "command": command_line(), "documents": len(ids), "fields": list(FIELDS), "rows": rows},
    )


if __name__ == "__main__":
    sys.exit(main())
