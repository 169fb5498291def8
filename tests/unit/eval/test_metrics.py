from __future__ import annotations

import math

import pytest

import vecnest
from vecnest.eval.metrics import check_metrics, ir_metrics

QRELS = {"q1": {"d1": 1, "d2": 1}, "q2": {"d4": 1}}


def test_metrics_match_hand_computed_values() -> None:
    run = {"q1": {"d1": 0.9, "d3": 0.8, "d2": 0.5}, "q2": {"d5": 0.9, "d4": 0.1}}
    got = ir_metrics(QRELS, run, ["ndcg@10", "mrr@10", "recall@2", "precision@1"])
    # q1: DCG = 1/log2(2) + 1/log2(4) = 1.5, IDCG = 1 + 1/log2(3); q2: DCG = 1/log2(3), IDCG = 1
    ndcg_q1 = 1.5 / (1 + 1 / math.log2(3))
    ndcg_q2 = 1 / math.log2(3)
    assert got["ndcg@10"] == pytest.approx((ndcg_q1 + ndcg_q2) / 2, abs=1e-9)
    assert got["mrr@10"] == pytest.approx((1 + 0.5) / 2)
    assert got["recall@2"] == pytest.approx((0.5 + 1.0) / 2)
    assert got["precision@1"] == pytest.approx(0.5)


def test_query_missing_from_run_scores_zero() -> None:
    got = ir_metrics(QRELS, {"q1": {"d1": 1.0, "d2": 0.5}}, ["ndcg@10"])
    assert got["ndcg@10"] == pytest.approx(0.5)


@pytest.mark.parametrize("bad", [["ndcg@ten"], ["ndgc@10"], [], "nDCG@10"])
def test_unknown_metric_names(bad: object) -> None:
    with pytest.raises(vecnest.InvalidInputError, match="ranx names"):
        check_metrics(bad)  # type: ignore[arg-type]
