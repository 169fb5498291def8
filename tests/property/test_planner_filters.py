"""Filtered search through every planner strategy returns only documents that match the filter.

Random filters over the real arXiv attributes (category equality and membership, author-count
and date ranges, boolean combinations) on an HNSW collection of real title vectors; each filter is
run with every strategy, forced, and with the planner's own choice. The exact strategies must
return exactly the true top-k of the matching documents.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vecnest
from conftest import arxiv_titles
from vecnest.config import IndexConfig, IndexKind

N = 2500
CATEGORIES = ["cs.CV", "cs.CL", "cs.AI", "cs.LG", "cs.IT", "cs.RO", "cs.CR", "stat.ML", "eess.IV"]
STRATEGIES = [None, "exact", "exact_filtered", "ann", "ann_filtered", "post_filter"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[vecnest.Collection, np.ndarray]:
    ids, vecs, metas, queries = arxiv_titles(N, n_queries=8, seed=11)
    db = vecnest.open(Path(tmp_path_factory.mktemp("pf")) / "s")
    cfg = IndexConfig(kind=IndexKind.HNSW, min_rows=500, delta_limit=10**9, ef_construction=64)
    col = db.create_collection("t", model=None, dim=384, index=cfg)
    col.add(ids[:2000], vectors=vecs[:2000], metadatas=metas[:2000])
    col.add(ids[2000:], vectors=vecs[2000:], metadatas=metas[2000:])  # an exact delta too
    col.delete(ids=ids[:50:7])  # and deletions inside the index
    return col, queries


leaf = st.one_of(
    st.builds(lambda c: {"primary_category": c}, st.sampled_from(CATEGORIES)),
    st.builds(lambda cs: {"primary_category": {"$in": cs}}, st.lists(st.sampled_from(CATEGORIES), min_size=1, max_size=3)),
    st.builds(lambda c: {"categories": {"$contains": c}}, st.sampled_from(CATEGORIES)),
    st.builds(lambda op, n: {"n_authors": {op: n}}, st.sampled_from(["$gte", "$lt", "$gt", "$lte"]), st.integers(1, 40)),
    st.builds(lambda y: {"year": y}, st.sampled_from([2025, 2026])),
    st.builds(lambda op, m: {"listing_date": {op: f"2025-{m:02d}-01"}}, st.sampled_from(["$gte", "$lt"]), st.integers(3, 12)),
)
filters = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.builds(lambda xs: {"$and": xs}, st.lists(inner, min_size=2, max_size=3)),
        st.builds(lambda xs: {"$or": xs}, st.lists(inner, min_size=2, max_size=3)),
        st.builds(lambda x: {"$not": x}, inner),
    ),
    max_leaves=4,
)


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(where=filters, qi=st.integers(0, 7), k=st.sampled_from([1, 10, 50]))
def test_every_strategy_returns_only_matching_documents(setup: tuple, where: dict, qi: int, k: int) -> None:
    col, queries = setup
    allowed = {d.id for d in col.get(where=where)}
    truth = None
    for strategy in STRATEGIES:
        hits = col.search(queries[qi], k=k, where=where, include=(), strategy=strategy, explain=True)
        got = [h.id for h in hits]
        assert set(got) <= allowed, (strategy, hits.plan.strategy)
        assert len(got) == len(set(got))
        assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))
        assert hits.plan.n_matching == len(allowed)
        if hits.plan.strategy in ("exact", "exact_filtered"):
            assert len(got) == min(k, len(allowed))
            if truth is None:
                truth = got
            assert got == truth
