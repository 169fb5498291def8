from __future__ import annotations

import numpy as np
import pytest

from vecnest.search import delta


def _reference(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """The best k of both answers, row by row in plain Python (ties: ``a`` first)."""
    slots, scores = [], []
    for i in range(len(a[0])):
        pairs = list(zip(a[1][i].tolist() + b[1][i].tolist(), a[0][i].tolist() + b[0][i].tolist(), strict=True))
        best = sorted(range(len(pairs)), key=lambda j: -pairs[j][0])[:k]  # (sorted() is stable)
        scores.append([pairs[j][0] for j in best])
        slots.append([pairs[j][1] if np.isfinite(pairs[j][0]) else -1 for j in best])
    return np.array(slots, dtype=np.int64), np.array(scores, dtype=np.float32)


@pytest.mark.parametrize("wide", [False, True])
def test_merge_keeps_the_best_k_of_both_answers(rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, wide: bool) -> None:
    if wide:  # (the partition path of answers wider than SORT_WIDTH)
        monkeypatch.setattr(delta, "SORT_WIDTH", 4)
    q, k = 5, 10
    a_scores = -np.sort(-rng.integers(0, 6, (q, k)).astype(np.float32), axis=1)  # many ties
    b_scores = -np.sort(-rng.integers(0, 6, (q, k)).astype(np.float32), axis=1)
    a_scores[0, 7:] = -np.inf  # short answers: -inf past their ends, slot -1
    b_scores[1, 3:] = -np.inf
    a = (np.arange(q * k, dtype=np.int64).reshape(q, k), a_scores)
    b = (1000 + np.arange(q * k, dtype=np.int64).reshape(q, k), b_scores)
    a[0][0, 7:] = -1
    b[0][1, 3:] = -1
    slots, scores = delta.merge(a, b, k)
    want_slots, want_scores = _reference(a, b, k)
    np.testing.assert_array_equal(scores, want_scores)
    if wide:  # (a partition breaks ties arbitrarily: the same scores, a set of slots per score)
        for i in range(q):
            for s in set(want_scores[i].tolist()):
                tied = set(a[0][i][a[1][i] == s].tolist()) | set(b[0][i][b[1][i] == s].tolist())
                assert set(slots[i][scores[i] == s].tolist()) <= (tied if np.isfinite(s) else {-1})
    else:
        np.testing.assert_array_equal(slots, want_slots)  # ties: the index's answer first
    short = delta.merge((a[0][:, :2], a[1][:, :2]), (b[0][:, :1], b[1][:, :1]), k)
    assert short[0].shape == (q, 3)  # k wider than both answers: all of them, best first
    assert (np.diff(short[1], axis=1) <= 0).all()


@pytest.mark.parametrize("path", ["fast scan", "hamming"])
def test_a_sketch_ranking_that_fails_falls_back_to_the_exact_scan(rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    from vecnest.index.flat import FlatIndex
    from vecnest.search import sketch

    vecs = rng.standard_normal((6000, 64)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    flat = FlatIndex(vecs, None, l2=False)
    buf = sketch.SketchBuffer(0, 1000, 64)
    # (every row of the range: the fast scan ranks them; every other one: too many rows of its
    # index excluded, the Hamming ranking does)
    rows = np.arange(1000, 6000, 1 if path == "fast scan" else 2, dtype=np.int64)
    q = vecs[[1500]] + 0.01
    _, note = delta.search_delta(flat, buf, 1000, 6000, q, 10, rows, False)
    assert "sign sketches" in note and ("fast scan" in note) == (path == "fast scan")

    def no_memory(*args: object, **kwargs: object) -> np.ndarray:
        raise MemoryError("no room for the codes")

    monkeypatch.setattr(sketch, "asym_candidates" if path == "fast scan" else "hamming_candidates", no_memory)
    (slots, scores), note = delta.search_delta(flat, buf, 1000, 6000, q, 10, rows, False)
    exact = flat.search(q, 10, rows)
    assert note == "" and slots.tolist() == exact[0].tolist()  # the exact scan answered


def _delta_data(rng: np.random.Generator, n: int = 9000, dim: int = 64) -> tuple:
    from vecnest.index.flat import FlatIndex

    centres = rng.standard_normal((40, dim)).astype(np.float32)
    vecs = centres[rng.integers(0, 40, n)] + 0.6 * rng.standard_normal((n, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    q = vecs[rng.choice(n, 30, replace=False)] + 0.05 * rng.standard_normal((30, dim)).astype(np.float32)
    return FlatIndex(vecs, None, l2=False), vecs, (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def test_the_fast_scan_returns_only_the_searchs_own_delta_rows(rng: np.random.Generator) -> None:
    """Rows its index holds that a search may not return — deleted or filtered out, or past an
    older snapshot's end — are fetched in their place and dropped; recall stays."""
    from vecnest.index.flat import FlatIndex
    from vecnest.search import sketch

    newer, vecs, q = _delta_data(rng)
    vecs[8000:8050] = q[np.arange(50) % len(q)]  # (rows past the older snapshot's end: each query's best)
    buf = sketch.SketchBuffer(0, 1000, vecs.shape[1])
    buf.fastscan(vecs[:8050], 1000, 8050)  # (a newer snapshot built the index: 50 rows more)
    flat = FlatIndex(vecs[:8000], None, l2=False)  # (the older snapshot's map ends at 8,000)
    rows = np.arange(1000, 8000, dtype=np.int64)
    excluded = rng.choice(rows, 60, replace=False)  # (with the 50: 110 excluded, < the depth of 128)
    excluded[:30] = np.argsort(-(q[:30] @ vecs[1000:8000].T), axis=1)[:, 0] + 1000  # (each query's best)
    rows = np.setdiff1d(rows, excluded)
    for i in range(len(q)):
        (slots, scores), note = delta.search_delta(flat, buf, 1000, 8000, q[i : i + 1], 10, rows, False)
        assert "fast scan" in note
        assert np.isin(slots, rows).all()  # (never a deleted row nor one past hi)
        want = flat.search(q[i : i + 1], 10, rows)
        assert len(set(slots[0].tolist()) & set(want[0][0].tolist())) >= 8
        np.testing.assert_allclose(scores[0], vecs[slots[0]] @ q[i], rtol=1e-5, atol=1e-5)  # (rescored exactly)
    # more excluded rows than the rescoring depth: the Hamming ranking, over the rows themselves
    few = rows[::3]
    (slots, _), note = delta.search_delta(flat, buf, 1000, 8000, q[:1], 10, few, False)
    assert "fast scan" not in note and "sign sketches" in note and np.isin(slots, few).all()
    # a snapshot 200 rows behind the index (more than the depth): the Hamming ranking too
    buf.fastscan(newer.vectors, 1000, 8200)
    (slots, _), note = delta.search_delta(flat, buf, 1000, 8000, q[:1], 10, rows, False)
    assert "fast scan" not in note and "sign sketches" in note and np.isin(slots, rows).all()


def test_rows_the_fast_scan_cannot_score_are_ranked_by_hamming_distance(rng: np.random.Generator) -> None:
    """FAISS's fast scan leaves out rows at the very bottom of its score range (here: every
    delta row the same vector, so the sketches' centre, and a query above it in every
    dimension, so every row's signs oppose the query's): the delta is ranked by Hamming
    distance instead, and its rows are still found."""
    from vecnest.index.flat import FlatIndex
    from vecnest.search import sketch

    x = rng.standard_normal((1, 64)).astype(np.float32)
    vecs = np.vstack([rng.standard_normal((1000, 64)).astype(np.float32), np.repeat(x, 5000, axis=0)])
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    flat = FlatIndex(vecs, None, l2=False)
    buf = sketch.SketchBuffer(0, 1000, 64)
    rows = np.arange(1000, 6000, dtype=np.int64)
    query = (vecs[[1000]] + 0.1 * np.abs(rng.standard_normal((1, 64)))).astype(np.float32)
    fast = buf.fastscan(flat.vectors, 1000, 6000)
    assert buf.centre is not None and (query - buf.centre > 0).all()
    assert (sketch.asym_candidates(query, fast, buf.centre, 128) < 0).all()  # (what FAISS does here)
    (slots, _), note = delta.search_delta(flat, buf, 1000, 6000, query, 10, rows, False)
    assert "fast scan" not in note and "sign sketches" in note
    assert (slots >= 1000).all() and len(set(slots[0].tolist())) == 10


def test_one_query_merges_as_many_do(rng: np.random.Generator) -> None:
    """The Python merge of one query's answers gives what the numpy sort of the batch gives:
    ties (the index's answer first), short answers (-inf, slot -1), NaN scores (numpy's order)."""
    for trial in range(300):
        ka, kb, k = (int(v) for v in rng.integers(1, 20, 3))
        pool = np.array([0.5, 0.25, -np.inf, 0.125], dtype=np.float32)
        a_scores = -np.sort(-(rng.choice(pool, ka) if trial % 2 else rng.standard_normal(ka)).astype(np.float32))
        b_scores = -np.sort(-(rng.choice(pool, kb) if trial % 3 else rng.standard_normal(kb)).astype(np.float32))
        if trial % 7 == 0:
            b_scores[0] = np.nan
        if trial % 5 == 0:
            a_scores[0] = np.inf
        a = (rng.integers(0, 100, (1, ka)), a_scores[None])
        b = (rng.integers(100, 200, (1, kb)), b_scores[None])
        one = delta.merge(a, b, k)
        two = delta.merge((np.repeat(a[0], 2, 0), np.repeat(a[1], 2, 0)), (np.repeat(b[0], 2, 0), np.repeat(b[1], 2, 0)), k)
        np.testing.assert_array_equal(one[0], two[0][:1])
        np.testing.assert_array_equal(one[1], two[1][:1])
        assert one[0].dtype == a[0].dtype and one[1].dtype == np.float32
    empty = (np.empty((1, 0), dtype=np.int64), np.empty((1, 0), dtype=np.float32))
    full = (np.array([[7, 8]]), np.array([[0.5, np.inf]], dtype=np.float32))
    got = delta.merge(empty, full, 5)
    assert got[0].tolist() == [[-1, 7]] and got[1].tolist() == [[np.inf, 0.5]]  # (+inf: not a score, slot -1, as numpy)
