from __future__ import annotations

import numpy as np
import pytest

from pathlib import Path

from vecnest.compress.memory import mapped_rss
from vecnest.index.flat import FlatIndex
from vecnest.store.segments import map_file
from vecnest.kernels.distance import squared_norms


def _brute(q: np.ndarray, v: np.ndarray, allowed: np.ndarray, k: int, l2: bool) -> np.ndarray:
    if l2:
        s = -((q[:, None, :] - v[None, :, :]) ** 2).sum(-1)
    else:
        s = q @ v.T
    s[:, ~allowed] = -np.inf
    return np.argsort(-s, axis=1, kind="stable")[:, :k]


def test_flat_matches_brute_force_with_dead_slots_and_filters(rng: np.random.Generator) -> None:
    v = rng.normal(size=(500, 12)).astype(np.float32)
    q = rng.normal(size=(7, 12)).astype(np.float32)
    alive = rng.random(500) > 0.2
    for l2 in (False, True):
        index = FlatIndex(v, alive, l2=l2)
        slots, _ = index.search(q, 10)
        np.testing.assert_array_equal(slots, _brute(q, v, alive, 10, l2))
        for frac in (0.05, 0.6):  # gather path and mask path
            cand = np.flatnonzero(alive & (rng.random(500) < frac))
            allowed = np.zeros(500, bool)
            allowed[cand] = True
            slots, _ = index.search(q, 10, cand)
            np.testing.assert_array_equal(slots, _brute(q, v, allowed, 10, l2))


def test_flat_pads_with_minus_one_when_few_candidates() -> None:
    v = np.eye(4, dtype=np.float32)
    index = FlatIndex(v, None, l2=False)
    slots, scores = index.search(np.ones((1, 4), np.float32), 3, np.array([2], dtype=np.int64))
    assert [s for s in slots[0].tolist() if s >= 0] == [2]
    slots, scores = index.search(np.ones((1, 4), np.float32), 3, np.array([0, 1, 2], dtype=np.int64)[:0])
    assert slots.shape == (1, 0)
    alive = np.array([True, False, False, False])
    slots, scores = FlatIndex(v, alive, l2=False).search(np.ones((1, 4), np.float32), 3)
    assert slots.tolist() == [[0, -1, -1]]
    assert np.isneginf(scores[0, 1:]).all()


def test_rescore_ranks_each_querys_candidates_exactly_wherever_their_gaps_are(tmp_path: Path, rng: np.random.Generator) -> None:
    """One FAISS call scores every query's candidates in place in the map: the exact top-k of
    its own valid slots, ``-1`` / ``-inf`` where fewer than ``k`` exist, whether the gaps sit at
    the end (FAISS's padding), in the middle or fill a whole row; a slot past the segment is an
    error, never a read past the map."""
    v = rng.normal(size=(300, 16)).astype(np.float32)
    path = tmp_path / "seg.f32"
    v.tofile(path)
    mapped = map_file(path, v.nbytes).view(np.float32).reshape(300, 16)
    q = rng.normal(size=(5, 16)).astype(np.float32)
    cand = np.stack([rng.choice(300, size=40, replace=False) for _ in range(5)]).astype(np.int64)
    cand[1, 30:] = -1  # padding at the end
    cand[2, ::3] = -1  # gaps in the middle (a sketch's candidates)
    cand[3] = -1  # none at all
    cand[4, 3:] = -1  # fewer than k
    for l2 in (False, True):
        slots, scores = FlatIndex(mapped, None, l2=l2).rescore(q, cand, 10)
        assert slots.shape == scores.shape == (5, 10)
        for i in range(5):
            valid = np.unique(cand[i][cand[i] >= 0])
            s = -((v[valid] - q[i]) ** 2).sum(1) if l2 else v[valid] @ q[i]
            order = np.argsort(-s, kind="stable")[:10]
            n = len(order)
            assert set(slots[i, :n].tolist()) == set(valid[order].tolist())
            np.testing.assert_allclose(scores[i, :n], s[order], rtol=1e-5, atol=1e-4)
            assert (slots[i, n:] == -1).all() and np.isneginf(scores[i, n:]).all()
    with pytest.raises(IndexError, match="past the 300 rows"):
        FlatIndex(mapped, None, l2=False).rescore(q[:1], np.array([[5, -1, 300]]), 10)
    for bad_q, bad_c, bad_k in ((q, cand[:1], 10), (np.ones((1, 20), np.float32), cand[:1], 10), (q[:1], cand[:1], 0)):
        with pytest.raises(ValueError, match="rescore: expected"):  # (never a read past a buffer)
            FlatIndex(mapped, None, l2=False).rescore(bad_q, bad_c, bad_k)


