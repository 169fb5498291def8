"""Promotion of a lazily opened HNSW graph to a private copy on huge pages (huge pages stubbed
where a test needs them granted or refused, whatever this kernel does)."""

from __future__ import annotations

import numpy as np
import pytest

from vecnest.config import IndexConfig, IndexKind
from vecnest.index.ann import AnnIndex
from vecnest.index.promotion import promote


def _mapped_graph(tmp_path, monkeypatch, n: int = 6000) -> tuple[AnnIndex, IndexConfig, np.ndarray]:
    """An HNSW graph (float16 vectors, 4.6 MB of codes: whole huge pages inside) saved, opened
    as readers open a large one (lazily) and loaded by a first search; the queries."""
    from vecnest.index import ann as ann_module

    rng = np.random.default_rng(9)
    vectors = rng.standard_normal((n, 384)).astype(np.float32)
    cfg = IndexConfig(kind=IndexKind.HNSW, m=8, ef_construction=16, graph_vectors="float16")
    AnnIndex.build(vectors, np.arange(n), cfg, l2=False).save(tmp_path / "g.faiss")
    monkeypatch.setattr(ann_module, "LAZY_BYTES", 0)
    mapped = AnnIndex.open(tmp_path / "g.faiss", cfg, l2=False, dim=384, n_indexed=n)
    queries = rng.standard_normal((20, 384)).astype(np.float32)
    mapped.search_unfiltered(queries[:1], 10, 32)  # (loads it)
    assert mapped.loaded and not mapped.promoted
    return mapped, cfg, queries


def _stub_huge_pages(monkeypatch, granted: bool = True) -> list[int]:
    """Huge pages granted (or refused) whatever this kernel does; the sizes asked for."""
    from vecnest.index import hugepages

    calls: list[int] = []
    monkeypatch.setattr(hugepages, "available", lambda: True)
    monkeypatch.setattr(hugepages, "headroom", lambda: 1 << 40)
    monkeypatch.setattr(hugepages, "collapse", lambda address, nbytes: calls.append(nbytes) or (2 << 20 if granted else 0))
    return calls


def test_a_promoted_graph_answers_as_its_map_did_from_private_memory(tmp_path, monkeypatch) -> None:
    """promote swaps in a private copy of the file it was opened from (huge pages stubbed as
    granted, so the swap runs whatever this kernel grants), whose answers are the map's."""
    mapped, _, queries = _mapped_graph(tmp_path, monkeypatch)
    want = mapped.search_unfiltered(queries, 10, 32)
    packed = np.packbits(np.arange(6000) % 3 == 0, bitorder="little")
    want_filtered = mapped.search_with(queries, 10, mapped.filtered_params(32, packed, {}))
    calls = _stub_huge_pages(monkeypatch)
    assert promote(mapped, tmp_path / "g.faiss", dim=384, n_indexed=6000) == 2 * (2 << 20)
    assert sorted(calls) == sorted([6000 * 384 * 2, mapped.component_bytes()["graph_links"] - 6001 * 8 - 6000 * 4])
    assert mapped.promoted == 2 * (2 << 20)
    got = mapped.search_unfiltered(queries, 10, 32)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6)
    got_filtered = mapped.search_with(queries, 10, mapped.filtered_params(32, packed, {}))
    np.testing.assert_array_equal(got_filtered[0], want_filtered[0])
    assert promote(mapped, tmp_path / "g.faiss", dim=384, n_indexed=6000) == 0  # (once per index)


