"""Background promotion of a reader's index to huge pages: only an index still current after the
delay, only once a search has loaded it, nothing held alive for it."""

from __future__ import annotations

import gc
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import vecnest
from vecnest.errors import InvalidInputError
from vecnest.search import promote
from vecnest.search.promote import Promoter


class FakeIndex:
    def __init__(self, loaded: bool = True) -> None:
        self.loaded = loaded
        self.calls: list[tuple[Path, int, int]] = []
        self.done = threading.Event()

    def promote(self, path: Path, *, dim: int, n_indexed: int, keep=None) -> int:
        self.calls.append((path, dim, n_indexed))
        self.done.set()
        return 2 << 20


@pytest.fixture(autouse=True)
def _fakes_promote_themselves(monkeypatch: pytest.MonkeyPatch) -> None:
    """The promoter's jobs call vecnest.index.promotion.promote: a FakeIndex records the call."""
    from vecnest.index import promotion

    real = promotion.promote

    def dispatch(ann, path, **kw):
        return ann.promote(path, **kw) if isinstance(ann, FakeIndex) else real(ann, path, **kw)

    monkeypatch.setattr(promotion, "promote", dispatch)


class Source:
    def __init__(self, ann: object) -> None:
        self.ann = ann

    def current(self, ann: object) -> bool:
        return ann is self.ann


