"""Snapshots are vouched for by a stamp read before their transaction, and damaged derived files
are bypassed, never served."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

import vecnest

_ADD = (
    "import sys, numpy as np, vecnest\n"
    "with vecnest.open(sys.argv[1]) as db:\n"
    "    db.get_collection('c').add([sys.argv[2]], vectors=np.array([[float(x) for x in sys.argv[3:]]], np.float32))"
)


def _add_elsewhere(store: Path, doc_id: str, vec: list[int]) -> None:
    subprocess.run([sys.executable, "-c", _ADD, str(store), doc_id, *map(str, vec)], check=True)


def test_a_commit_landing_while_a_snapshot_loads_is_seen_by_the_next_search(tmp_path: Path) -> None:
    store = tmp_path / "s"
    with vecnest.open(store) as db:
        db.create_collection("c", model=None, dim=4).add(["a"], vectors=np.eye(4, dtype=np.float32)[:1])
    with vecnest.open(store, read_only=True) as reader:
        col = reader.get_collection("c")
        col.search(np.ones(4, np.float32), k=1, include=())  # a snapshot is loaded
        _add_elsewhere(store, "z", [0, 0, 1, 0])  # outdates it
        rows, armed = col._rows, {"on": True}
        original = type(rows).state

        def state_then_commit(self: object, conn: object) -> object:
            out = original(self, conn)  # the reload's transaction has begun...
            if armed["on"]:
                armed["on"] = False
                _add_elsewhere(store, "b", [0, 1, 0, 0])  # ...and another process commits now
            return out

        rows.state = state_then_commit.__get__(rows)
        col.search(np.ones(4, np.float32), k=1, include=())  # reloads; "b" lands mid-load
        del rows.state
        assert not armed["on"]
        assert len(col) == 3
        # "b" was acknowledged before this search began: it must be found (the original code
        # paired the mid-load snapshot with the later stamp and served it until the next write)
        assert [h.id for h in col.search(np.array([0, 1, 0, 0], np.float32), k=1, include=())] == ["b"]
