from __future__ import annotations

import numpy as np

from vecnest.kernels import binary, rotation


def test_pca_finds_the_hand_made_axis(rng: np.random.Generator) -> None:
    axis = np.array([3.0, 4.0, 0.0]) / 5.0
    x = (rng.standard_normal((2000, 1)) * 10 * axis + rng.standard_normal((2000, 3)) * 0.1).astype(np.float32)
    axes, var = rotation.fit_pca(x - x.mean(axis=0), 2)
    assert axes.shape == (3, 2)
    np.testing.assert_allclose(axes[:, 0], axis, atol=0.01)  # sign fixed: largest component positive
    assert var[0] > 50 * var[1]
    np.testing.assert_allclose(axes.T @ axes, np.eye(2), atol=1e-5)


def test_random_rotation_is_orthogonal(rng: np.random.Generator) -> None:
    r = rotation.random_rotation(24, rng)
    np.testing.assert_allclose(r.T @ r, np.eye(24), atol=1e-5)


def test_itq_is_orthogonal_and_lowers_the_binarisation_loss(rng: np.random.Generator) -> None:
    x = rng.standard_normal((3000, 16)).astype(np.float32) * np.linspace(3, 0.2, 16).astype(np.float32)
    axes, _ = rotation.fit_pca(x - x.mean(axis=0), 16)
    v = (x - x.mean(axis=0)) @ axes
    r = rotation.fit_itq(v, iterations=30)
    np.testing.assert_allclose(r.T @ r, np.eye(16), atol=1e-4)

    def loss(y: np.ndarray) -> float:
        return float(np.sum((binary.unpack_pm1(binary.pack_signs(y)) - y) ** 2))

    assert loss(v @ r) < loss(v)


def test_apply_centres_then_maps_or_truncates() -> None:
    x = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
    mean = np.array([1.0, 1.0, 1.0], dtype=np.float32)
    np.testing.assert_array_equal(rotation.apply(x, mean, None, 2), [[0.0, 1.0]])
    m = np.array([[0.0], [0.0], [1.0]], dtype=np.float32)
    np.testing.assert_array_equal(rotation.apply(x, mean, m, 1), [[2.0]])