def _drain(p: Promoter, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not p.idle() and time.monotonic() < end:
        time.sleep(0.01)
    assert p.idle()


def test_an_index_still_current_after_the_delay_is_promoted_once_and_the_thread_ends() -> None:
    p = Promoter()
    ann = FakeIndex()
    src = Source(ann)
    t0 = time.monotonic()
    p.schedule(ann, Path("x.faiss"), dim=8, n_indexed=100, current=src.current, delay=0.3)
    assert ann.done.wait(10)
    assert time.monotonic() - t0 >= 0.3  # (not before the delay)
    _drain(p)
    assert ann.calls == [(Path("x.faiss"), 8, 100)]
    assert p._thread is None  # (an empty queue: no thread left behind)


def test_an_index_replaced_within_the_delay_or_dropped_is_never_copied() -> None:
    p = Promoter()
    replaced = FakeIndex()
    src = Source(replaced)
    p.schedule(replaced, Path("a.faiss"), dim=8, n_indexed=1, current=src.current, delay=0.05)
    src.ann = FakeIndex()  # (a merge's new file is current now)
    promoted: list[object] = []

    class Tracked(FakeIndex):
        def promote(self, path: Path, *, dim: int, n_indexed: int, keep=None) -> int:
            promoted.append(self)
            return 0

    dropped = Tracked()
    keeper = Source(dropped)  # (the source lives on; only the index goes)
    p.schedule(dropped, Path("b.faiss"), dim=8, n_indexed=1, current=keeper.current, delay=0.05)
    keeper.ann = None
    del dropped
    gc.collect()
    _drain(p)
    assert not replaced.calls and not promoted


def test_an_index_replaced_while_its_copy_was_read_is_not_swapped_in() -> None:
    """The caller's wish is asked again once the copy is ready (``keep``)."""
    p = Promoter()
    seen: list[bool] = []

    class Slow(FakeIndex):
        def promote(self, path: Path, *, dim: int, n_indexed: int, keep=None) -> int:
            src.ann = None  # (a merge lands while the copy is read)
            seen.append(keep())
            self.done.set()
            return 0

    ann = Slow()
    src = Source(ann)
    p.schedule(ann, Path("a.faiss"), dim=8, n_indexed=1, current=src.current, delay=0.01)
    assert ann.done.wait(10)
    assert seen == [False]


def test_the_queue_holds_neither_the_index_nor_its_source() -> None:
    p = Promoter()
    ann = FakeIndex()
    src = Source(ann)
    p.schedule(ann, Path("a.faiss"), dim=8, n_indexed=1, current=src.current, delay=0.2)
    import weakref

    refs = weakref.ref(ann), weakref.ref(src)
    del ann, src
    gc.collect()
    assert refs[0]() is None and refs[1]() is None
    _drain(p)  # (the job finds nothing to do)


def test_an_index_no_search_has_loaded_is_looked_at_again_while_it_stays_current() -> None:
    p = Promoter()
    ann = FakeIndex(loaded=False)
    src = Source(ann)
    p.schedule(ann, Path("a.faiss"), dim=8, n_indexed=1, current=src.current, delay=0.01)
    time.sleep(0.3)
    assert not ann.calls and not p.idle()  # (looked at, not loaded: looked at again later)
    ann.loaded = True
    assert ann.done.wait(10)  # (the next look, within a second or two)
    _drain(p)
    assert len(ann.calls) == 1


def test_a_failing_promotion_leaves_the_queue_working() -> None:
    p = Promoter()
    tried = threading.Event()

    class Broken(FakeIndex):
        def promote(self, path: Path, *, dim: int, n_indexed: int, keep=None) -> int:
            tried.set()
            raise MemoryError("no room for the copy")

    broken, fine = Broken(), FakeIndex()
    sources = Source(broken), Source(fine)
    p.schedule(broken, Path("a.faiss"), dim=8, n_indexed=1, current=sources[0].current, delay=0.01)
    p.schedule(fine, Path("b.faiss"), dim=8, n_indexed=1, current=sources[1].current, delay=0.2)
    assert fine.done.wait(10) and tried.is_set()
    _drain(p)


def test_a_forked_child_promotes_on_its_own_even_if_a_promotion_ran_at_the_fork() -> None:
    """The child keeps the queue (weak references to what it inherited) with a thread of its
    own, and the promotion lock is free in it even if the parent held it at the fork."""
    import os
    import warnings

    from vecnest.index import promotion

    ann = FakeIndex()
    src = Source(ann)
    promote.PROMOTER.schedule(ann, Path("a.faiss"), dim=8, n_indexed=1, current=src.current, delay=0.5)
    with promotion._PROMOTING, warnings.catch_warnings():  # (a promotion running in the parent)
        warnings.simplefilter("ignore", DeprecationWarning)  # (fork with threads: 3.12+ warns)
        pid = os.fork()
        if pid == 0:  # (the child)
            ok = promotion._PROMOTING.acquire(timeout=2)
            ok = ok and ann.done.wait(10) and ann.calls == [(Path("a.faiss"), 8, 1)]
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def _store(root: Path) -> np.ndarray:
    from vecnest.config import IndexConfig, IndexKind

    vecs = np.random.default_rng(3).standard_normal((1500, 32)).astype(np.float32)
    with vecnest.open(root, background=False) as db:
        col = db.create_collection("c", model=None, dim=32, index=IndexConfig(kind=IndexKind.HNSW, min_rows=100, m=8, ef_construction=32))
        col.add([f"d{i}" for i in range(1500)], vectors=vecs)
        col.optimize()
    return vecs


@pytest.mark.parametrize("huge_pages", [True, False])
def test_a_reader_schedules_its_lazily_opened_graph_unless_told_not_to(tmp_path: Path, monkeypatch, huge_pages: bool) -> None:
    from vecnest.index import ann as ann_module

    vecs = _store(tmp_path / "s")
    monkeypatch.setattr(ann_module, "LAZY_BYTES", 0)  # (as an index file of a larger collection)
    seen: list[tuple[object, Path]] = []
    monkeypatch.setattr(promote.PROMOTER, "schedule", lambda ann, path, **kw: seen.append((ann, path, kw)))
    with vecnest.open(tmp_path / "s", read_only=True, huge_pages=huge_pages) as db:
        col = db.get_collection("c")
        assert col.search(vecs[4], k=1, strategy="ann", include=())[0].id == "d4"
        ann = col._source.cached.ann
        if not huge_pages:
            assert seen == []
            return
        ((got, path, kw),) = seen
        assert got is ann and path.name == ann.file and path.is_file()
        assert kw["dim"] == 32 and kw["n_indexed"] == 1500
        assert kw["current"](ann) and not kw["current"](object())


def test_a_reader_searches_its_graph_from_the_promoted_copy(tmp_path: Path, monkeypatch) -> None:
    """End to end, with a short delay: the index the reader serves is swapped for its private
    copy (collapse stubbed to succeed, as the kernel may not grant pages here) and answers the same."""
    from vecnest.index import ann as ann_module
    from vecnest.index import hugepages

    vecs = _store(tmp_path / "s")
    monkeypatch.setattr(ann_module, "LAZY_BYTES", 0)
    monkeypatch.setattr(promote, "DELAY_S", 0.05)
    monkeypatch.setattr(hugepages, "available", lambda: True)
    monkeypatch.setattr(hugepages, "headroom", lambda: 1 << 40)
    monkeypatch.setattr(hugepages, "collapse", lambda address, nbytes: 2 << 20)
    with vecnest.open(tmp_path / "s", read_only=True) as db:
        col = db.get_collection("c")
        before = [h.id for h in col.search(vecs[11], k=5, strategy="ann", include=())]
        ann = col._source.cached.ann
        _drain(promote.PROMOTER)
        assert ann.promoted and col.stats()["bytes_per_vector"]["index"]["where"] == "index in process memory (huge pages)"
        assert [h.id for h in col.search(vecs[11], k=5, strategy="ann", include=())] == before


def test_huge_pages_must_be_a_bool(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="huge_pages"):
        vecnest.open(tmp_path / "s", huge_pages="yes")  # type: ignore[arg-type]


def test_warm_loads_the_index_and_promotes_it_now(tmp_path: Path, monkeypatch) -> None:
    from vecnest.index import ann as ann_module
    from vecnest.index import hugepages

    vecs = _store(tmp_path / "s")
    monkeypatch.setattr(ann_module, "LAZY_BYTES", 0)
    monkeypatch.setattr(hugepages, "available", lambda: True)
    monkeypatch.setattr(hugepages, "headroom", lambda: 1 << 40)
    monkeypatch.setattr(hugepages, "collapse", lambda address, nbytes: 2 << 20)
    with vecnest.open(tmp_path / "s", read_only=True, huge_pages=False) as db:
        col = db.get_collection("c")
        assert col.warm() == {"index_loaded": True, "huge_pages_bytes": 0}  # (told not to)
        assert not col._source.cached.ann.promoted
    with vecnest.open(tmp_path / "s", read_only=True) as db:
        col = db.get_collection("c")
        assert col.warm() == {"index_loaded": True, "huge_pages_bytes": 4 << 20}
        assert col._source.cached.ann.promoted == 4 << 20
        assert col.search(vecs[3], k=1, strategy="ann", include=())[0].id == "d3"
        assert col.warm()["huge_pages_bytes"] == 0  # (once per index)


def test_a_closed_store_promotes_nothing(tmp_path: Path, monkeypatch) -> None:
    from vecnest.index import ann as ann_module

    vecs = _store(tmp_path / "s")
    monkeypatch.setattr(ann_module, "LAZY_BYTES", 0)
    seen: list[object] = []
    monkeypatch.setattr(promote.PROMOTER, "schedule", lambda ann, path, **kw: seen.append(kw["current"]))
    db = vecnest.open(tmp_path / "s", read_only=True)
    col = db.get_collection("c", model=None)  # (not among the collections the store keeps open)
    col.search(vecs[4], k=1, strategy="ann", include=())
    ann = col._source.cached.ann
    assert seen[0](ann)
    db.close()
    assert not seen[0](ann)
