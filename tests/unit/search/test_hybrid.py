"""fuse(): candidates scored exactly on every side, the methods, explanations."""

from __future__ import annotations

import numpy as np
import pytest

from vecnest.errors import InvalidInputError
from vecnest.kernels import fusion
from vecnest.search.hybrid import FusionConfig, FusionMethod, Side, fuse


def _sides(dense: np.ndarray, lex: np.ndarray, window: int) -> list[Side]:
    d_top = np.argsort(-dense, kind="stable")[:window]
    l_top = np.argsort(-lex, kind="stable")[:window]
    l_top = l_top[lex[l_top] > 0]
    return [
        Side("dense", d_top, dense[d_top], lambda s: dense[s]),
        Side("lexical", l_top, lex[l_top], lambda s: lex[s], pad_to=window),
    ]


def test_candidates_missing_from_a_window_are_scored_exactly() -> None:
    dense = np.array([0.9, 0.8, 0.1, 0.0, 0.2])
    lex = np.array([0.0, 0.0, 5.0, 4.0, 0.0])
    calls: list[list[int]] = []

    def dense_score(s: np.ndarray) -> np.ndarray:
        calls.append(s.tolist())
        return dense[s]

    sides = _sides(dense, lex, 2)
    sides[0] = Side("dense", sides[0].slots, sides[0].scores, dense_score)
    hits = fuse(sides, 4, eligible=5)
    assert calls == [[2, 3]]  # only the lexical-only candidates were asked for
    assert sorted(hits.slots.tolist()) == [0, 1, 2, 3]
    by_slot = dict(zip(hits.slots.tolist(), hits.side_scores.T.tolist(), strict=True))
    assert by_slot[2] == [0.1, 5.0] and by_slot[0] == [0.9, 0.0]
    ranks = dict(zip(hits.slots.tolist(), hits.side_ranks.T.tolist(), strict=True))
    assert ranks[0] == [0, -1] and ranks[3] == [-1, 1]


def test_adaptive_equals_the_kernel_with_padded_lexical_window() -> None:
    rng = np.random.default_rng(0)
    dense = rng.random(30)
    lex = np.where(rng.random(30) < 0.3, rng.random(30) * 5, 0.0)
    sides = _sides(dense, lex, 10)
    hits = fuse(sides, 30, eligible=30, config=FusionConfig(window=10))
    cand = np.unique(np.concatenate([sides[0].slots, sides[1].slots]))
    l_window = np.concatenate([sides[1].scores, np.zeros(10 - sides[1].slots.size)])
    want, weights = fusion.adaptive([dense[cand], lex[cand]], [sides[0].scores, l_window])
    np.testing.assert_allclose(np.sort(hits.candidate_scores), np.sort(want))
    np.testing.assert_allclose(hits.weights, weights)
    assert hits.slots.tolist() == cand[np.lexsort((cand, -want))].tolist()


def test_padding_is_bounded_by_eligible_documents() -> None:
    dense = np.array([0.5, 0.4, 0.3])
    lex = np.array([2.0, 0.0, 0.0])
    a = fuse(_sides(dense, lex, 100), 3, eligible=3)
    b = fuse(_sides(dense, lex, 100), 3, eligible=1000)
    assert a.weights[1] != b.weights[1]  # a 100-long zero tail makes the lexical side look sharper
    l_window = np.array([2.0, 0.0, 0.0])
    assert a.weights[1] == pytest.approx(fusion.separation(l_window) ** 2)


def test_rrf_and_weighted_methods() -> None:
    dense = np.array([0.9, 0.5, 0.1])
    lex = np.array([0.0, 1.0, 3.0])
    sides = _sides(dense, lex, 2)  # dense window {0, 1}, lexical window {2, 1}
    rrf = fuse(sides, 3, eligible=3, config=FusionConfig(method=FusionMethod.RRF))
    want = {0: 0.5 / 61, 1: 0.5 / 62 + 0.5 / 62, 2: 0.5 / 61}
    got = dict(zip(rrf.slots.tolist(), rrf.scores.tolist(), strict=True))
    assert got == pytest.approx(want)
    assert rrf.slots.tolist() == [1, 0, 2]  # tie between 0 and 2 broken by lower slot
    w = fuse(sides, 3, eligible=3, config=FusionConfig(method="weighted", weights=(0.7, 0.3)))
    got = dict(zip(w.slots.tolist(), w.scores.tolist(), strict=True))
    # min-max over windows: dense [0.9, 0.5] -> 0:1, 1:0, 2:-1; lexical [3, 1] -> 0:-0.5, 1:0, 2:1
    assert got == pytest.approx({0: 0.7 - 0.15, 1: 0.0, 2: -0.7 + 0.3})


def test_a_single_side_keeps_its_order() -> None:
    dense = np.array([0.1, 0.7, 0.4])
    d_top = np.array([1, 2, 0])
    hits = fuse([Side("dense", d_top, dense[d_top], lambda s: dense[s])], 2, eligible=3)
    assert hits.slots.tolist() == [1, 2] and hits.names == ("dense",)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "borda"}, "fusion method must be one of"),
        ({"window": 1}, "window must be an int in 2..10000"),
        ({"power": -1}, "power >= 0"),
        ({"normalization": "rank"}, "normalization must be"),
    ],
)
def test_bad_config(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        FusionConfig(**kwargs)


def test_bad_sides() -> None:
    with pytest.raises(InvalidInputError, match="at least one side"):
        fuse([], 3, eligible=3)
    with pytest.raises(InvalidInputError, match="equal-length"):
        fuse([Side("dense", np.array([1, 2]), np.array([0.1]), lambda s: s)], 3, eligible=3)
    dense = np.array([0.3, 0.2])
    with pytest.raises(InvalidInputError, match="expected 1"):
        fuse(
            [Side("dense", np.array([0, 1]), dense, lambda s: dense[s])],
            2,
            eligible=2,
            config=FusionConfig(method="rrf", weights=(1, 1)),
        )
