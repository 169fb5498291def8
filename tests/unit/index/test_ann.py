"""The FAISS index wrapper: labels are slots, whatever order the rows were added in."""

from __future__ import annotations

import numpy as np
import pytest

from vecnest.config import IndexConfig, IndexKind
from vecnest.index.ann import AnnIndex
from vecnest.index import ann as ann_module


@pytest.mark.parametrize("graph_vectors", ["float16", "float32"])
def test_a_filtered_graph_search_searched_directly_returns_what_the_id_map_returns(graph_vectors: str) -> None:
    """Under a filter the graph is searched directly, with the filter's bits permuted to graph
    positions (rows added out of slot order, as the calibration's held-out rows are, and with
    gaps), and the labels translated back: the same slots and scores as through the id map."""
    rng = np.random.default_rng(0)
    n, dim = 3000, 32
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    slots = np.flatnonzero(rng.random(n) < 0.9)  # gaps: rows deleted before the build
    held = rng.choice(slots, 100, replace=False)
    rest = np.setdiff1d(slots, held)
    cfg = IndexConfig(kind=IndexKind.HNSW, m=16, ef_construction=64, graph_vectors=graph_vectors)
    ann = AnnIndex.build(vectors, rest, cfg, l2=False)
    ann.add(vectors, np.sort(held))  # out of slot order, as after a calibration
    assert ann._slot_of is not None and not np.array_equal(ann._slot_of[:-1], np.sort(ann._slot_of[:-1]))
    queries = rng.standard_normal((20, dim)).astype(np.float32)
    for share in (0.02, 0.3, 1.0):
        allowed = np.zeros(n, dtype=bool)
        allowed[slots[rng.random(len(slots)) < share]] = True
        cache: dict = {}
        direct = ann.search(queries, 10, allowed=allowed, ef_search=64, cache=cache)
        again = ann.search(queries, 10, allowed=allowed, ef_search=64, cache=cache)  # the cached bits
        slot_of, ann._slot_of = ann._slot_of, None  # through the id map
        try:
            mapped = ann.search(queries, 10, allowed=allowed, ef_search=64)
        finally:
            ann._slot_of = slot_of
        np.testing.assert_array_equal(direct[0], mapped[0])
        np.testing.assert_array_equal(direct[1], mapped[1])
        np.testing.assert_array_equal(again[0], mapped[0])
        got = direct[0][direct[0] >= 0]
        assert allowed[got].all()  # only rows the filter keeps
        if share < 0.05:  # a short walk: padding -1 with -inf scores, never a slot
            assert set(np.unique(direct[0])) <= set(np.flatnonzero(allowed)) | {-1}
            assert np.isneginf(direct[1][direct[0] < 0]).all()
    # merging more rows keeps the map of positions current
    more = np.arange(n, n + 200)
    vectors2 = np.concatenate([vectors, rng.standard_normal((200, dim)).astype(np.float32)])
    ann.add(vectors2, more)
    allowed = np.zeros(n + 200, dtype=bool)
    allowed[more] = True
    got, _, _ = ann.search(vectors2[more[:5]], 1, allowed=allowed, ef_search=64)
    np.testing.assert_array_equal(got[:, 0], more[:5])


