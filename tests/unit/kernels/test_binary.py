from __future__ import annotations

import numpy as np
import pytest

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


def test_counting_kernel_finds_the_heap_kernels_distances_padded_or_not(rng: np.random.Generator) -> None:
    codes = rng.integers(0, 256, (3000, 48), dtype=np.uint8)
    q = rng.integers(0, 256, (3, 48), dtype=np.uint8)
    truth = np.sort(np.unpackbits(q[:, None, :] ^ codes[None], axis=2).sum(axis=2), axis=1)
    for k in (1, 10, 256):
        dist, idx = binary.hamming_knn_counting(q, codes, k)
        assert np.array_equal(dist, truth[:, :k])  # the k smallest distances, smallest first
        real = np.unpackbits(q[:, None, :] ^ codes[idx], axis=2).sum(axis=2)
        assert np.array_equal(real, dist)  # each row at the distance reported
        assert all(len(np.unique(row)) == k for row in idx)  # k distinct rows
    width = binary.padded_bytes(384)
    assert (width, binary.padded_bytes(64), binary.padded_bytes(96), binary.padded_bytes(1024)) == (64, 8, 16, 128)
    pad = lambda c: np.concatenate([c, np.zeros((len(c), width - 48), dtype=np.uint8)], axis=1)  # noqa: E731
    dist, _ = binary.hamming_knn_counting(pad(q), pad(codes), 256)
    assert np.array_equal(dist, truth[:, :256])  # zero bytes on both sides change nothing
    assert binary.hamming_knn_counting(q, codes[:5], 10)[1].shape == (3, 5)
    empty = binary.hamming_knn_counting(q, codes[:0], 10)[1]
    assert empty.shape == (3, 1) and (empty == -1).all()
    with pytest.raises(ValueError, match="expected"):
        binary.hamming_knn_counting(q[:, :40], codes, 10)


def test_counting_kernel_hands_deep_searches_to_the_heap_kernel(rng: np.random.Generator, monkeypatch) -> None:
    codes = rng.integers(0, 256, (3000, 64), dtype=np.uint8)
    q = rng.integers(0, 256, (2, 64), dtype=np.uint8)
    calls: list[int] = []
    real = binary.faiss.hammings_knn_mc
    monkeypatch.setattr(binary.faiss, "hammings_knn_mc", lambda *a: (calls.append(a[4]), real(*a))[1])
    want = binary.hamming_knn(q, codes, 2000)[0]
    monkeypatch.setattr(binary, "COUNTING_BYTES", 2 * 513 * 1000 * 8)  # room for k=1000, not 2000
    assert np.array_equal(binary.hamming_knn_counting(q, codes, 1000)[0], want[:, :1000])
    assert np.array_equal(binary.hamming_knn_counting(q, codes, 2000)[0], want)
    assert calls == [1000]  # k=2000 would allocate past the budget: the heap kernel answered


def test_asymmetric_scan_is_the_float_query_against_pm1(rng: np.random.Generator) -> None:
    x = rng.standard_normal((500, 32)).astype(np.float32)
    q = rng.standard_normal((3, 32)).astype(np.float32)
    codes = binary.pack_signs(x)
    want = q @ np.where(x > 0, 1.0, -1.0).T
    np.testing.assert_allclose(binary.asym_scores(q, codes), want, rtol=1e-5, atol=1e-5)
    scores, idx = binary.asym_knn(q, codes, 10)
    np.testing.assert_allclose(scores, -np.sort(-want, axis=1)[:, :10], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.take_along_axis(want, idx, axis=1), scores, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dims", [64, 60])
def test_fast_scan_ranks_sign_codes_by_the_asymmetric_score(rng: np.random.Generator, dims: int) -> None:
    x = rng.standard_normal((3000, dims)).astype(np.float32)
    q = rng.standard_normal((5, dims)).astype(np.float32)
    codes = binary.pack_signs(np.pad(x, ((0, 0), (0, binary.fastscan_dims(dims) - dims))))  # (padding bits: 0)
    padded = np.zeros((len(codes), 16), dtype=np.uint8)
    padded[:, : codes.shape[1]] = codes  # (the bytes past the code's are not read)
    index = binary.fastscan_index(padded, dims)
    assert index.ntotal == 3000 and index.d == binary.fastscan_dims(dims)
    scores, rows = binary.fastscan_knn(index, q, 50)
    want = q @ np.where(x > 0, 1.0, -1.0).T
    best = -np.sort(-want, axis=1)
    assert rows.shape == (5, 50) and (rows >= 0).all()
    got = np.take_along_axis(want, rows, axis=1)
    # (8-bit lookup tables: the ranking is the exact score's up to a small quantisation error)
    assert (got >= best[:, 49:50] - 0.05 * np.abs(best[:, :1])).all()
    assert np.mean([len(set(rows[i]) & set(np.argsort(-want[i])[:50])) / 50 for i in range(5)]) >= 0.9
    np.testing.assert_allclose(scores[:, 0], best[:, 0], rtol=0.05)
    empty_scores, empty_rows = binary.fastscan_knn(binary.fastscan_index(padded[:0], dims), q, 10)
    assert empty_rows.tolist() == [[-1]] * 5 and np.isneginf(empty_scores).all()
    assert binary.fastscan_knn(index, q, 10**6)[1].shape == (5, 3000)
    with pytest.raises(ValueError, match="uint8 sign codes"):
        binary.fastscan_index(padded[:, :4], dims)
