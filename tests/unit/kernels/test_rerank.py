"""Reranking kernels against hand-computed values."""

from __future__ import annotations

import numpy as np

from vecnest.kernels.rerank import best_passage_scores, feedback_query, passage_ranges


def test_passage_ranges_and_best_scores_by_hand() -> None:
    owners = np.array([2, 2, 5, 9, 9, 9])
    starts, ends = passage_ranges(owners, np.array([9, 1, 2, 5]))
    assert starts.tolist() == [3, 0, 0, 2] and ends.tolist() == [6, 0, 2, 3]
    passage = np.array([0.9, 0.2, 0.1, 0.3, 0.8, 0.4])
    doc = np.array([0.5, 0.6, 0.4, 0.3])
    got = best_passage_scores(doc, starts, ends, passage)
    # slot 9: best passage 0.8 > 0.5 -> 0.65; slot 1: no passages; slot 2: 0.9 > 0.4 -> 0.65;
    # slot 5: best 0.1 < 0.3 -> unchanged
    np.testing.assert_allclose(got, [0.65, 0.6, 0.65, 0.3])


def test_feedback_query_moves_toward_the_centroid() -> None:
    q = np.array([1.0, 0.0, 0.0], np.float32)
    top = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], np.float32)
    got = feedback_query(q, top, 1.0)
    np.testing.assert_allclose(got, np.array([1.0, 0.5, 0.5]) / np.sqrt(1.5), rtol=1e-6)
    np.testing.assert_allclose(feedback_query(q, top, 0.0), q)
