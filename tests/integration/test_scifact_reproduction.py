"""End-to-end check of the default encoder: SciFact nDCG@10 with exact search.

Goes through the product exactly as a user does: ``vecnest.evaluate("default", scifact)`` loads
the BEIR directory, embeds all 5,183 documents and the 300 test queries with the default encoder
(a few minutes on 2 cores; the embedding cache is off, so the encoder really runs), stores them
in a collection, searches it exactly and scores the run with ranx. The published MTEB figure for
all-MiniLM-L6-v2 is 0.645; the precomputed reference embeddings give 0.6468.
"""

from __future__ import annotations

import pytest

import vecnest
from conftest import require_shared

PUBLISHED_NDCG10 = 0.645
TOLERANCE = 0.01


@pytest.mark.slow
def test_scifact_ndcg_at_10_matches_published(request: pytest.FixtureRequest) -> None:
    report = vecnest.evaluate(
        "default", require_shared("datasets", "scifact"), ["ndcg@10", "recall@100"],
        cache_dir=None, latency_queries=20,
    )
    ndcg = report.quality["ndcg@10"]
    request.node.user_properties.append(("ndcg@10", round(ndcg, 4)))
    assert report.n_docs == 5183 and report.n_queries == 300
    assert abs(ndcg - PUBLISHED_NDCG10) <= TOLERANCE, f"SciFact nDCG@10 = {ndcg:.4f}"
    assert report.quality["recall@100"] > 0.9
    assert report.ann_recall["recall@10"] == pytest.approx(1.0)  # exact search is its own oracle
