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


def test_stamp_is_a_memory_read_that_changes_with_every_write(tmp_path: Path) -> None:
    cat = _catalog(tmp_path / "c.db")
    first = cat.stamp()
    assert first is not None and first % 2 == 0
    assert all(cat.stamp() == first for _ in range(50))
    with cat.write() as conn:
        conn.execute("INSERT INTO t VALUES (0)")
    assert cat.stamp() is not None and cat.stamp() > first


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
    # a writer that commits and dies before it can mark the write finished
    code = (
        "import os, sys, sqlite3; from pathlib import Path; from vecnest.store.catalog import Catalog;"
        "c = Catalog(Path(sys.argv[1]), read_only=False, lock_timeout=5.0)\n"
        "c.changes.begin_write(); conn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "conn.execute('INSERT INTO t VALUES (4)'); os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)
    assert cat.changes.value() % 2 == 1  # left odd
    assert cat.stamp() is None  # no stamp vouches for anything: readers ask the catalog
    with cat.write() as conn:  # the next write closes the dead one
        conn.execute("INSERT INTO t VALUES (5)")
    assert cat.changes.value() % 2 == 0 and cat.stamp() is not None


def test_a_damaged_counter_never_blocks_writes_and_is_repaired_in_place(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    cat = _catalog(path)
    counter = Path(f"{path}-changes")
    cat.close()
    counter.write_bytes(b"\x01\x02\x03")  # truncated: 3 bytes of an 8-byte counter
    reader = Catalog(path, read_only=True, lock_timeout=5.0)
    assert reader.stamp() is None  # not trusted
    cat = Catalog(path, read_only=False, lock_timeout=5.0)
    with cat.write() as conn:  # no struct.error, no transaction left open
        conn.execute("INSERT INTO t VALUES (6)")
    assert counter.stat().st_size == 8 and cat.stamp() is not None
    other = Catalog(path, read_only=False, lock_timeout=0.5)
    with other.write() as conn:  # the lock was released: another writer gets it at once
        conn.execute("INSERT INTO t VALUES (7)")
    assert cat.stamp() == other.stamp()


def test_counter_created_by_two_processes_at_once_is_one_file(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    _catalog(path).close()
    Path(f"{path}-changes").unlink()
    # each process creates/maps the counter, waits for all to have done so, bumps it once in
    # turn, waits for all bumps, and reads it: one shared file means everyone reads 4 bumps
    code = (
        "import sys, time; from pathlib import Path; from vecnest.store.changes import ChangeCounter\n"
        "me, n, d = int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])\n"
        "def barrier(tag):\n"
        "    (d / f'{tag}{me}').touch()\n"
        "    while len(list(d.glob(tag + '*'))) < n: time.sleep(0.01)\n"
        "c = ChangeCounter(Path(sys.argv[1]), writable=True); barrier('ready')\n"
        "while me and not (d / f'bumped{me - 1}').exists(): time.sleep(0.01)  # one writer at a time, as under the lock\n"
        "c.begin_write(); c.end_write(); barrier('bumped'); print(c.value(), flush=True)"
    )
    sync = tmp_path / "sync"
    sync.mkdir()
    procs = [
        subprocess.Popen([sys.executable, "-c", code, f"{path}-changes", str(i), "4", str(sync)], stdout=subprocess.PIPE, text=True)
        for i in range(4)
    ]
    outs = [p.communicate(timeout=120)[0].split() for p in procs]
    assert all(o == ["8"] for o in outs), outs


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
