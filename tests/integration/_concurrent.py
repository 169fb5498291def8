"""Worker processes of the concurrency tests (run as scripts, not collected).

    python _concurrent.py create STORE NAME TAG START_AT     # get_or_create + add one document
    python _concurrent.py optimize STORE NAME START_AT       # optimize(rebuild=True), prints its action
    python _concurrent.py reader STORE NAME SECONDS          # self-queries until the collection is dropped

Processes given the same ``START_AT`` (a ``time.time()``) wait for it, so they really race.
Each prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

import vecnest

DIM = 8


def vectors(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)


def _wait(start_at: float) -> None:
    time.sleep(max(0.0, start_at - time.time()))


def create(store: str, name: str, tag: str, start_at: float) -> None:
    _wait(start_at)
    with vecnest.open(store, lock_timeout=60) as db:
        col = db.get_or_create_collection(name, model=None, dim=DIM)
        col.add([tag], vectors=vectors(1, sum(map(ord, tag))))
        print(json.dumps({"ok": True, "n": len(col)}), flush=True)


def optimize(store: str, name: str, start_at: float) -> None:
    db = vecnest.open(store, lock_timeout=60, background=False)
    col = db.get_collection(name)
    _wait(start_at)
    result = col.optimize(rebuild=True)
    hit = col.search(vectors(400)[17], k=1, strategy="ann")[0].id
    print(json.dumps({"action": result["action"], "hit": hit}), flush=True)
    db.close()


def reader(store: str, name: str, seconds: float) -> None:
    """Self-queries (ANN and exact) until the collection is dropped; counts what went wrong."""
    db = vecnest.open(store, read_only=True)
    col = db.get_collection(name)
    data = vectors(400)
    searches = wrong = 0
    errors: list[str] = []
    dropped = False
    deadline = time.monotonic() + seconds
    print("ready", flush=True)
    while time.monotonic() < deadline and not dropped:
        i = searches % 400
        try:
            hit = col.search(data[i], k=1, strategy="ann" if searches % 2 else "exact", include=())[0]
            wrong += hit.id != f"d{i}"
            searches += 1
        except vecnest.CollectionNotFoundError:
            dropped = True
        except Exception as exc:  # noqa: BLE001 - counted and reported: must be none
            errors.append(f"{type(exc).__name__}: {exc}"[:300])
            searches += 1
    print(json.dumps({"searches": searches, "wrong": wrong, "errors": errors[:5], "n_errors": len(errors), "dropped": dropped}), flush=True)


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    if cmd == "create":
        create(args[0], args[1], args[2], float(args[3]))
    elif cmd == "optimize":
        optimize(args[0], args[1], float(args[2]))
    elif cmd == "reader":
        reader(args[0], args[1], float(args[2]))
    else:
        raise SystemExit(f"unknown command {cmd}")
