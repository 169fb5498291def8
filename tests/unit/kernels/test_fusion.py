"""Fusion kernels against rankings computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vecnest.errors import InvalidInputError
from vecnest.kernels import fusion


def test_ranks_are_zero_based_stable_and_inf_for_missing() -> None:
    got = fusion.ranks(np.array([0.3, 0.9, -np.inf, 0.9, np.nan]))
    assert got.tolist() == [2.0, 0.0, math.inf, 1.0, math.inf]


def test_rrf_matches_hand_computation() -> None:
    # side A ranks d0, d1, d2; side B ranks d1, d0 and never retrieved d2
    a = np.array([3.0, 2.0, 1.0])
    b = np.array([1.0, 3.0, -np.inf])
    got = fusion.rrf([a, b], k=60)
    want = [1 / 61 + 1 / 62, 1 / 62 + 1 / 61, 1 / 63]
    np.testing.assert_allclose(got, want)
    # weights scale each side's contribution
    got_w = fusion.rrf([a, b], k=60, weights=[2.0, 0.0])
    np.testing.assert_allclose(got_w, [2 / 61, 2 / 62, 2 / 63])


def test_min_max_and_z_score_use_the_window() -> None:
    window = np.array([1.0, 2.0, 5.0])
    np.testing.assert_allclose(fusion.min_max(np.array([2.0, 4.0]), window), [0.25, 0.75])
    np.testing.assert_allclose(fusion.min_max(np.array([2.0]), np.array([3.0, 3.0])), [0.0])
    w = np.array([1.0, 2.0, 3.0])  # mean 2, population std sqrt(2/3)
    np.testing.assert_allclose(fusion.z_score(np.array([3.0, 2.0]), w), [1 / math.sqrt(2 / 3), 0.0])
    np.testing.assert_allclose(fusion.z_score(np.array([3.0]), np.array([4.0])), [0.0])


def test_separation_is_the_best_scores_z() -> None:
    assert fusion.separation(np.array([1.0, 2.0, 3.0])) == pytest.approx(1 / math.sqrt(2 / 3))
    # one outlier among four: mean 2.5, std sqrt(18.75)
    assert fusion.separation(np.array([10.0, 0.0, 0.0, 0.0])) == pytest.approx(7.5 / math.sqrt(18.75))
    assert fusion.separation(np.array([2.0, 2.0])) == 0.0
    assert fusion.separation(np.array([2.0])) == 0.0


def test_weighted_sum_hand_computed() -> None:
    a, wa = np.array([0.9, 0.5]), np.array([0.9, 0.5, 0.1])  # min-max: 1.0, 0.5
    b, wb = np.array([1.0, 3.0]), np.array([3.0, 1.0])  # min-max: 0.0, 1.0
    got = fusion.weighted([a, b], [wa, wb], weights=[0.3, 0.7])
    np.testing.assert_allclose(got, [0.3 * 1.0 + 0.7 * 0.0, 0.3 * 0.5 + 0.7 * 1.0])
    with pytest.raises(InvalidInputError, match="normalization must be"):
        fusion.weighted([a, b], [wa, wb], normalization="rank")


def test_adaptive_hand_computed() -> None:
    # dense window [0.5, 0.4, 0.3]: mean 0.4, std 0.08165, separation 1.2247, weight 1.5
    # lexical window [10, 0, 0, 0]: mean 2.5, std 4.3301, separation 1.7321, weight 3.0
    dense = np.array([0.5, 0.3, 0.4])
    lex = np.array([0.0, 10.0, 0.0])
    fused, weights = fusion.adaptive(
        [dense, lex], [np.array([0.5, 0.4, 0.3]), np.array([10.0, 0.0, 0.0, 0.0])]
    )
    np.testing.assert_allclose(weights, [1.5, 3.0], rtol=1e-12)
    sd_d, sd_l = math.sqrt(0.02 / 3), math.sqrt(18.75)
    want = [
        1.5 * (0.1 / sd_d) + 3.0 * (-2.5 / sd_l),
        1.5 * (-0.1 / sd_d) + 3.0 * (7.5 / sd_l),
        1.5 * 0.0 + 3.0 * (-2.5 / sd_l),
    ]
    np.testing.assert_allclose(fused, want)
    assert np.argsort(-fused).tolist() == [1, 0, 2]


def test_adaptive_power_zero_is_plain_z_score_fusion() -> None:
    sides = [np.array([0.2, 0.9]), np.array([5.0, 1.0])]
    windows = [np.array([0.9, 0.2, 0.1]), np.array([5.0, 1.0, 0.0])]
    fused, weights = fusion.adaptive(sides, windows, power=0.0)
    np.testing.assert_allclose(weights, [1.0, 1.0])
    np.testing.assert_allclose(
        fused, fusion.weighted(sides, windows, weights=[1, 1], normalization="z_score")
    )


def test_a_flat_side_carries_no_weight() -> None:
    fused, weights = fusion.adaptive(
        [np.array([0.3, 0.3]), np.array([2.0, 1.0])], [np.array([0.3, 0.3, 0.3]), np.array([2.0, 1.0, 0.0])]
    )
    assert weights[0] == 0.0 and weights[1] > 0
    assert fused[0] > fused[1]


def test_adaptive_avoids_the_failing_side_trap_where_rrf_falls_in() -> None:
    """LIMIT in miniature: 40 documents; the dense side is noise with a flat top, the lexical
    side singles out the two relevant documents (30 and 31). RRF lets the noise reorder them
    out of the top 2; the adaptive rule follows the confident side."""
    rng = np.random.default_rng(7)
    dense = 0.30 + 0.02 * rng.standard_normal(40)
    dense[30], dense[31] = 0.27, 0.26  # relevant documents look unremarkable to the model
    lex = np.abs(0.3 + 0.05 * rng.standard_normal(40))  # a common word matches everything
    lex[30], lex[31] = 6.0, 5.8
    windows = [np.sort(dense)[::-1], np.sort(lex)[::-1]]
    fused, weights = fusion.adaptive([dense, lex], windows)
    assert weights[1] > 4 * weights[0]
    assert set(np.argsort(-fused)[:2].tolist()) == {30, 31}
    assert not set(np.argsort(-fusion.rrf([dense, lex]))[:2].tolist()) >= {30, 31}
