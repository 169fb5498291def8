"""A process that compacts a collection over and over (killed at random moments by the test)."""

from __future__ import annotations

import sys

import numpy as np

import vecnest

if __name__ == "__main__":
    store, seed = sys.argv[1], int(sys.argv[2])
    rng = np.random.default_rng(seed)
    with vecnest.open(store, background=False) as db:
        col = db.get_collection("c")
        while True:
            ids = [d.id for d in col.get(limit=400, offset=int(rng.integers(0, 2000)))]
            col.upsert(ids, vectors=rng.normal(size=(len(ids), 8)).astype(np.float32) + 5.0,
                       metadatas=[{"gen": seed} for _ in ids])
            print("upserted", flush=True)
            col.compact()
            print("compacted", flush=True)
