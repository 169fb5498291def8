"""Exact BM25 at a snapshot: hand-computed scores, live statistics, filters, the delta."""

from __future__ import annotations

import numpy as np
import pytest

from vecnest.errors import InvalidInputError
from vecnest.lexical.analyzer import Analyzer
from vecnest.lexical.postings import build_part
from vecnest.lexical.search import IndexState, LexicalSearcher

from ._oracle import bm25, random_texts, top

AN = Analyzer()


def _searcher(texts, *, alive=None, upto=None, n_slots=None, pending_from=None):
    n = len(texts)
    upto = n if upto is None else upto
    cut = upto if pending_from is None else pending_from
    part = build_part(np.arange(cut), AN.analyze_batch(texts[:cut]))
    state = IndexState.of([part], upto if pending_from is None else cut)
    n_slots = n if n_slots is None else n_slots
    alive = np.ones(n_slots, bool) if alive is None else alive
    pending = None
    if pending_from is not None:
        pending = build_part(np.arange(pending_from, n), AN.analyze_batch(texts[pending_from:]))
    return LexicalSearcher(state, AN, n_slots=n_slots, alive=alive, pending=pending)


def test_bm25_by_hand() -> None:
    # terms: d0 [cat, sat, mat], d1 [dog, chase, cat], d2 [bird, hand], d3 []; N=4, avgdl=2
    s = _searcher(["the cat sat on the mat", "dogs chase cats", "a bird in the hand", ""])
    slots, scores = s.query("cat mats").top(10)
    # idf(cat) = ln 2, idf(mat) = ln(10/3); norm(d) = 1.2 * (0.25 + 0.75 * 3/2) = 1.65
    tfpart = 2.2 / (1 + 1.65)
    assert slots.tolist() == [0, 1]
    np.testing.assert_allclose(scores, [(np.log(2) + np.log(10 / 3)) * tfpart, np.log(2) * tfpart], rtol=1e-6)
    assert s.n_docs == 4 and s.avg_length == 2.0


def test_matches_the_oracle_with_dead_documents(rng: np.random.Generator) -> None:
    texts = random_texts(rng, 200)
    alive = rng.random(200) > 0.3
    s = _searcher(texts, alive=alive)
    live = {i: AN.analyze(t) for i, t in enumerate(texts) if alive[i]}
    for q in ("alpha beta", "omega rho", "zeta zeta eta", "nothing here"):
        want = top(bm25(live, AN.analyze(q)), 15)
        slots, scores = s.query(q).top(15)
        assert slots.tolist() == [w[0] for w in want]
        np.testing.assert_allclose(scores, [w[1] for w in want], rtol=1e-5)


def test_dead_documents_do_not_count_in_statistics(rng: np.random.Generator) -> None:
    texts = random_texts(rng, 120, min_words=1)
    alive = rng.random(120) > 0.4
    churned = _searcher(texts, alive=alive)
    keep = np.flatnonzero(alive)
    fresh = _searcher([texts[i] for i in keep])
    for q in ("alpha", "beta gamma", "kappa theta lambda"):
        a_slots, a_scores = churned.query(q).top(50)
        b_slots, b_scores = fresh.query(q).top(50)
        assert a_slots.tolist() == keep[b_slots].tolist()
        np.testing.assert_array_equal(a_scores, b_scores)


def test_slots_past_n_slots_are_never_served() -> None:
    texts = ["alpha", "alpha beta", "alpha alpha alpha"]
    s = _searcher(texts, n_slots=2)  # slot 2 was written by a writer that died before its catalog commit
    assert s.query("alpha").top(10)[0].tolist() == [0, 1]
    assert s.n_docs == 2


def test_pending_rows_rank_exactly_as_once_indexed(rng: np.random.Generator) -> None:
    texts = random_texts(rng, 80)
    alive = rng.random(80) > 0.2
    indexed = _searcher(texts, alive=alive)
    delta = _searcher(texts, alive=alive, pending_from=55)
    for q in ("alpha gamma", "rho", "sigma kappa"):
        a, b = indexed.query(q), delta.query(q)
        for x, y in zip(a.top(30), b.top(30), strict=True):
            np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("selectivity", [0.01, 0.05, 0.3, 0.9])
def test_filters_are_exact_on_both_paths(rng: np.random.Generator, selectivity: float) -> None:
    texts = random_texts(rng, 400)
    alive = rng.random(400) > 0.1
    s = _searcher(texts, alive=alive)
    live = {i: AN.analyze(t) for i, t in enumerate(texts) if alive[i]}
    mask = rng.random(400) < selectivity
    for q in ("alpha", "beta delta", "rho eta zeta"):
        want = top(bm25(live, AN.analyze(q)), 10, allowed=set(np.flatnonzero(mask).tolist()))
        slots, scores = s.query(q, match=mask).top(10)
        assert slots.tolist() == [w[0] for w in want]
        np.testing.assert_allclose(scores, [w[1] for w in want], rtol=1e-5)
        assert mask[slots].all() and alive[slots].all()


def test_selective_and_full_paths_agree_bitwise(rng: np.random.Generator) -> None:
    texts = random_texts(rng, 2000, min_words=3)
    s = _searcher(texts)
    mask = np.zeros(2000, bool)
    mask[rng.choice(2000, 20, replace=False)] = True  # 20 * 16 < postings: the selective path

    class _Match:  # the snapshot's Match interface
        def __init__(self, m):
            self.mask, self.count, self.slots = m, int(m.sum()), np.flatnonzero(m)

    res = s.query("alpha beta", match=_Match(mask))
    sel = res.top(5)
    assert res._full is None  # scored document by document
    full = s.query("alpha beta", match=mask)
    full._full_scores()  # forces the masking path
    for x, y in zip(sel, full.top(5), strict=True):
        np.testing.assert_array_equal(x, y)
    slots = np.flatnonzero(mask)
    np.testing.assert_array_equal(res.scores(slots), full.scores(slots))


def test_ties_break_by_lower_slot() -> None:
    s = _searcher(["alpha beta"] * 6)
    assert s.query("alpha").top(3)[0].tolist() == [0, 1, 2]


def test_bad_arguments() -> None:
    s = _searcher(["alpha"])
    with pytest.raises(InvalidInputError, match=r"alive must be a \(1,\) bool array"):
        LexicalSearcher(s.state, AN, n_slots=1, alive=np.ones(2, bool))
    with pytest.raises(InvalidInputError, match=r"match must be a \(1,\) bool mask"):
        s.query("alpha", match=np.ones(3, bool))
    with pytest.raises(InvalidInputError, match="k must be a non-negative int"):
        s.query("alpha").top(-1)
    with pytest.raises(InvalidInputError, match="must be a str"):
        s.query(["alpha"])  # type: ignore[arg-type]