def test_l2_norms_cached_per_snapshot(rng: np.random.Generator) -> None:
    v = rng.normal(size=(20, 3)).astype(np.float32)
    index = FlatIndex(v, None, l2=True)
    np.testing.assert_allclose(index.sq_norms, squared_norms(v))
    assert index.sq_norms is index.sq_norms


def test_kept_row_blocks_give_the_same_answers_within_their_budget(rng: np.random.Generator) -> None:
    """A cached filter match keeps its rows gathered into one block while the snapshot's
    budget allows (then scans that block), gives the bytes back when it leaves the cache, and
    past the budget scans in place: the answers never change."""
    from vecnest.search.match import Match, _Budget

    vecs = rng.standard_normal((4000, 16)).astype(np.float32)
    for l2 in (False, True):
        flat = FlatIndex(vecs, None, l2=l2)
        q = rng.standard_normal((3, 16)).astype(np.float32)
        masks = [rng.random(4000) < p for p in (0.005, 0.02, 0.2)]
        budget = _Budget(int(masks[0].sum() + masks[1].sum()) * 16 * 4)  # room for the two small ones
        matches = [Match(m, int(m.sum()), budget) for m in masks]
        for m, match in zip(masks, matches, strict=True):
            want = flat.search(q, 10, np.flatnonzero(m))
            for _ in range(2):  # first search gathers (and keeps if it can), the second reuses
                got = flat.search(q, 10, match)
                np.testing.assert_array_equal(got[0], want[0])
                np.testing.assert_allclose(got[1], want[1], rtol=1e-5)
            for i in range(len(q)):  # one query at a time too (the single-query path)
                one = flat.search(q[i : i + 1], 10, match)
                np.testing.assert_array_equal(one[0][0], want[0][i])
        assert matches[0]._rows is not None and matches[1]._rows is not None
        assert matches[2]._rows is None and budget.left == 0  # over the budget: scanned in place
        np.testing.assert_array_equal(matches[1]._rows, vecs[np.flatnonzero(masks[1])])
        matches[0].release()
        assert budget.left == int(masks[0].sum()) * 16 * 4 and matches[0]._rows is None