@pytest.mark.parametrize("case", ["no_huge_pages", "no_room", "refused", "not_wanted", "other_file", "link", "fifo", "missing", "other_count", "not_lazy"])
def test_a_graph_that_cannot_or_should_not_be_promoted_keeps_its_map(tmp_path, monkeypatch, case: str) -> None:
    """Nothing changes where the system has no huge pages, too little memory, refuses the
    pages, or the caller no longer wants it; nor where the path is not the file the index was
    opened from (replaced, a link, a FIFO, gone), holds other rows, or the index was not opened
    lazily (small: mapped at once)."""
    import os

    from vecnest.index import hugepages

    mapped, cfg, queries = _mapped_graph(tmp_path, monkeypatch)
    want = mapped.search_unfiltered(queries, 10, 32)
    _stub_huge_pages(monkeypatch, granted=case != "refused")
    path, kw = tmp_path / "g.faiss", {"dim": 384, "n_indexed": 6000}
    if case == "no_huge_pages":
        monkeypatch.setattr(hugepages, "available", lambda: False)
    elif case == "no_room":
        monkeypatch.setattr(hugepages, "headroom", lambda: os.path.getsize(path))  # (less than twice the file)
    elif case == "not_wanted":
        kw["keep"] = lambda: False
    elif case == "other_file":  # (the same name, another file: a replaced file is never read as this one)
        other = AnnIndex.build(np.random.default_rng(2).standard_normal((6000, 384)).astype(np.float32), np.arange(6000), cfg, l2=False)
        path.unlink()
        other.save(path)
    elif case == "link":
        path = tmp_path / "link.faiss"
        path.symlink_to(tmp_path / "g.faiss")
    elif case == "fifo":
        path = tmp_path / "fifo.faiss"
        os.mkfifo(path)  # (opened without blocking, refused as not a regular file)
    elif case == "missing":
        path.unlink()
    elif case == "other_count":
        kw["n_indexed"] = 5999
    elif case == "not_lazy":
        mapped = AnnIndex.load(path, cfg, l2=False, mmap=True)
    assert promote(mapped, path, **kw) == 0
    assert not mapped.promoted
    np.testing.assert_array_equal(mapped.search_unfiltered(queries, 10, 32)[0], want[0])


def test_filtered_and_plain_searches_running_while_a_graph_is_promoted_never_touch_freed_memory(tmp_path, monkeypatch) -> None:
    """Searches hold the index they started on (the inner graph's search method does not own
    it): threads searching through the swap keep answering what the map answered (before the
    fix this crashed the process: the old index was freed mid-search)."""
    import threading

    from vecnest.index import ann as ann_module

    rng = np.random.default_rng(1)
    x = rng.standard_normal((4000, 64)).astype(np.float32)
    cfg = IndexConfig(kind=IndexKind.HNSW, m=8, ef_construction=16)
    AnnIndex.build(x, np.arange(4000), cfg, l2=False).save(tmp_path / "r.faiss")
    monkeypatch.setattr(ann_module, "LAZY_BYTES", 0)
    _stub_huge_pages(monkeypatch)
    packed = np.packbits(np.arange(4000) % 2 == 0, bitorder="little")
    want = None
    wrong: list[int] = []
    for _trial in range(15):
        ann = AnnIndex.open(tmp_path / "r.faiss", cfg, l2=False, dim=64, n_indexed=4000)
        first = ann.search_with(x[:8], 10, ann.filtered_params(64, packed, {}))[0]
        want = first if want is None else want
        stop = threading.Event()

        def loop(a: AnnIndex = ann, filtered: bool = True, one: bool = False) -> None:
            cache: dict = {}
            i = 0
            while not stop.is_set():
                if filtered and one:  # (the one-query hot path: AnnIndex._one)
                    got = a.search_with(x[:1], 10, a.filtered_params(64, packed, cache))[0]
                    if not np.array_equal(got, want[:1]):
                        wrong.append(i)
                elif filtered:
                    got = a.search_with(x[:8], 10, a.filtered_params(64, packed, cache))[0]
                    if not np.array_equal(got, want):
                        wrong.append(i)
                elif one:
                    a.search_unfiltered(x[i % 4000 : i % 4000 + 1], 10, 64)
                else:
                    a.search_unfiltered(x[i % 4000 : i % 4000 + 3], 10, 64)
                i += 1

        modes = [(True, False), (True, True), (False, False), (False, True)]
        threads = [threading.Thread(target=loop, kwargs={"filtered": f, "one": o}) for f, o in modes]
        for t in threads:
            t.start()
        assert promote(ann, tmp_path / "r.faiss", dim=64, n_indexed=4000) > 0
        stop.set()
        for t in threads:
            t.join()
        assert ann.promoted
    assert not wrong
