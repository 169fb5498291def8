"""Property: under any filter, lexical search and hybrid fusion return exactly what an oracle
returns — no hit that fails the filter, none that passes and ranks in the top k missed."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.lexical._oracle import WORDS, bm25, top
from vecnest.lexical.analyzer import Analyzer
from vecnest.lexical.postings import build_part
from vecnest.lexical.search import IndexState, LexicalSearcher
from vecnest.search.hybrid import Side, fuse

AN = Analyzer()
docs_st = st.lists(st.lists(st.sampled_from(WORDS), min_size=0, max_size=8), min_size=1, max_size=60)


class _Match:
    def __init__(self, mask: np.ndarray) -> None:
        self.mask, self.count, self.slots = mask, int(mask.sum()), np.flatnonzero(mask)


@settings(max_examples=150, deadline=None)
@given(
    docs=docs_st,
    seed=st.integers(0, 2**31 - 1),
    query=st.lists(st.sampled_from(WORDS), min_size=1, max_size=4),
    k=st.integers(1, 12),
    selectivity=st.sampled_from([0.0, 0.02, 0.1, 0.5, 1.0]),
    pending_from=st.integers(0, 60),
)
def test_lexical_filtered_search_equals_the_oracle(docs, seed, query, k, selectivity, pending_from) -> None:
    rng = np.random.default_rng(seed)
    n = len(docs)
    texts = [" ".join(d) for d in docs]
    cut = min(pending_from, n)
    state = IndexState.of([build_part(np.arange(cut), AN.analyze_batch(texts[:cut]))], cut)
    pending = build_part(np.arange(cut, n), AN.analyze_batch(texts[cut:])) if cut < n else None
    alive = rng.random(n) > 0.2
    mask = rng.random(n) < selectivity
    s = LexicalSearcher(state, AN, n_slots=n, alive=alive, pending=pending)
    q = " ".join(query)
    live = {i: AN.analyze(t) for i, t in enumerate(texts) if alive[i]}
    want = top(bm25(live, AN.analyze(q)), k, allowed=set(np.flatnonzero(mask).tolist()))
    for match in (mask, _Match(mask)):  # the masking path and (when selective) the per-document path
        slots, scores = s.query(q, match=match).top(k)
        assert slots.tolist() == [w[0] for w in want]
        np.testing.assert_allclose(scores, [w[1] for w in want], rtol=1e-5)


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(2, 80),
    seed=st.integers(0, 2**31 - 1),
    k=st.integers(1, 20),
    window=st.integers(2, 30),
    selectivity=st.sampled_from([0.05, 0.3, 1.0]),
)
def test_fusion_of_filtered_sides_never_leaks(n, seed, k, window, selectivity) -> None:
    rng = np.random.default_rng(seed)
    mask = rng.random(n) < selectivity
    dense = rng.standard_normal(n)
    lex = np.where(rng.random(n) < 0.4, rng.random(n) * 5, 0.0)
    ok = np.flatnonzero(mask)
    d_top = ok[np.argsort(-dense[ok], kind="stable")][:window]
    l_top = ok[np.argsort(-lex[ok], kind="stable")][:window]
    l_top = l_top[lex[l_top] > 0]
    sides = [
        Side("dense", d_top, dense[d_top], lambda s: dense[s]),
        Side("lexical", l_top, lex[l_top], lambda s: lex[s], pad_to=window),
    ]
    hits = fuse(sides, k, eligible=int(mask.sum()))
    assert mask[hits.slots].all()
    assert hits.slots.size == min(k, np.union1d(d_top, l_top).size)
