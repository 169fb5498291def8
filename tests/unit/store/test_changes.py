"""The shared change counter: a stamp costs no SQL between writes and is never stale."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

import vecnest
from vecnest.store.catalog import Catalog


def _catalog(path: Path, *, read_only: bool = False) -> Catalog:
    cat = Catalog(path, read_only=read_only, lock_timeout=5.0)
    if not read_only:
        with cat.write() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS t(x)")
    return cat


def _statements(cat: Catalog) -> list[str]:
    seen: list[str] = []
    cat.conn.set_trace_callback(seen.append)
    return seen


def test_stamp_runs_no_statement_while_nothing_is_written(tmp_path: Path) -> None:
    cat = _catalog(tmp_path / "c.db")
    first = cat.stamp()
    seen = _statements(cat)
    assert all(cat.stamp() == first for _ in range(50))
    assert seen == []
    assert cat.changes.value() is not None and cat.changes.value() % 2 == 0


def test_writes_by_us_another_connection_and_another_process_are_seen(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    cat, other = _catalog(path), _catalog(path)
    reader = _catalog(path, read_only=True)
    stamps = [cat.stamp()]
    reader_stamps = [reader.stamp()]
    with cat.write() as conn:
        conn.execute("INSERT INTO t VALUES (1)")
    stamps.append(cat.stamp())
    with other.write() as conn:
        conn.execute("INSERT INTO t VALUES (2)")
    stamps.append(cat.stamp())
    code = (
        "import sys; from pathlib import Path; from vecnest.store.catalog import Catalog;"
        "c = Catalog(Path(sys.argv[1]), read_only=False, lock_timeout=5.0)\n"
        "with c.write() as conn: conn.execute('INSERT INTO t VALUES (3)')"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)
    stamps.append(cat.stamp())
    reader_stamps.append(reader.stamp())
    assert len(set(stamps)) == 4 and len(set(reader_stamps)) == 2
    with reader.read() as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 3


def test_a_writer_killed_mid_write_costs_speed_not_freshness(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    cat = _catalog(path)
    before = cat.stamp()
    # a writer that commits and dies before it can mark the write finished
    code = (
        "import os, sys; from pathlib import Path; from vecnest.store.catalog import Catalog;"
        "c = Catalog(Path(sys.argv[1]), read_only=False, lock_timeout=5.0)\n"
        "c.conn.execute('BEGIN IMMEDIATE'); c.changes.bump()\n"
        "c.conn.execute('INSERT INTO t VALUES (4)'); c.conn.execute('COMMIT'); os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)
    assert cat.changes.value() % 2 == 1  # left odd
    seen = _statements(cat)
    assert cat.stamp() != before  # the commit is seen...
    assert cat.stamp() == cat.stamp() and len([s for s in seen if "data_version" in s]) >= 3  # ...by asking SQLite
    with cat.write() as conn:  # the next write closes the dead one
        conn.execute("INSERT INTO t VALUES (5)")
    assert cat.changes.value() % 2 == 0


def test_searches_see_another_process_write_at_once(tmp_path: Path) -> None:
    store = tmp_path / "s"
    rng = np.random.default_rng(0)
    with vecnest.open(store) as db:
        db.create_collection("c", model=None, dim=4).add(["a"], vectors=rng.normal(size=(1, 4)))
    with vecnest.open(store, read_only=True) as reader:
        col = reader.get_collection("c")
        target = np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32)
        assert col.search(target, k=1, include=())[0].id == "a"
        code = (
            "import sys, numpy as np, vecnest\n"
            "with vecnest.open(sys.argv[1]) as db:\n"
            "    db.get_collection('c').add(['b'], vectors=np.array([[1.0, 2.0, 3.0, 4.0]]))"
        )
        subprocess.run([sys.executable, "-c", code, str(store)], check=True)
        assert col.search(target, k=1, include=())[0].id == "b"  # acknowledged, hence visible
