"""Hostile storage: planted symlinks, damaged and deleted files, read-only folders, a full disk.

Each case ends in a clear typed error or a repair — never a raw traceback, never silently wrong
results, never a write or a delete outside the store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import vecnest
from vecnest.cli.main import main as cli

from ._mounts import mounted_or_plain, read_only, tmpfs

DIM = 8
HNSW = vecnest.IndexConfig(kind="hnsw", min_rows=40, delta_limit=30, m=8, ef_construction=32)


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)


def _store(root: Path, n: int = 60, index: vecnest.IndexConfig | None = HNSW) -> None:
    with vecnest.open(root, background=False) as db:
        c = db.create_collection("c", model=None, dim=DIM, metric="l2", index=index)
        c.add([f"d{i}" for i in range(n)], metadatas=[{"i": i} for i in range(n)], vectors=_vectors(n))
        c.optimize()


def _outside(tmp_path: Path, data: bytes = b"precious outside data") -> Path:
    path = tmp_path / "outside" / "victim.bin"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return path


def test_a_symlinked_segment_is_never_written_through(tmp_path: Path) -> None:
    root = tmp_path / "s"
    _store(root)
    seg = root / "segments" / "c1.g0.f32"
    victim = _outside(tmp_path, seg.read_bytes())  # a valid-looking copy outside the store
    seg.unlink()
    seg.symlink_to(victim)
    before = victim.read_bytes()
    with vecnest.open(root) as db:
        col = db.get_collection("c")
        with pytest.raises(vecnest.CorruptStoreError, match="symlink"):
            col.add(["new"], vectors=_vectors(1, 9))
        with pytest.raises(vecnest.CorruptStoreError):
            col.search(_vectors(1)[0], k=3, strategy="exact")
        assert "new" not in col
        db.drop_collection("c")  # removes the link, never its target
    assert victim.read_bytes() == before
    assert not seg.is_symlink() and not seg.exists()


def test_a_symlinked_segments_folder_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "s"
    _store(root)
    elsewhere = tmp_path / "elsewhere"
    (root / "segments").rename(elsewhere)
    (root / "segments").symlink_to(elsewhere, target_is_directory=True)
    before = sorted(os.listdir(elsewhere))
    with pytest.raises(vecnest.CorruptStoreError, match="never follows links"):
        with vecnest.open(root) as db:
            db.drop_collection("c")
    assert sorted(os.listdir(elsewhere)) == before


def test_drop_removes_planted_links_and_never_their_targets(tmp_path: Path) -> None:
    root = tmp_path / "s"
    _store(root)
    victim = _outside(tmp_path)
    (root / "segments" / "c1.hnsw.9.0000000000ff.faiss").symlink_to(victim)
    (root / "segments" / "c1.evil").symlink_to(victim.parent, target_is_directory=True)
    with vecnest.open(root) as db:
        db.drop_collection("c")
    assert victim.read_bytes() == b"precious outside data"
    assert not [p for p in (root / "segments").iterdir() if p.name.startswith("c1.")]


def test_a_symlinked_lock_file_refuses_maintenance_and_touches_nothing(tmp_path: Path) -> None:
    root = tmp_path / "s"
    _store(root)
    victim = _outside(tmp_path)
    lock = root / "segments" / "c1.maint.lock"
    lock.unlink(missing_ok=True)
    lock.symlink_to(victim)
    with vecnest.open(root, background=False) as db:
        col = db.get_collection("c")
        col.add([f"n{i}" for i in range(40)], vectors=_vectors(40, 3))  # committed; its merge is refused
        assert len(col) == 100
        with pytest.raises(vecnest.CorruptStoreError, match="symlink"):
            col.optimize(rebuild=True)
        assert col.search(_vectors(40, 3)[5], k=1)[0].id == "n5"
    assert victim.read_bytes() == b"precious outside data"
    assert vecnest.check(root, repair=True).ok and not lock.is_symlink()


def test_garbage_appended_to_a_segment_is_ignored_then_cut(tmp_path: Path) -> None:
    root = tmp_path / "s"
    _store(root)
    with open(root / "segments" / "c1.g0.f32", "ab") as fh:
        fh.write(os.urandom(1000))
    with vecnest.open(root) as db:
        col = db.get_collection("c")
        hits = col.search(_vectors(60)[7], k=1, strategy="exact")
        assert hits[0].id == "d7" and len(col) == 60
    report = vecnest.check(root)
    assert report.ok and "1000 bytes past the committed rows" in str(report.to_json())
    with vecnest.open(root) as db:
        col = db.get_collection("c")
        col.add(["z"], vectors=_vectors(1, 5))  # the next write cuts the tail
        assert col.search(_vectors(1, 5)[0], k=1)[0].id == "z"
    assert (root / "segments" / "c1.g0.f32").stat().st_size == 61 * DIM * 4


def test_a_deleted_wal_between_processes_leaves_a_valid_older_store(tmp_path: Path) -> None:
    root = tmp_path / "s"
    _store(root)
    script = (
        "import os, numpy as np, vecnest\n"
        f"db = vecnest.open({str(root)!r}, background=False)\n"
        "c = db.get_collection('c')\n"
        f"c.add([f'w{{i}}' for i in range(50)], vectors=np.random.default_rng(5).normal(size=(50, {DIM})))\n"
        "c.optimize(rebuild=True)\n"
        "os._exit(0)  # no close: everything since stays in the WAL\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    assert (root / "catalog.sqlite3-wal").exists()
    (root / "catalog.sqlite3-wal").unlink()
    (root / "catalog.sqlite3-shm").unlink(missing_ok=True)
    report = vecnest.check(root)  # the older state, whole: its index file was replaced since
    (finding,) = [f for _, f in report.findings() if f.severity.rank > 1]
    assert finding.part == "ann_index" and "is missing; searches fall back to exact" in finding.message
    assert "orphaned file" in str(report.to_json())  # the newer files are leftovers
    assert vecnest.check(root, repair=True).ok
    with vecnest.open(root) as db:
        col = db.get_collection("c")
        assert len(col) == 60 and "w0" not in col
        for i in range(0, 60, 7):
            assert col.search(_vectors(60)[i], k=1)[0].id == f"d{i}"
        col.add(["after"], vectors=_vectors(1, 11))  # writable again
        assert col.search(_vectors(1, 11)[0], k=1)[0].id == "after"
    assert vecnest.check(root).ok


def test_a_corrupt_manifest_or_a_file_path_is_a_typed_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "s"
    _store(root, index=None)
    (root / "vecnest.json").write_text('{"format": "vecnest-store", "format_version": ')
    with pytest.raises(vecnest.NotAStoreError, match="not a readable vecnest manifest"):
        vecnest.open(root)
    assert cli(["check", "--db", str(root)]) == 1
    assert cli(["check", "--db", str(root), "--repair"]) == 0
    assert len(vecnest.open(root, read_only=True).get_collection("c")) == 60
    file = tmp_path / "file"
    file.write_text("not a store")
    with pytest.raises(vecnest.NotAStoreError, match="is a file"):
        vecnest.open(file)
    assert cli(["check", "--db", str(file)]) == 2
    assert "NotAStoreError" in capsys.readouterr().err


def test_a_store_on_a_read_only_folder_reads_and_refuses_writes(tmp_path: Path) -> None:
    with mounted_or_plain(tmp_path / "mnt") as mount:
        root = mount / "s"
        _store(root)
        with read_only(mount, root):
            with vecnest.open(root, read_only=True) as db:
                col = db.get_collection("c")
                assert len(col) == 60
                assert col.search(_vectors(60)[3], k=1, where={"i": {"$lt": 10}})[0].id == "d3"
                assert col.get(ids=["d4"])[0].metadata == {"i": 4}
                with pytest.raises(vecnest.ReadOnlyError):
                    col.add(["x"], vectors=_vectors(1))
            with pytest.raises(vecnest.ReadOnlyError, match="read_only=True"):
                vecnest.open(root)
            assert vecnest.check(root).ok


def test_a_full_disk_is_a_typed_error_and_keeps_every_acknowledged_write(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "full", "8m") as mount:
        root = mount / "s"
        acked = 0
        index = vecnest.IndexConfig(kind="hnsw", min_rows=1000, delta_limit=1000, m=8, ef_construction=16)
        with vecnest.open(root, background=False) as db:
            col = db.create_collection("c", model=None, dim=64, metric="l2", index=index)
            rng = np.random.default_rng(1)
            with pytest.raises(vecnest.StorageFullError, match="no space left"):
                for b in range(10_000):
                    col.add([f"{b}-{i}" for i in range(200)], ["t" * 2000] * 200, [{"b": b}] * 200, rng.normal(size=(200, 64)))
                    acked += 1
            assert acked > 5
            with pytest.raises(vecnest.StorageFullError):
                col.add(["one more"], vectors=np.ones((1, 64)))
            assert len(col) == acked * 200
        report = vecnest.check(root)
        assert report.ok, report.to_json()
        with vecnest.open(root, read_only=True) as db:
            col = db.get_collection("c")
            rng = np.random.default_rng(1)
            for b in range(acked):
                vecs = rng.normal(size=(200, 64)).astype(np.float32)
                if b % 7 == 0:
                    got = col.get(ids=[f"{b}-0", f"{b}-199"], include_vectors=True)
                    np.testing.assert_array_equal(np.stack([d.vector for d in got]), vecs[[0, 199]])
                    assert col.search(vecs[3], k=1, strategy="exact")[0].id == f"{b}-3"
