"""Worker processes of the linearisable-reads test (run as scripts, not collected).

    python _linear.py writer STORE SEQ_FILE N_CALLS     # publishes each acknowledged call's number
    python _linear.py reader STORE SEQ_FILE SECONDS      # prints one JSON summary line

The writer's schedule is a pure function of the call number ``s`` (1, 2, ...), so a reader can
tell what the collection held after any acknowledged call:

* ``s % 10 == 0``: delete ``d{s-3}``;
* ``s % 10 == 5``: update ``d{s-1}`` with a new vector ``w(s)`` and metadata ``{"s": s-1, "upd": s}``;
* otherwise: add ``d{s}`` with vector ``v(s)`` and metadata ``{"s": s}``.

Documents ``d{a}`` with ``a % 10`` in 1, 2, 3, 6, 8, 9 never change once added: the reader
looks for the newest of them, so a writer running ahead of the published number cannot make a
correct answer look stale.

After each call returns, the writer stores ``s`` in an 8-byte file (``pwrite``; every reader
``pread``s it: plain file I/O is coherent between processes on every file system, where shared
mappings of one file may not be). A reader reads the published number ``P`` *before* each search and checks that the search reflects at
least the state after call ``P``: the newest live document is found by its own vector (filtered
and unfiltered, ids-only and with documents), the newest deletion never appears, and the newest
update is seen. Any failure is a stale read.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import time
from pathlib import Path

import numpy as np

import vecnest

DIM = 16
_U64 = struct.Struct("<Q")


def vector(tag: str, s: int) -> np.ndarray:
    rng = np.random.default_rng([0 if tag == "v" else 1, s])
    return rng.normal(size=DIM).astype(np.float32)


def is_add(s: int) -> bool:
    return s % 10 not in (0, 5)


def deleted_by(s: int) -> int | None:
    """The call whose document call ``s`` deletes (``None`` if ``s`` is no deletion)."""
    return s - 3 if s % 10 == 0 and s > 3 else None


def state_of(a: int, p: int) -> tuple[bool, np.ndarray, dict]:
    """``(alive, vector, metadata)`` of document ``d{a}`` after call ``p``."""
    alive = not (a % 10 == 7 and a + 3 <= p)
    if a % 10 == 4 and a + 1 <= p:
        return alive, vector("w", a + 1), {"s": a, "upd": a + 1}
    return alive, vector("v", a), {"s": a}


def read_published(fd: int) -> int:
    """The published number (read until two reads agree: an 8-byte copy can tear)."""
    while True:
        a = os.pread(fd, 8, 0)
        if len(a) == 8 and a == os.pread(fd, 8, 0):
            return _U64.unpack(a)[0]


def open_collection(store: str, *, create: bool) -> vecnest.Collection:
    db = vecnest.open(store)
    if create:
        index = vecnest.IndexConfig(kind="hnsw", m=16, min_rows=100, delta_limit=150)
        return db.create_collection("lin", model=None, dim=DIM, index=index)
    return db.get_collection("lin")


def writer(store: str, seq_file: str, n_calls: int) -> None:
    col = open_collection(store, create=True)
    tmp = f"{seq_file}.tmp"
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    os.pwrite(fd, _U64.pack(0), 0)
    os.rename(tmp, seq_file)  # readers see the file only once it holds a number
    for s in range(1, n_calls + 1):
        gone = deleted_by(s)
        if gone is not None:
            assert col.delete(ids=[f"d{gone}"]) == 1
        elif s % 10 == 5:
            col.update([f"d{s - 1}"], metadatas=[{"s": s - 1, "upd": s}], vectors=vector("w", s)[None, :])
        elif is_add(s):
            col.add([f"d{s}"], metadatas=[{"s": s}], vectors=vector("v", s)[None, :])
        os.pwrite(fd, _U64.pack(s), 0)
        if s % 7 == 0:
            time.sleep(0.002)  # idle moments: a stale snapshot must not survive them
    os.close(fd)
    print(json.dumps({"calls": n_calls}), flush=True)


def reader(store: str, seq_file: str, seconds: float) -> None:
    while not Path(seq_file).exists() or Path(seq_file).stat().st_size < 8:
        time.sleep(0.01)
    published = os.open(seq_file, os.O_RDONLY)
    while (first := read_published(published)) < 3:
        time.sleep(0.01)
    col = vecnest.open(store, read_only=True).get_collection("lin")
    deadline = time.monotonic() + seconds
    checked = stale = errors = variants = backwards = 0
    seen = first
    examples: list[str] = []
    while time.monotonic() < deadline:
        p = read_published(published)  # before the search: it must see at least this
        if p < seen:  # the channel, not the store: a number read earlier was acknowledged earlier
            backwards += 1
        p = seen = max(p, seen)
        variant = variants % 5
        variants += 1
        try:
            problem = _check(col, p, variant)
            stale += problem is not None
        except Exception as exc:  # noqa: BLE001 - counted and reported
            errors += 1
            problem = f"{type(exc).__name__}: {exc}"
        checked += 1
        if problem and len(examples) < 5:
            examples.append(f"P={p} variant={variant}: {problem}")
    last = max(read_published(published), seen)
    os.close(published)
    summary = {"checked": checked, "stale": stale, "errors": errors, "examples": examples, "last": last, "backwards": backwards}
    print(json.dumps(summary), flush=True)


def _check(col: vecnest.Collection, p: int, variant: int) -> str | None:
    """One checked read; a description of what was stale, or ``None``."""
    a = p
    while a % 10 not in (1, 2, 3, 6, 8, 9):  # the newest document that never changes later
        a -= 1
    _, vec, meta = state_of(a, p)
    want = f"d{a}"
    if variant == 0:  # unfiltered, ids only
        hits = col.search(vec, k=1, include=())
        if not hits or hits[0].id != want:
            return f"unfiltered ids-only: wanted {want}, got {[h.id for h in hits]}"
    elif variant == 1:  # filtered to the document itself, ids only
        hits = col.search(vec, k=3, where={"s": a}, include=())
        if [h.id for h in hits] != [want]:
            return f"filtered ids-only: wanted [{want}], got {[h.id for h in hits]}"
    elif variant == 2:  # default include: the newest metadata must be returned
        hits = col.search(vec, k=1)
        if not hits or hits[0].id != want or hits[0].metadata != meta:
            return f"default include: wanted {want} {meta}, got {[(h.id, h.metadata) for h in hits]}"
    elif variant == 3:  # the newest update is seen (updated documents never change again)
        u = p - (p - 5) % 10 - 1 if p >= 5 else None  # the newest call u + 1 <= p with u % 10 == 4
        if u is None:
            return None
        hits = col.search(vector("w", u + 1), k=3, where={"s": u})
        if [(h.id, h.metadata) for h in hits] != [(f"d{u}", {"s": u, "upd": u + 1})]:
            return f"update of d{u} by call {u + 1} not seen: {[(h.id, h.metadata) for h in hits]}"
    else:  # the newest deletion never appears
        s = p - p % 10
        gone = deleted_by(s) if s >= 10 else None
        if gone is None:
            return None
        hits = col.search(vector("v", gone), k=1, include=())
        if hits and hits[0].id == f"d{gone}":
            return f"deleted d{gone} (by call {s}) still returned"
        hits = col.search(vector("v", gone), k=3, where={"s": gone}, include=())
        if hits:
            return f"deleted d{gone} still matches its filter: {[h.id for h in hits]}"
    return None


if __name__ == "__main__":
    cmd, store, seq_file, arg = sys.argv[1:]
    if cmd == "writer":
        writer(store, seq_file, int(arg))
    elif cmd == "reader":
        reader(store, seq_file, float(arg))
    else:
        raise SystemExit(f"unknown command {cmd}")
