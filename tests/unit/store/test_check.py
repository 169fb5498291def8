"""``Database.check`` / ``vecnest.check``: every kind of damage is found, named precisely, and
repaired where it can be, without touching an acknowledged document."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest

import vecnest
from conftest import hashing_embed
from vecnest.config import IndexConfig, IndexKind
from vecnest.store.files import MaintenanceLock
from vecnest.store.layout import SegmentsEntry
from vecnest.store.report import Finding, Severity

N = 120
HNSW = IndexConfig(kind=IndexKind.HNSW, min_rows=50, delta_limit=40, m=8, ef_construction=32)


def _texts(start: int, n: int) -> list[str]:
    return [f"document {i} about topic {i % 7} and subject {i % 11}" for i in range(start, start + n)]


def _build(root: Path, enc: vecnest.CallableEncoder) -> None:
    with vecnest.open(root, background=False) as db:
        a = db.create_collection("a", enc, index=HNSW)
        for start in range(0, N, 40):
            a.add([f"a{i}" for i in range(start, start + 40)], _texts(start, 40), [{"i": i} for i in range(start, start + 40)])
        a.optimize()
        v = db.create_collection("v", model=None, dim=4)
        v.add(["x", "y"], vectors=np.arange(8, dtype=np.float32).reshape(2, 4) + 1)


@pytest.fixture
def built(tmp_path: Path, hashing_encoder: vecnest.CallableEncoder) -> Path:
    root = tmp_path / "s"
    _build(root, hashing_encoder)
    return root


def _state(root: Path, name: str) -> list[tuple]:
    with vecnest.open(root, read_only=True) as db:
        return [(d.id, d.text, d.metadata, d.vector.tobytes()) for d in db.get_collection(name, model=None).get(include_vectors=True)]


def _index_file(root: Path) -> Path:
    (path,) = (root / "segments").glob("c1.hnsw.*.faiss")
    return path


def _by(report: vecnest.CheckReport, name: str | None) -> vecnest.store.report.CollectionReport:
    return next(r for r in (report.store, *report.collections) if r.name == name)


def test_a_sound_store_passes_with_what_was_verified(built: Path) -> None:
    report = vecnest.check(built)
    assert report.ok and report.exit_code == 0 and report.severity is Severity.OK
    a = _by(report, "a")
    assert a.documents == N
    assert f"{N} rows, {N} verified by checksum" in a.verdict
    assert "hnsw index of 120 rows covers every live slot below 120" in a.verdict
    assert json.loads(json.dumps(report.to_json()))["collections"][1]["name"] == "v"


def test_flipped_bytes_are_found_and_reembedded_exactly(built: Path, hashing_encoder: vecnest.CallableEncoder) -> None:
    before = _state(built, "a")
    seg = built / "segments" / "c1.g0.f32"
    raw = bytearray(seg.read_bytes())
    raw[64 * 4 * 45 + 3] ^= 0x40  # slot 45: inside the second batch (slots 40..79)
    seg.write_bytes(bytes(raw))
    report = vecnest.check(built)
    assert report.exit_code == 1
    (lost,) = [f for f in _by(report, "a").findings if f.severity is Severity.LOST]
    assert lost.part == "checksums" and "1 batch(es) of 40 rows changed on disk" in lost.message
    assert "40 live document(s)" in lost.message and "'a40'" in lost.message
    with vecnest.open(built) as db:  # without the encoder it can only report the loss
        report = db.check(repair=True)
    assert not report.ok and "no encoder to re-embed with" in _by(report, "a").verdict + str(report.to_json())
    with vecnest.open(built) as db:
        report = db.check(repair=True, models={"a": hashing_encoder})
    assert report.ok, report.to_json()
    repaired = [f for f in _by(report, "a").findings if f.repaired]
    assert any("re-embedded the vectors of 40 live document(s)" in f.message for f in repaired)
    assert any(f.part == "ann_index" for f in repaired)  # rebuilt from the restored vectors
    assert _state(built, "a") == before  # the same vectors, bit for bit
    assert vecnest.check(built).ok


def test_a_truncated_segment_is_reported_and_never_zero_filled(built: Path) -> None:
    seg = built / "segments" / "c2.g0.f32"
    os.truncate(seg, 16)  # 1 of 2 rows left
    report = vecnest.check(built)
    assert "holds 1 of 2 committed rows (truncated): 1 live document(s) lost their vectors ('y')" in _by(report, "v").verdict
    with vecnest.open(built) as db:
        v = db.get_collection("v")
        with pytest.raises(vecnest.CorruptStoreError, match="holds 1 rows but the catalog committed 2"):
            v.add(["z"], vectors=np.ones((1, 4)))
        with pytest.raises(vecnest.CorruptStoreError):
            v.search(np.ones(4, np.float32))
        assert len(v) == 2 and "z" not in v
        assert not db.check(repair=True).ok  # no encoder, no texts: the loss stays reported
    assert seg.stat().st_size == 16  # nothing was written


def test_a_missing_segment_makes_the_next_add_fail_without_creating_it(built: Path) -> None:
    seg = built / "segments" / "c2.g0.f32"
    seg.unlink()
    with vecnest.open(built) as db:
        v = db.get_collection("v")
        with pytest.raises(vecnest.CorruptStoreError, match="holds 0 rows but the catalog committed 2"):
            v.add(["z"], vectors=np.ones((1, 4)))
        assert len(v) == 2
    assert not seg.exists()
    assert "vector segment c2.g0.f32 is missing: 2 live document(s)" in _by(vecnest.check(built), "v").verdict


def test_a_lost_segment_is_reembedded_from_texts(built: Path, hashing_encoder: vecnest.CallableEncoder) -> None:
    before = _state(built, "a")
    seg = built / "segments" / "c1.g0.f32"
    os.truncate(seg, 64 * 4 * 70 + 5)  # 70 whole rows and a partial one survive
    with vecnest.open(built) as db:
        report = db.check(repair=True, models={"a": hashing_encoder})
    assert report.ok, report.to_json()
    assert any("re-embedded the vectors of 50 live document(s)" in f.message for f in _by(report, "a").findings)
    assert _state(built, "a") == before


def test_rows_without_checksums_are_unverified_not_damaged(built: Path) -> None:
    with sqlite3.connect(built / "catalog.sqlite3") as conn:
        conn.execute("DELETE FROM batches WHERE cid = 1 AND first_slot > 0")
    report = vecnest.check(built)
    assert report.ok
    assert "80 rows were written before checksums existed (unverified)" in _by(report, "a").verdict
    assert "40 verified by checksum" in _by(report, "a").verdict


@pytest.mark.parametrize("damage", ["missing", "garbage", "other_dim", "other_kind", "symlink"])
def test_a_damaged_index_is_bypassed_and_rebuilt(built: Path, tmp_path: Path, damage: str) -> None:
    path = _index_file(built)
    if damage == "missing":
        path.unlink()
    elif damage == "garbage":
        path.write_bytes(b"\0" * 100)
    elif damage in ("other_dim", "other_kind"):  # a valid FAISS file: never used silently
        import faiss

        rng = np.random.default_rng(0)
        if damage == "other_dim":
            index = faiss.IndexIDMap2(faiss.IndexHNSWFlat(32, 8, faiss.METRIC_INNER_PRODUCT))
            index.add_with_ids(rng.normal(size=(N, 32)).astype(np.float32), np.arange(N, dtype=np.int64))
        else:
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(64), 64, 2, faiss.METRIC_INNER_PRODUCT)
            x = rng.normal(size=(N, 64)).astype(np.float32)
            index.train(x)
            index.add_with_ids(x, np.arange(N, dtype=np.int64))
        faiss.write_index(index, str(path))
    else:
        outside = tmp_path / "outside.faiss"
        path.rename(outside)
        path.symlink_to(outside)
    report = vecnest.check(built)
    assert _by(report, "a").severity is Severity.DAMAGED and report.exit_code == 1
    enc = vecnest.CallableEncoder(hashing_embed, dim=64, name="hashing-bow-64")
    with vecnest.open(built, background=False) as db:
        a = db.get_collection("a", model=enc)
        docs = a.get(include_vectors=True)
        for d in docs[:: 17]:  # exact answers meanwhile, and the plan says why
            hits = a.search(d.vector, k=3, explain=True)
            assert hits[0].id == d.id and "damaged" in hits.plan.reason
        report = db.check(repair=True)
    assert report.ok, report.to_json()
    assert "rebuilt the index from the vectors (120 rows)" in _by(report, "a").verdict
    if damage == "symlink":
        assert outside.exists()  # the link was dropped, its target never touched
    assert vecnest.check(built).ok and len(list((built / "segments").glob("c1.hnsw.*.faiss"))) == 1


def test_index_membership_is_checked(built: Path) -> None:
    with sqlite3.connect(built / "catalog.sqlite3") as conn:  # the catalog says it covers more
        conn.execute("UPDATE index_state SET built_upto = built_upto + 5")
    finding = next(f for f in _by(vecnest.check(built), "a").findings if f.part == "ann_index")
    assert finding.severity is Severity.DAMAGED and "covers 125 slots but only 120 are committed" in finding.message


def test_leftovers_are_swept_and_unknown_files_left_alone(built: Path) -> None:
    seg = built / "segments"
    leftovers = ["c1.hnsw.120.0123456789ab.faiss.tmp", "c1.hnsw.80.0123456789ab.faiss", "c1.g7.f32", "c42.g0.f32", "c42.maint.lock"]
    for name in leftovers:
        (seg / name).write_bytes(b"x")
    (seg / "c1.notes.bin").write_bytes(b"keep")
    (seg / "README").write_bytes(b"keep")
    (built / "vecnest.json.abcdef.tmp").write_text("{}")
    with open(seg / "c1.g0.f32", "ab") as fh:
        fh.write(b"tail!")
    report = vecnest.check(built)
    assert report.ok  # leftovers are notes
    text = json.dumps(report.to_json())
    for what in ("leftover temporary file c1.hnsw.120", "orphaned file c1.hnsw.80", "orphaned file c1.g7.f32",
                 "2 file(s) of dropped collection #42", "5 bytes past the committed rows", "c1.notes.bin is of no kind",
                 "segments/README is of no kind", "leftover temporary manifest"):
        assert what in text, what
    with vecnest.open(built) as db:
        db.check(repair=True)
    names = set(os.listdir(seg))
    assert not names & set(leftovers)
    assert {"c1.notes.bin", "README", "c1.g0.f32", _index_file(built).name} <= names
    assert (seg / "c1.g0.f32").stat().st_size == N * 64 * 4
    assert not list(built.glob("*.tmp"))
    again = vecnest.check(built)
    assert [f.message for _, f in again.findings(Severity.NOTE)] == [
        "segments/README is of no kind vecnest knows (left alone)",
        "c1.notes.bin is of no kind vecnest knows (left alone)",
    ]


def test_a_file_being_written_under_the_maintenance_lock_is_never_swept(built: Path) -> None:
    tmp = built / "segments" / "c1.hnsw.160.00000000beef.faiss.tmp"
    tmp.write_bytes(b"being written")
    held, release = threading.Event(), threading.Event()

    def optimizer() -> None:
        with MaintenanceLock(built / "segments" / "c1.maint.lock").hold(None):
            held.set()
            release.wait(30)

    t = threading.Thread(target=optimizer)
    t.start()
    held.wait(10)
    try:
        with vecnest.open(built, lock_timeout=0.3) as db:
            report = db.check(repair=True)
        assert tmp.exists()
        assert "checked without its lock" in json.dumps(report.to_json())
    finally:
        release.set()
        t.join()


def test_a_symlinked_lock_file_is_unlinked_never_followed(built: Path, tmp_path: Path) -> None:
    outside = tmp_path / "precious.txt"
    outside.write_text("do not touch")
    lock = built / "segments" / "c1.maint.lock"
    lock.unlink()
    lock.symlink_to(outside)
    report = vecnest.check(built)
    assert "c1.maint.lock is a symlink" in _by(report, "a").verdict
    with vecnest.open(built) as db:
        assert db.check(repair=True).ok
    assert outside.read_text() == "do not touch" and not lock.is_symlink()


def test_a_corrupt_manifest_is_reported_and_rewritten(built: Path) -> None:
    (built / "vecnest.json").write_text("{not json")
    report = vecnest.check(built)
    assert report.exit_code == 1 and "--repair rewrites it from the catalog" in report.store.verdict
    report = vecnest.check(built, repair=True)
    assert report.ok and "rewrote the unreadable manifest" in report.store.verdict
    with vecnest.open(built, read_only=True) as db:
        assert len(db.get_collection("a", model=None)) == N


def test_a_check_without_repair_writes_nothing(built: Path) -> None:
    (built / "segments" / "c1.g3.f32").write_bytes(b"x")
    before = {p.name: p.stat().st_mtime_ns for p in (built / "segments").iterdir()}
    vecnest.check(built)
    assert {p.name: p.stat().st_mtime_ns for p in (built / "segments").iterdir()} == before
    with vecnest.open(built, read_only=True) as db, pytest.raises(vecnest.ReadOnlyError, match="repair=True"):
        db.check(repair=True)


class _Postings:
    """A stand-in for a later kind of derived data: one ``c<cid>.post.<n>`` file per collection,
    named in the meta table."""

    name = "postings"

    def __init__(self, segments: Path) -> None:
        self.segments = segments
        self.repaired: list[str] = []

    def owns(self, entry: SegmentsEntry) -> bool:
        return entry.rest.startswith("post.")

    def referenced(self, ctx: vecnest.store.check.CollectionContext) -> set[str]:
        row = ctx.conn.execute("SELECT value FROM meta WHERE key = ?", (f"c{ctx.cid}.postings",)).fetchone()
        return {row[0]} if row else set()

    def check(self, ctx: vecnest.store.check.CollectionContext) -> list[Finding]:
        files = self.referenced(ctx)
        if files and not (ctx.segments_dir / next(iter(files))).exists():
            return [Finding(self.name, Severity.DAMAGED, "postings file missing")]
        return [Finding(self.name, Severity.OK, f"postings of {len(ctx.live_slots)} rows")]

    def repair(self, collection: vecnest.Collection) -> Finding:
        self.repaired.append(collection.name)
        (self.segments / "c1.post.2").write_bytes(b"new")
        return Finding(self.name, Severity.DAMAGED, "rebuilt postings", repaired=True)


def test_later_derived_data_registers_its_own_check_and_repair(built: Path) -> None:
    seg = built / "segments"
    with sqlite3.connect(built / "catalog.sqlite3") as conn:
        conn.execute("INSERT INTO meta(key, value) VALUES ('c1.postings', 'c1.post.2')")
    (seg / "c1.post.1").write_bytes(b"old")  # superseded: a leftover of this kind
    postings = _Postings(seg)
    with vecnest.open(built) as db:
        from vecnest.database import DERIVED_CHECKS

        report = db.check()  # without the check registered, its files are of unknown kind
        assert "c1.post.1 is of no kind vecnest knows (left alone)" in _by(report, "a").verdict
        db.check(repair=True)
        assert (seg / "c1.post.1").exists()
        from vecnest.store.check import check_store

        report = check_store(db, (*DERIVED_CHECKS, postings), repair=False)
        assert _by(report, "a").severity is Severity.DAMAGED and "postings file missing" in _by(report, "a").verdict
        report = check_store(db, (*DERIVED_CHECKS, postings), repair=True)
    assert postings.repaired == ["a"] and not (seg / "c1.post.1").exists()
    assert report.ok and "rebuilt postings" in _by(report, "a").verdict


def test_a_symlinked_segment_is_lost_and_reembedded_without_touching_its_target(
    built: Path, tmp_path: Path, hashing_encoder: vecnest.CallableEncoder
) -> None:
    before = _state(built, "a")
    seg = built / "segments" / "c1.g0.f32"
    target = tmp_path / "elsewhere.f32"
    target.write_bytes(seg.read_bytes())
    seg.unlink()
    seg.symlink_to(target)
    report = vecnest.check(built)
    assert "is a symlink, which vecnest never follows: 120 live document(s) lost their vectors" in _by(report, "a").verdict
    with vecnest.open(built) as db:
        report = db.check(repair=True, models={"a": hashing_encoder})
    assert report.ok, report.to_json()
    assert not seg.is_symlink() and target.read_bytes() == seg.read_bytes()  # the target, untouched
    assert _state(built, "a") == before
    with vecnest.open(built) as db:  # an empty collection's planted link: just removed
        db.create_collection("e", model=None, dim=4)
    (built / "segments" / "c3.g0.f32").symlink_to(target)
    report = vecnest.check(built, repair=True)
    assert report.ok and not (built / "segments" / "c3.g0.f32").exists() and target.exists()
