from __future__ import annotations

import numpy as np

from vecnest.kernels import binary


def test_pack_signs_is_little_endian() -> None:
    x = np.array([[1, -1, -1, -1, -1, -1, -1, 2, -1, 3, -1, -1, -1, -1, -1, -1]], dtype=np.float32)
    # dims 0 and 7 positive in byte 0 -> 0b1000_0001; dim 9 (bit 1 of byte 1) -> 0b10
    np.testing.assert_array_equal(binary.pack_signs(x), [[0x81, 0x02]])
    np.testing.assert_array_equal(binary.unpack_pm1(binary.pack_signs(x)), np.where(x > 0, 1.0, -1.0))


def test_hamming_knn_matches_brute_force_and_honours_bitmap(rng: np.random.Generator) -> None:
    x = rng.standard_normal((300, 64)).astype(np.float32)
    q = rng.standard_normal((4, 64)).astype(np.float32)
    codes, qc = binary.pack_signs(x), binary.pack_signs(q)
    brute = (np.unpackbits(qc, axis=1)[:, None, :] != np.unpackbits(codes, axis=1)[None]).sum(axis=2)
    dist, idx = binary.hamming_knn(qc, codes, 7)
    np.testing.assert_array_equal(dist, np.sort(brute, axis=1)[:, :7])
    np.testing.assert_array_equal(np.take_along_axis(brute, idx, axis=1), dist)
    np.testing.assert_array_equal(-binary.hamming_scores(qc, codes), brute)
    allowed = np.zeros(300, dtype=bool)
    allowed[::5] = True
    dist, idx = binary.hamming_knn(qc, codes, 7, np.packbits(allowed, bitorder="little"))
    assert (idx % 5 == 0).all()
    masked = np.where(allowed[None], brute, 10**6)
    np.testing.assert_array_equal(dist, np.sort(masked, axis=1)[:, :7])


def test_asymmetric_scan_is_the_float_query_against_pm1(rng: np.random.Generator) -> None:
    x = rng.standard_normal((500, 32)).astype(np.float32)
    q = rng.standard_normal((3, 32)).astype(np.float32)
    codes = binary.pack_signs(x)
    want = q @ np.where(x > 0, 1.0, -1.0).T
    np.testing.assert_allclose(binary.asym_scores(q, codes), want, rtol=1e-5, atol=1e-5)
    scores, idx = binary.asym_knn(q, codes, 10)
    np.testing.assert_allclose(scores, -np.sort(-want, axis=1)[:, :10], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.take_along_axis(want, idx, axis=1), scores, rtol=1e-4, atol=1e-4)