def test_an_index_is_built_block_by_block_from_the_segments_file(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Built and extended from the segment's file in blocks (sparse ones pooled per FAISS call),
    every row asked for is indexed once under its slot, whatever the blocks; the map is not read."""
    from vecnest.compress.memory import mapped_rss
    from vecnest.store import rowio
    from vecnest.store.segments import map_file

    monkeypatch.setattr(rowio, "BLOCK_BYTES", 1)  # (1,024-row blocks)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5000, 16)).astype(np.float32)
    path = tmp_path / "c1.g0.f32"
    x.tofile(path)
    view = map_file(path, x.nbytes).view(np.float32).reshape(x.shape)
    first = np.flatnonzero(rng.random(5000) < 0.3)  # sparse blocks, pooled
    later = np.setdiff1d(np.arange(5000), first)[:1500]
    ann = AnnIndex.build(view, first, IndexConfig(kind=IndexKind.HNSW, ef_construction=32), l2=True, path=path)
    ann.add(view, later, path=path)
    assert ann.ntotal == len(first) + len(later)
    assert sorted(ann.labels().tolist()) == sorted([*first.tolist(), *later.tolist()])
    got, _, _ = ann.search(x[later[:20]], 1, allowed=None, ef_search=64)
    assert (got[:, 0] == later[:20]).mean() >= 0.9  # each row found under its own slot
    assert mapped_rss([path])[str(path.resolve())] == 0


@pytest.mark.parametrize("graph_vectors", ["float16", "float32"])
def test_a_build_makes_room_for_the_rows_it_is_told_follow(graph_vectors: str) -> None:
    """Built with ``spare`` rows of room, adding them later does not move the graph's vectors,
    links or ids (growing one of FAISS's arrays copies it whole: 1M rows at 256 float16 hold
    ~390 MiB more than the index while it is copied); without the room, it does."""
    import faiss

    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((3000, 16)).astype(np.float32)
    held = np.arange(2900, 3000)
    cfg = IndexConfig(kind=IndexKind.HNSW, m=16, ef_construction=32, graph_vectors=graph_vectors)

    def addresses(ann: AnnIndex) -> list[int]:
        outer = faiss.downcast_index(ann.index)
        inner = faiss.downcast_index(outer.index)
        storage = faiss.downcast_index(inner.storage)
        return [int(storage.codes.data()), int(inner.hnsw.neighbors.data()), int(outer.id_map.data())]

    roomy = AnnIndex.build(vectors, np.arange(2900), cfg, l2=True, spare=len(held))
    before = addresses(roomy)
    roomy.add(vectors, held)
    assert addresses(roomy) == before
    assert sorted(roomy.labels().tolist()) == list(range(3000))
    got, _, _ = roomy.search(vectors[held[:20]], 1, allowed=None, ef_search=64)
    assert (got[:, 0] == held[:20]).mean() >= 0.9
    tight = AnnIndex.build(vectors, np.arange(2900), cfg, l2=True)
    before = addresses(tight)
    tight.add(vectors, held)
    assert addresses(tight) != before


def test_making_room_leaves_a_mapped_index_alone(tmp_path) -> None:
    """A mapped index's arrays are FAISS's views of the file, which it cannot grow (it aborts
    the process): making room skips them and leaves the index as it was."""
    rng = np.random.default_rng(2)
    vectors = rng.standard_normal((500, 16)).astype(np.float32)
    cfg = IndexConfig(kind=IndexKind.HNSW, m=8, ef_construction=16, graph_vectors="float16")
    path = tmp_path / "i.faiss"
    AnnIndex.build(vectors, np.arange(500), cfg, l2=True).save(path)
    mapped = AnnIndex.load(path, cfg, l2=True, mmap=True)
    import faiss

    inner = faiss.downcast_index(faiss.downcast_index(mapped.index).index)
    assert not faiss.downcast_index(inner.storage).codes.is_owned  # (the file's pages)
    mapped._reserve(1000)
    assert mapped.ntotal == 500 and sorted(mapped.labels().tolist()) == list(range(500))
    got, _, _ = mapped.search(vectors[:10], 1, allowed=None, ef_search=32)
    assert (got[:, 0] == np.arange(10)).mean() >= 0.9


def test_a_mapped_index_is_read_into_the_page_cache_before_its_first_search(tmp_path, monkeypatch) -> None:
    """Cold, a graph walk over the map would wait on one small read per page it touches: what
    the cache lacks of the file is read in order first (and nothing when it is all cached)."""
    import os

    from vecnest.index import ann
    from vecnest.store import pagecache

    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((2000, 32)).astype(np.float32)
    cfg = IndexConfig(kind=IndexKind.HNSW, m=8, ef_construction=16, graph_vectors="float16")
    path = tmp_path / "i.faiss"
    AnnIndex.build(vectors, np.arange(2000), cfg, l2=True).save(path)
    filled: list[int] = []
    monkeypatch.setattr(ann, "fill", lambda p: filled.append(pagecache.fill(p)))
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # (evicted, where the file system allows)
        missing = pagecache.missing(fd, os.fstat(fd).st_size)
        AnnIndex.load(path, cfg, l2=True, mmap=True)
        assert missing is not None and filled == [sum(length for _, length in missing)]
        assert pagecache.missing(fd, os.fstat(fd).st_size) == []
        AnnIndex.load(path, cfg, l2=True, mmap=True)
        AnnIndex.load(path, cfg, l2=True, mmap=False)  # (read whole by FAISS: nothing to fill)
        assert filled[1:] == [0]
    finally:
        os.close(fd)


def _saved_graph(tmp_path, n: int = 2000) -> tuple[AnnIndex, IndexConfig, np.ndarray]:
    rng = np.random.default_rng(4)
    vectors = rng.standard_normal((n, 32)).astype(np.float32)
    cfg = IndexConfig(kind=IndexKind.HNSW, m=8, ef_construction=16)
    built = AnnIndex.build(vectors, np.arange(n), cfg, l2=True)
    built.save(tmp_path / "i.faiss")
    return built, cfg, rng.standard_normal((5, 32)).astype(np.float32)


def _open_fds() -> int:
    import os

    return len(os.listdir("/proc/self/fd"))


def test_a_large_index_is_loaded_when_first_used_even_after_its_file_is_replaced(tmp_path, monkeypatch) -> None:
    """A file of at least LAZY_BYTES is only opened when a snapshot names it: loaded, filled and
    checked at its first use, through the descriptor held since (a merge may have unlinked it
    meanwhile); smaller files load at once."""
    from vecnest.index import ann

    built, cfg, queries = _saved_graph(tmp_path)
    path = tmp_path / "i.faiss"
    assert AnnIndex.open(path, cfg, l2=True, dim=32, n_indexed=2000).loaded  # (small: at once)
    monkeypatch.setattr(ann, "LAZY_BYTES", 0)
    fds = _open_fds()
    lazy = AnnIndex.open(path, cfg, l2=True, dim=32, n_indexed=2000)
    assert not lazy.loaded and lazy.file == "i.faiss" and lazy.config is cfg
    path.unlink()  # (replaced by a merge before the first search)
    got = lazy.search_unfiltered(queries, 10, 32)
    assert lazy.loaded and lazy.ntotal == 2000
    want = built.search_unfiltered(queries, 10, 32)
    np.testing.assert_array_equal(got[0], want[0])
    assert _open_fds() == fds  # (the descriptor is closed once loaded: the map holds the file)
    unused = AnnIndex.open(_resaved(built, tmp_path), cfg, l2=True, dim=32, n_indexed=2000)
    assert _open_fds() == fds + 1
    del unused
    assert _open_fds() == fds  # (an index never used closes its descriptor when dropped)


def _resaved(built: AnnIndex, tmp_path):
    path = tmp_path / "k.faiss"
    built.save(path)
    return path


@pytest.mark.parametrize("damage", ["garbage", "other_count"])
def test_a_lazily_opened_index_found_damaged_raises_at_every_use(tmp_path, monkeypatch, damage: str) -> None:
    from vecnest.index import ann
    from vecnest.index.ann import IndexUnusable

    _, cfg, queries = _saved_graph(tmp_path)
    path = tmp_path / "i.faiss"
    if damage == "garbage":
        path.write_bytes(b"\0" * path.stat().st_size)
    monkeypatch.setattr(ann, "LAZY_BYTES", 0)
    lazy = AnnIndex.open(path, cfg, l2=True, dim=32, n_indexed=1999 if damage == "other_count" else 2000)
    for _ in range(2):  # (remembered: never half-loaded, never retried per search)
        with pytest.raises(IndexUnusable) as info:
            lazy.search_unfiltered(queries, 10, 32)
        assert info.value.name == "i.faiss" and not lazy.loaded
    if damage == "other_count":
        assert "holds 2000 rows, the catalog recorded 1999" in info.value.why


@pytest.mark.parametrize("kind", [IndexKind.HNSW, IndexKind.IVF])
@pytest.mark.parametrize("l2", [False, True])
def test_one_query_answers_as_it_would_in_a_batch_and_leaves_the_thread_team_as_it_was(kind: IndexKind, l2: bool) -> None:
    """One query (the lean path, ``AnnIndex._one``) gets what it gets as the first of a batch
    (slots, scores, padding of a short list with -1 and -inf), unfiltered and under a filter's
    bitmap (a graph searched directly, its positions translated), for any query layout, and
    the calling thread's OpenMP team size is restored."""
    from vecnest import _threads

    rng = np.random.default_rng(5)
    n = 300
    vectors = rng.standard_normal((2 * n, 16)).astype(np.float32)
    cfg = IndexConfig(kind=kind, m=8, ef_construction=32, nlist=4) if kind is IndexKind.IVF else IndexConfig(kind=kind, m=8, ef_construction=32)
    ann = AnnIndex.build(vectors, np.arange(0, 2 * n, 2), cfg, l2=l2)  # (slots are not positions)
    effort = 4 if kind is IndexKind.IVF else 16
    before = _threads.omp_max_threads()
    other = rng.standard_normal((1, 16)).astype(np.float32)
    for q in (rng.standard_normal(16).astype(np.float32), rng.standard_normal(32).astype(np.float32)[::2]):
        pair = np.vstack([q[None, :], other])
        for k in (10, n + 5):  # (more than the index holds: padded)
            one = ann.search_unfiltered(q[None, :], k, effort)
            batch = ann.search_unfiltered(pair, k, effort)
            np.testing.assert_array_equal(one[0], batch[0][:1])
            np.testing.assert_array_equal(one[1], batch[1][:1])
            assert one[0].shape == (1, k) and one[1].dtype == np.float32
            assert (one[0] % 2 == 0)[one[0] >= 0].all()  # slots, not positions
        assert np.isneginf(one[1][one[0] < 0]).all() and (one[0] < 0).any()
        allowed = np.zeros(2 * n, dtype=bool)
        allowed[::6] = True  # (a third of the indexed slots)
        packed = np.packbits(allowed, bitorder="little")
        for k in (10, n):  # (n: more than the filter keeps, padded)
            held = ann.filtered_params(max(effort, k), packed, {})
            one = ann.search_with(q[None, :], k, held)
            batch = ann.search_with(pair, k, held)
            np.testing.assert_array_equal(one[0], batch[0][:1])
            np.testing.assert_array_equal(one[1], batch[1][:1])
            assert allowed[one[0][one[0] >= 0]].all()
        assert np.isneginf(one[1][one[0] < 0]).all() and (one[0] < 0).any()
    assert _threads.omp_max_threads() == before


def test_the_one_query_path_searches_on_a_team_of_one_and_restores_the_team_even_when_faiss_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    """During the FAISS call the calling thread's OpenMP team is one thread; after it, success
    or exception, the team size the host had (3 here, so the restore runs on any machine)."""
    from vecnest import _threads

    rng = np.random.default_rng(8)
    vectors = rng.standard_normal((500, 16)).astype(np.float32)
    ann = AnnIndex.build(vectors, np.arange(500), IndexConfig(kind=IndexKind.HNSW, m=8, ef_construction=32), l2=False)
    query = vectors[:1].copy()
    owner, search_c, direct, slot_of = ann._graph
    seen: list[int] = []

    def spy(*args):
        seen.append(_threads.omp_max_threads())
        return search_c(*args)

    def boom(*args):
        seen.append(_threads.omp_max_threads())
        raise RuntimeError("FAISS failed")

    host = _threads.omp_max_threads()
    _threads.omp_set_threads(3)
    try:
        ann._graph = (owner, spy, direct, slot_of)
        assert ann.search_unfiltered(query, 10, 16)[0][0, 0] == 0
        assert seen == [1] and _threads.omp_max_threads() == 3
        ann._graph = (owner, boom, direct, slot_of)
        with pytest.raises(RuntimeError, match="FAISS failed"):
            ann.search_unfiltered(query, 10, 16)
        assert seen == [1, 1] and _threads.omp_max_threads() == 3
        ann._graph = (owner, search_c, direct, slot_of)

        def no_batch(n: int) -> None:
            raise AssertionError(f"one query took the batch path (FewQueries({n}))")

        monkeypatch.setattr(ann_module, "FewQueries", no_batch)
        # (one query: AnnIndex._one, without the batch's machinery)
        assert ann.search_unfiltered(query, 10, 16)[0][0, 0] == 0
        with pytest.raises(AssertionError, match="batch path"):
            ann.search_unfiltered(vectors[:2], 10, 16)
    finally:
        _threads.omp_set_threads(host)
