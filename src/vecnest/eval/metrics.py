"""IR quality metrics through ranx (metric strings in its convention: ``ndcg@10``, ``recall@100``)."""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence

from vecnest._deps import require
from vecnest.errors import InvalidInputError

_METRIC_RE = re.compile(r"^(ndcg|recall|precision|mrr|map|hit_rate|f1|r-precision|ndcg_burges)(@\d+)?$")

Qrels = Mapping[str, Mapping[str, int]]
RunDict = Mapping[str, Mapping[str, float]]


def check_metrics(metrics: Sequence[str]) -> list[str]:
    """Validate metric names such as ``ndcg@10``; raise a clear error for unknown ones."""
    if isinstance(metrics, str):
        metrics = [metrics]
    bad = [m for m in metrics if not isinstance(m, str) or not _METRIC_RE.match(m)]
    if bad or not metrics:
        raise InvalidInputError(
            f"unknown metric(s) {bad or metrics!r}; use ranx names like 'ndcg@10', 'recall@100', "
            "'mrr@10', 'precision@5', 'map@100'"
        )
    return list(metrics)


def ir_metrics(qrels: Qrels, run: RunDict, metrics: Sequence[str]) -> dict[str, float]:
    """Mean of each metric over the judged queries (queries missing from ``run`` score 0).

    Args:
        qrels: query id → {doc id: relevance grade}.
        run: query id → {doc id: score} (higher is better).
        metrics: ranx metric names.
    """
    ranx = require("ranx", "eval", "Computing IR metrics")
    metrics = check_metrics(metrics)
    full_run = {q: dict(run.get(q, {})) or {"\x00none": 0.0} for q in qrels}
    with warnings.catch_warnings():
        # ranx's numba kernels warn about their own casts while compiling (and with warnings
        # as errors, that warning would abort the evaluation)
        warnings.filterwarnings("ignore", message="unsafe cast from")
        scores = ranx.evaluate(
            ranx.Qrels({q: dict(d) for q, d in qrels.items()}),
            ranx.Run(full_run),
            metrics,
            make_comparable=True,
        )
    if isinstance(scores, float):
        scores = {metrics[0]: scores}
    return {m: float(v) for m, v in scores.items()}