def test_scan_answers_as_search_does_reading_the_file_not_the_map(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """scan (the exact answers recall is measured against) gives search's top-k, over every
    live slot or a filter's, for both metrics, across blocks of the file; the segment's map is
    not read (what a one-off pass reads must not stay resident); rows() copies rows the same way."""
    from vecnest.store import rowio

    monkeypatch.setattr(rowio, "BLOCK_BYTES", 1)  # (1,024-row blocks: three of them)
    v = rng.normal(size=(3000, 24)).astype(np.float32)
    path = tmp_path / "c1.g0.f32"
    v.tofile(path)
    view = map_file(path, v.nbytes).view(np.float32).reshape(v.shape)
    q = rng.normal(size=(40, 24)).astype(np.float32)
    alive = rng.random(3000) > 0.1
    for l2 in (False, True):
        mapped = FlatIndex(view, alive, l2=l2, path=path)
        plain = FlatIndex(v, alive, l2=l2)
        for cand in (None, np.flatnonzero(alive & (rng.random(3000) < 0.02)), np.flatnonzero(alive & (rng.random(3000) < 0.5))):
            want, want_s = plain.search(q, 10, cand)
            got, got_s = mapped.scan(q, 10, cand)
            np.testing.assert_array_equal(got, want)
            np.testing.assert_allclose(got_s, want_s, rtol=1e-5, atol=1e-5)
        assert mapped_rss([path])[str(path.resolve())] == 0
        np.testing.assert_array_equal(mapped.rows(np.array([0, 7, 2999])), v[[0, 7, 2999]])
    few, _ = FlatIndex(view, None, l2=False, path=path).scan(q[:1], 10, np.array([5, 9], dtype=np.int64))
    assert few.shape == (1, 2) and sorted(few[0].tolist()) == [5, 9]  # (as search: no padding)


def test_a_transient_search_answers_the_same_and_leaves_no_page_mapped(tmp_path: Path, rng: np.random.Generator) -> None:
    """transient=True (a scan standing in for an index search) answers as a plain search and
    releases the map's pages it read; a plain in-place search keeps them (the collection's own
    way of searching); an in-memory array is searched the same and left alone."""
    v = rng.normal(size=(16_384, 32)).astype(np.float32)  # (2 MiB: whole pages of 4, 16 or 64 KiB)
    path = tmp_path / "c1.g0.f32"
    v.tofile(path)
    view = map_file(path, v.nbytes).view(np.float32).reshape(v.shape)
    q = rng.normal(size=(1, 32)).astype(np.float32)
    half = np.flatnonzero(rng.random(len(v)) < 0.5)
    flat = FlatIndex(view, None, l2=False, path=path)
    want = FlatIndex(v, None, l2=False).search(q, 10, half)
    got = flat.search(q, 10, half, transient=True)
    np.testing.assert_array_equal(got[0], want[0])
    assert mapped_rss([path])[str(path.resolve())] == 0
    flat.search(q, 10, half)
    assert mapped_rss([path])[str(path.resolve())] > v.nbytes // 2  # in place: every page touched
    np.testing.assert_array_equal(FlatIndex(v, None, l2=False).search(q, 10, half, transient=True)[0], want[0])


def test_a_transient_search_releases_only_the_rows_it_read(tmp_path: Path, rng: np.random.Generator) -> None:
    """A transient scan of a run of slots releases that run's pages, not those other scans
    mapped (a chosen exact scan keeps its pages for the next query). The file is 8 MiB: a map
    of huge pages (tmpfs, large folios) is released 2 MiB at a time."""
    v = rng.normal(size=(65_536, 32)).astype(np.float32)
    path = tmp_path / "c1.g0.f32"
    v.tofile(path)
    view = map_file(path, v.nbytes).view(np.float32).reshape(v.shape)
    q = rng.normal(size=(1, 32)).astype(np.float32)
    flat = FlatIndex(view, None, l2=False, path=path)
    flat.search(q, 10, np.flatnonzero(rng.random(len(v)) < 0.5))  # in place: every page mapped
    before = mapped_rss([path])[str(path.resolve())]
    run = np.arange(1_000, 3_000, dtype=np.int64)  # 250 KiB of rows
    want = FlatIndex(v, None, l2=False).search(q, 10, run)
    got = flat.search(q, 10, run, transient=True)
    np.testing.assert_array_equal(got[0], want[0])
    after = mapped_rss([path])[str(path.resolve())]
    assert before > v.nbytes // 2 and before - run.size * 128 - 2 * (2 << 20) <= after < before


def test_a_second_use_copies_rows_an_in_place_scan_mapped_through_the_map(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kept match above SELECT_FRACTION is scanned in place on its first use; when that scan
    kept what it mapped, the second use gathers the rows through the map (not by reading their
    span from the file again) and answers the same. A transient search above SELECT_FRACTION
    keeps no block (it stands in for an index search for a few queries: reading the rows from
    the file cost 130 ms at 74k x 384, 15 %), scans in place and leaves no page mapped; a
    small match is gathered from the file on its first use, transient or not."""
    from vecnest.index import flat as flat_mod
    from vecnest.search.match import Match, _Budget

    v = rng.normal(size=(8_192, 32)).astype(np.float32)  # (1 MiB)
    q = rng.normal(size=(1, 32)).astype(np.float32)
    file_reads: list[int] = []
    real_gather = flat_mod.gather

    def counted(vectors: np.ndarray, rows: np.ndarray, *, path: Path | None = None) -> np.ndarray:
        file_reads.append(len(rows))
        return real_gather(vectors, rows, path=path)

    monkeypatch.setattr(flat_mod, "gather", counted)
    cases = [  # (fraction, transient flag of each search, rows read from the file, a block kept)
        (0.10, (False, False, False), False, True),
        (0.10, (True, True, True), False, False),
        (0.10, (True, False, False), False, True),  # (in place at the 2nd, gathered through the map at the 3rd)
        (0.10, (False, True, True), False, False),
        (0.01, (False, False, False), True, True),
        (0.01, (True, True, True), True, True),
    ]
    for i, (fraction, flags, via_file, kept) in enumerate(cases):
        path = tmp_path / f"c{i}.g0.f32"  # (a file and map of its own: no page mapped yet)
        v.tofile(path)
        mask = rng.random(len(v)) < fraction
        want = FlatIndex(v, None, l2=False).search(q, 10, np.flatnonzero(mask))
        view = map_file(path, v.nbytes).view(np.float32).reshape(v.shape)
        index = FlatIndex(view, None, l2=False, path=path)
        match = Match(mask, int(mask.sum()), _Budget(1 << 30))
        file_reads.clear()
        for transient in flags:
            got = index.search(q, 10, match, transient=transient)
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_allclose(got[1], want[1], rtol=1e-5)
        if kept:
            assert match._rows is not None, flags  # kept after the first, second or third use
            np.testing.assert_array_equal(match._rows, v[mask])
        else:
            assert match._rows is None, flags
        assert file_reads == ([int(mask.sum())] if via_file else []), (fraction, flags)
        if all(flags) and fraction > 0.05:
            # (a released span keeps only the partly covered pages at its ends: the rows of a
            # 10 % match lie on nearly every page, all of which a copy through the map maps)
            assert mapped_rss([path])[str(path.resolve())] < v.nbytes // 4, flags
