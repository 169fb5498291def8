"""The relevance cut-off: the label-free test, a fitted model on a tiny judged set, storage."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from vecnest.errors import InvalidInputError
from vecnest.kernels.relevance import FEATURES, beats_background, fit_logistic, hit_features, sigmoid
from vecnest.search.hybrid import Side, fuse
from vecnest.search.relevance import RelevanceKind, RelevanceModel, cut, hit_inputs


def _hits(dense: np.ndarray, lex: np.ndarray, k: int = 5):
    d_top = np.argsort(-dense, kind="stable")
    l_top = np.argsort(-lex, kind="stable")
    l_top = l_top[lex[l_top] > 0]
    return fuse(
        [
            Side("dense", d_top, dense[d_top], lambda s: dense[s]),
            Side("lexical", l_top, lex[l_top], lambda s: lex[s], pad_to=100),
        ],
        k,
        eligible=dense.size,
    )


def test_hit_features_by_hand() -> None:
    x = hit_features(
        np.array([3.0, 1.0]), np.array([3.0, 1.0, 1.0, -1.0]), np.array([0.8, 0.3]), np.array([0.5, 0.1])
    )
    sd = math.sqrt(2.0)  # candidates: mean 1, population std sqrt(2)
    np.testing.assert_allclose(x, [[1, 2 / sd, 0, 0.8, 0.5, 0], [1, 0, -2 / sd, 0.3, 0.1, math.log(2)]])
    assert x.shape[1] == len(FEATURES)


def test_beats_background_is_phi_to_the_n() -> None:
    fused = np.array([3.0, 0.0])
    cand = np.array([3.0, 0.0, 0.0, -3.0])  # mean 0, std sqrt(4.5)
    z = 3.0 / math.sqrt(4.5)
    phi = 0.5 * (1 + math.erf(z / math.sqrt(2)))
    np.testing.assert_allclose(beats_background(fused, cand), [phi**4, 0.5**4])


def test_fit_logistic_recovers_a_separable_rule() -> None:
    rng = np.random.default_rng(0)
    x = np.column_stack([np.ones(400), rng.standard_normal(400)])
    y = (x[:, 1] + 0.3 * rng.standard_normal(400) > 0.5).astype(float)
    w = fit_logistic(x, y, l2=1e-3)
    assert w[1] > 2 and -w[0] / w[1] == pytest.approx(0.5, abs=0.1)
    assert sigmoid(np.array([0.0, 1000.0, -1000.0])).tolist() == [0.5, 1.0, 0.0]


def test_cut_keeps_order_and_can_return_nothing() -> None:
    hits = _hits(np.array([0.9, 0.5, 0.4, 0.3]), np.array([4.0, 0.0, 1.0, 0.0]))
    kept = cut(hits, np.array([0.9, 0.2, 0.7, 0.1]), 0.5)
    assert kept.slots.tolist() == hits.slots[[0, 2]].tolist()
    assert kept.side_scores.shape == (2, 2)
    assert cut(hits, np.zeros(4), 0.5).slots.size == 0
    with pytest.raises(InvalidInputError, match=r"min_relevance must be in \[0, 1\]"):
        cut(hits, np.zeros(4), 1.5)


def test_a_fitted_model_separates_a_tiny_judged_set(tmp_path: Path) -> None:
    """Twelve queries over twelve documents: in each, document q is relevant, strongly matched
    on both sides; the others are noise. Fitted on six of them and three queries judged to have
    nothing relevant (flat, low scores), the model keeps the relevant hit and drops the rest on
    the six held out, and returns nothing for a new query with nothing relevant."""
    rng = np.random.default_rng(1)
    xs, ys, test = [], [], []
    for q in range(12):
        dense = 0.2 + 0.05 * rng.random(12)
        lex = rng.random(12) * 0.5
        dense[q], lex[q] = 0.75, 6.0
        hits = _hits(dense, lex)
        y = hits.slots == q
        if q < 6:
            xs.append(hit_inputs(hits, lexical_max=8.0))
            ys.append(y)
        else:
            test.append((hits, y))
    for _ in range(3):
        flat = _hits(0.2 + 0.01 * rng.random(12), rng.random(12) * 0.3)
        xs.append(hit_inputs(flat, lexical_max=8.0))
        ys.append(np.zeros(flat.slots.size, bool))
    model = RelevanceModel.fit(np.vstack(xs), np.concatenate(ys), fitted_on={"dataset": "tiny"})
    for hits, y in test:
        kept = model.probabilities(hits, 8.0) >= 0.5
        assert kept.tolist() == y.tolist()
    flat = _hits(0.2 + 0.01 * rng.random(12), rng.random(12) * 0.3)
    assert not (model.probabilities(flat, 8.0) >= 0.5).any()
    path = tmp_path / "relevance.json"
    model.save(path)
    again = RelevanceModel.load(path)
    assert again == model and again.kind is RelevanceKind.LOGISTIC
    np.testing.assert_allclose(again.probabilities(flat, 8.0), model.probabilities(flat, 8.0))


def test_bad_models() -> None:
    with pytest.raises(InvalidInputError, match="both relevant and non-relevant"):
        RelevanceModel.fit(np.ones((3, len(FEATURES))), np.zeros(3))
    with pytest.raises(InvalidInputError, match="one coefficient per feature"):
        RelevanceModel(kind="logistic", coef=(1.0,))
    with pytest.raises(InvalidInputError, match="not a vecnest relevance model"):
        RelevanceModel.from_json({"kind": "logistic"})
    assert RelevanceModel().probabilities(_hits(np.array([0.5]), np.array([0.0]), 0), None).size == 0
