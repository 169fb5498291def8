"""Worker processes for the durability and concurrency tests (run as scripts, not collected).

    python _workers.py writer STORE START_BATCH N_BATCHES   # prints "ack <batch>" after each add
    python _workers.py reader STORE SECONDS                  # prints one JSON summary line
    python _workers.py holdlock STORE SECONDS                # holds the write lock, prints "locked"
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np

import vecnest

DIM = 16
BATCH = 40


def batch_vectors(batch: int) -> np.ndarray:
    """The vectors of batch ``batch``: deterministic, so the checker can regenerate them."""
    return np.random.default_rng(batch).normal(size=(BATCH, DIM)).astype(np.float32)


def batch_ids(batch: int) -> list[str]:
    return [f"b{batch}-{i}" for i in range(BATCH)]


def open_collection(store: str, read_only: bool = False) -> vecnest.Collection:
    db = vecnest.open(store, read_only=read_only)
    if read_only:
        return db.get_collection("crash")
    return db.get_or_create_collection("crash", model=None, dim=DIM, metric="l2")


def writer(store: str, start: int, n: int) -> None:
    col = open_collection(store)
    for b in range(start, start + n):
        col.add(
            batch_ids(b),
            [f"doc {b} {i}" for i in range(BATCH)],
            [{"batch": b, "i": i} for i in range(BATCH)],
            batch_vectors(b),
        )
        print(f"ack {b}", flush=True)


def reader(store: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    searches = torn = mismatched = 0
    counts = set()
    while time.monotonic() < deadline:
        db = vecnest.open(store, read_only=True)
        col = db.get_collection("crash")
        n = len(col)
        counts.add(n)
        if n % BATCH:
            torn += 1
        docs = col.get(limit=1, offset=max(0, n - 1), include_vectors=True)
        if docs:
            doc = docs[0]
            hit = col.search(doc.vector, k=1)[0]
            searches += 1
            if hit.id != doc.id:
                mismatched += 1
        db.close()
    print(json.dumps({"searches": searches, "torn": torn, "mismatched": mismatched,
                      "distinct_counts": len(counts)}), flush=True)


def holdlock(store: str, seconds: float) -> None:
    conn = sqlite3.connect(Path(store) / "catalog.sqlite3", isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    print("locked", flush=True)
    time.sleep(seconds)
    conn.execute("ROLLBACK")


if __name__ == "__main__":
    cmd, store, *rest = sys.argv[1:]
    if cmd == "writer":
        writer(store, int(rest[0]), int(rest[1]))
    elif cmd == "reader":
        reader(store, float(rest[0]))
    elif cmd == "holdlock":
        holdlock(store, float(rest[0]))
    else:
        raise SystemExit(f"unknown command {cmd}")
