from __future__ import annotations

import numpy as np
import pytest

from vecnest.compress.spec import TransformKind
from vecnest.compress.transforms import FittedTransform


@pytest.mark.parametrize("kind", [TransformKind.NONE, TransformKind.PCA, TransformKind.ROT, TransformKind.ITQ])
def test_full_rank_transforms_preserve_scores_exactly(kind: TransformKind, rng: np.random.Generator) -> None:
    """Untruncated, every map is orthogonal: q·x = (q R)·((x - mean) R) + q·mean, and
    |q - x|² = |(q - mean) R - (x - mean) R|²."""
    x = rng.standard_normal((500, 12)).astype(np.float32) + 1.0
    q = rng.standard_normal((4, 12)).astype(np.float32)
    t = FittedTransform.fit(kind, x, 12, rng)
    rows = t.rows(x)
    ip = t.queries(q, l2=False) @ rows.T + t.query_offset(q, l2=False)[:, None]
    np.testing.assert_allclose(ip, q @ x.T, rtol=1e-4, atol=1e-4)
    l2 = ((t.queries(q, l2=True)[:, None] - rows[None]) ** 2).sum(axis=2)
    np.testing.assert_allclose(l2, ((q[:, None] - x[None]) ** 2).sum(axis=2), rtol=1e-4, atol=1e-3)
    assert (t.query_offset(q, l2=True) == 0).all()


def test_truncation_keeps_the_high_variance_axes(rng: np.random.Generator) -> None:
    x = (rng.standard_normal((2000, 8)) * np.array([5, 4, 3, 2, 0.1, 0.1, 0.1, 0.1])).astype(np.float32)
    pca = FittedTransform.fit(TransformKind.PCA, x, 4, rng)
    kept = np.var(pca.rows(x), axis=0).sum() / np.var(x - pca.mean, axis=0).sum()
    assert kept > 0.99
    wide = (rng.standard_normal((4000, 64)) * np.geomspace(10, 0.1, 64)).astype(np.float32)
    spread = {}
    for kind in (TransformKind.PCA, TransformKind.ROT):
        v = np.var(FittedTransform.fit(kind, wide, 32, rng).rows(wide), axis=0)
        spread[kind] = v.max() / v.min()
    assert spread[TransformKind.PCA] > 50 and spread[TransformKind.ROT] < spread[TransformKind.PCA] / 10  # balanced
    rot = FittedTransform.fit(TransformKind.ROT, x, 4, rng)
    mrl = FittedTransform.fit(TransformKind.MRL, x, 3, rng)
    np.testing.assert_array_equal(mrl.rows(x), x[:, :3] - mrl.mean[:3])
    again = FittedTransform.from_arrays(TransformKind.ROT, 4, rot.arrays())
    np.testing.assert_array_equal(again.rows(x), rot.rows(x))
