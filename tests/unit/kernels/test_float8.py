from __future__ import annotations

import numpy as np
import pytest

from vecnest.kernels import float8


def test_table_holds_every_e4m3_value() -> None:
    t = float8.e4m3_table()
    assert t.shape == (256,) and t.dtype == np.float32
    assert t[0] == 0.0 and t[0x38] == 1.0  # exponent bias 7: 0 0111 000 is 1.0
    assert t.max() == 448.0 and t.min() == -448.0  # 0x7E / 0xFE; 0x7F / 0xFF are NaN, decoded as 0
    assert t[0x7F] == 0.0 and t[0xFF] == 0.0
    assert t[1] == 2.0**-9  # smallest subnormal


def test_hand_checked_rounding() -> None:
    scale = np.ones(4, dtype=np.float32)
    x = np.array([[1.0, 0.3, -2.5, 1000.0]], dtype=np.float32)
    got = float8.decode(float8.encode(x, scale), scale)
    # 0.3 lies between 0.28125 and 0.3125 (step 2^-5 in [0.25, 0.5)): nearest is 0.3125;
    # -2.5 is exact (1.25 * 2); 1000 is clipped to the largest finite value
    np.testing.assert_array_equal(got, [[1.0, 0.3125, -2.5, 448.0]])


def test_round_trip_relative_error_bound(rng: np.random.Generator) -> None:
    x = (rng.standard_normal((500, 16)) * rng.uniform(0.01, 3, 16)).astype(np.float32)
    scale = float8.fit_scale(x)
    np.testing.assert_allclose(np.abs(x * scale).max(axis=0), 448.0, rtol=1e-6)
    back = float8.decode(float8.encode(x, scale), scale)
    # 3 mantissa bits: |error| <= 2^-4 |x| for normal values, <= half a subnormal step (2^-10/scale) below
    bound = np.maximum(np.abs(x) * 2.0**-4, 2.0**-10 / scale) * (1 + 1e-6)
    assert np.all(np.abs(back - x) <= bound)


@pytest.mark.parametrize("bad", [np.nan])
def test_nan_never_appears_in_decoded_values(bad: float) -> None:
    scale = np.ones(2, dtype=np.float32)
    codes = np.array([[0x7F, 0xFF]], dtype=np.uint8)
    assert np.isfinite(float8.decode(codes, scale)).all()
