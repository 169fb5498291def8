from __future__ import annotations

import numpy as np
import pytest

from vecnest.compress.codecs import Codec
from vecnest.compress.searcher import RowSet
from vecnest.compress.spec import parse_tier
from vecnest.errors import CompressionConfigError


def _data(rng: np.random.Generator, n: int = 600, d: int = 32) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32) * np.linspace(2.0, 0.2, d).astype(np.float32) + 0.5
    return x


def test_float16_round_trip_is_half_precision(rng: np.random.Generator) -> None:
    x = _data(rng)
    codec = Codec.fit(parse_tier("float16"), x, rng)
    assert codec.code_size == 64
    centred = x - codec.transform.mean  # codes are of centred rows
    err = np.abs(codec.decode(codec.encode(x)) - centred)
    assert np.all(err <= np.abs(centred) * 2.0**-11 + 2.0**-25)  # round to nearest, 10 mantissa bits


def test_int8_error_is_at_most_half_a_step_per_dimension(rng: np.random.Generator) -> None:
    x = _data(rng)
    codec = Codec.fit(parse_tier("int8"), x, rng)
    centred = x - codec.transform.mean
    lo, hi = centred.min(axis=0), centred.max(axis=0)
    step = (hi - lo) / 255  # QT_8bit: 256 levels over each dimension's calibrated range
    err = np.abs(codec.decode(codec.encode(x)) - centred)
    assert np.all(err <= step / 2 * 1.001 + 1e-6)
    # rows outside the calibration range are clipped to it, never wrapped around
    far = np.full((1, 32), 1e3, dtype=np.float32)
    assert np.all(np.abs(codec.decode(codec.encode(far))[0] - hi) <= step / 2 * 1.001)


def test_float8_relative_error_bound(rng: np.random.Generator) -> None:
    x = _data(rng)
    codec = Codec.fit(parse_tier("float8"), x, rng)
    centred = x - codec.transform.mean
    err = np.abs(codec.decode(codec.encode(x)) - centred)
    assert np.all(err <= np.abs(centred) * 2.0**-4 + 2.0**-10 / codec.scale + 1e-7)


def test_binary_codes_are_signs_of_the_transformed_rows(rng: np.random.Generator) -> None:
    x = _data(rng)
    codec = Codec.fit(parse_tier("binary-rot16"), x, rng)
    assert codec.code_size == 2
    mapped = codec.transform.rows(x)
    np.testing.assert_array_equal(codec.decode(codec.encode(x)), np.where(mapped > 0, 1.0, -1.0))
    np.testing.assert_allclose(codec.transform.matrix.T @ codec.transform.matrix, np.eye(16), atol=1e-5)


@pytest.mark.parametrize("tier", ["pq8", "opq8", "pq4-pca16"])
def test_pq_reconstruction_beats_the_mean(tier: str, rng: np.random.Generator) -> None:
    x = _data(rng, n=2000)
    codec = Codec.fit(parse_tier(tier), x, rng)
    mapped = codec.transform.rows(x)
    err = np.mean((codec.decode(codec.encode(x)) - mapped) ** 2)
    assert err < 0.3 * np.mean(mapped**2)  # 256 centroids per sub-space: most variance kept


@pytest.mark.parametrize("tier", ["float16", "int8", "float8", "binary", "binary/asym", "pq8", "opq8", "int8-pca16", "float8-mrl24"])
@pytest.mark.parametrize("l2", [False, True])
def test_scanner_equals_brute_force_over_its_own_scores(tier: str, l2: bool, rng: np.random.Generator) -> None:
    """The first-tier scan (FAISS kernels) ranks exactly as the codec's own scores, with and
    without a filter (gathered and bitmap paths)."""
    spec = parse_tier(tier)
    if spec.code.value == "binary" and l2:
        with pytest.raises(CompressionConfigError, match="need metric 'cosine' or 'dot'"):
            Codec.fit(spec, _data(rng), rng).queries(_data(rng)[:1], l2=True)
        return
    x = _data(rng)
    q = _data(rng, n=3)
    codec = Codec.fit(spec, x, rng)
    codes = codec.encode(x)
    half = len(codes) // 2
    scanner = codec.scanner([codes[:half], codes[half:]], rows=len(codes), l2=l2)
    assert scanner.nbytes == codes.nbytes
    qs = codec.queries(q, l2=l2)
    want = codec.score(qs, codes, l2=l2)
    for allowed in (None, np.arange(0, len(x), 7), np.flatnonzero(np.arange(len(x)) % 4 != 0)):
        s = want if allowed is None else np.where(np.isin(np.arange(len(x)), allowed)[None], want, -np.inf)
        rows = None if allowed is None else RowSet(len(x), rows=allowed)
        scores, idx = scanner.scan(qs, 10, rows)
        assert (idx >= 0).all()
        if allowed is not None:
            assert np.isin(idx, allowed).all()
        np.testing.assert_allclose(scores, -np.sort(-s, axis=1)[:, :10], rtol=1e-3, atol=2e-3)
        np.testing.assert_allclose(np.take_along_axis(want, idx, axis=1), scores, rtol=1e-3, atol=2e-3)


def test_scores_stay_within_the_codes_error_bound(rng: np.random.Generator) -> None:
    """Offsets are added back, so scores are on the exact scale, off by at most
    sum_j |q_j| * (the code's per-component error bound) for inner products."""
    x = _data(rng)
    q = _data(rng, n=4)
    for tier in ("float16", "int8", "float8"):
        codec = Codec.fit(parse_tier(tier), x, rng)
        centred = x - codec.transform.mean
        if tier == "float16":
            bound = np.abs(centred) * 2.0**-11 + 2.0**-25
        elif tier == "int8":
            bound = np.broadcast_to((centred.max(axis=0) - centred.min(axis=0)) / 510 * 1.001, centred.shape)
        else:
            bound = np.abs(centred) * 2.0**-4 + 2.0**-10 / codec.scale
        got = codec.score(codec.queries(q, l2=False), codec.encode(x), l2=False)
        assert np.all(np.abs(got - q @ x.T) <= np.abs(q) @ bound.T + 1e-4), tier
        exact_l2 = -((q[:, None] - x[None]) ** 2).sum(axis=2)
        got_l2 = codec.score(codec.queries(q, l2=True), codec.encode(x), l2=True)
        # |q - x'|^2 - |q - x|^2 = (x' - x)·(x' + x - 2q), bounded by bound·(2|x - q| + bound)
        slack = (bound[None] * (2 * np.abs(x[None] - q[:, None]) + bound[None])).sum(axis=2)
        assert np.all(np.abs(got_l2 - exact_l2) <= slack + 1e-3), tier
