"""Binary codes: one sign bit per dimension, packed little-endian (bit ``j % 8`` of byte ``j // 8``).

Two ways to rank codes against a query, both run by FAISS's C++ kernels on the caller's arrays
(no copy into an index):

- **Hamming**: the query's own sign bits, popcount of the XOR (:func:`hamming_knn`).
- **Asymmetric**: the float query against the ±1 code, ``sum_j q_j s_j``. This is exactly the
  inner-product ADC of a product quantizer with ``d/8`` sub-quantizers whose 256 centroids are the
  256 sign patterns of 8 dimensions, and whose code bytes are the packed sign bytes; so FAISS's
  PQ scan computes it (:func:`asym_knn`), with a lookup table of ``d/8 × 256`` partial sums per query.
  With ``d/4`` sub-quantizers of 16 patterns each (4 dimensions, one nibble of the same bytes),
  FAISS's *fast-scan* PQ kernel scores 32 codes at a time from lookup tables held in SIMD
  registers (:func:`fastscan_index`, :func:`fastscan_knn`): it needs its own packed copy of the
  codes, built once per set of rows.
"""

from __future__ import annotations

import functools

import numpy as np


import faiss
from vecnest.kernels.adc import pq_knn

#: ``(256, 8) float32``: the ±1 pattern of every byte (bit ``i`` -> dimension ``i``).
SIGN_PATTERNS = (((np.arange(256)[:, None] >> np.arange(8)[None, :]) & 1) * 2 - 1).astype(np.float32)


def pack_signs(x: np.ndarray) -> np.ndarray:
    """``(n, d/8) uint8`` sign bits (1 = positive) of ``(n, d) float32`` rows; ``d % 8 == 0``."""
    return np.packbits(x > 0, axis=1, bitorder="little")


def unpack_pm1(codes: np.ndarray) -> np.ndarray:
    """``(n, 8·b) float32`` ±1 values of ``(n, b) uint8`` codes."""
    return SIGN_PATTERNS[codes].reshape(len(codes), -1)


@functools.cache
def sign_quantizer(dims: int) -> faiss.ProductQuantizer:
    """The PQ whose codes are packed sign bytes (see the module docstring), for ``dims % 8 == 0``."""
    m = dims // 8
    pq = faiss.ProductQuantizer(dims, m, 8)
    faiss.copy_array_to_vector(np.ascontiguousarray(np.tile(SIGN_PATTERNS[None], (m, 1, 1)).ravel()), pq.centroids)
    return pq


def hamming_knn(
    query_codes: np.ndarray, codes: np.ndarray, k: int, bitmap: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` codes nearest in Hamming distance to each query code.

    Args:
        query_codes: ``(q, b) uint8``.
        codes: ``(n, b) uint8`` C-contiguous (read in place).
        k: results per query (at most ``n``).
        bitmap: optional little-endian packed ``(ceil(n/8),) uint8``: only rows whose bit is set.

    Returns:
        ``(q, k) int32`` distances (smallest first) and ``(q, k) int64`` rows (``-1``: none).
    """
    q = np.ascontiguousarray(query_codes, dtype=np.uint8)
    n, b = codes.shape
    k = max(1, min(k, n))
    dist, idx = np.empty((len(q), k), dtype=np.int32), np.empty((len(q), k), dtype=np.int64)
    heap = faiss.int_maxheap_array_t()
    heap.nh, heap.k, heap.val, heap.ids = len(q), k, faiss.swig_ptr(dist), faiss.swig_ptr(idx)
    sel = None if bitmap is None else faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap))
    faiss.hammings_knn_hc(heap, faiss.swig_ptr(q), faiss.swig_ptr(codes), n, b, 1, faiss.EXACT_TOPK, sel)
    return dist, idx


def hamming_knn_counting(query_codes: np.ndarray, codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`hamming_knn` (no bitmap) by FAISS's counting kernel (``hammings_knn_mc``): a
    histogram of distances instead of a heap, faster for a deep ``k`` (74k arXiv title sketches
    of 64 bytes, 40k rows, one query, k=256: 114 µs vs 189 µs; at k=10 about the same). FAISS
    unrolls the Hamming distance of 4-, 8-, 16-, 20-, 32- and 64-byte codes; other widths take a
    generic loop (48-byte codes, k=256: 164 µs), hence :func:`padded_bytes`.

    The kernel allocates ``(8 * width + 1) * k`` int64 per query (one list of ids per possible
    distance): 1 MiB for 64-byte codes at k=256, 1 GiB at k=10,000. Where a call would allocate
    more than :data:`COUNTING_BYTES`, the heap kernel (:func:`hamming_knn`) answers instead.

    Returns:
        ``(q, k') int32`` distances (smallest first) and ``(q, k') int64`` rows,
        ``k' = max(1, min(k, n))`` (no codes: one column of row ``-1``).
    """
    q = np.ascontiguousarray(query_codes, dtype=np.uint8)
    n, b = codes.shape
    if q.ndim != 2 or q.shape[1] != b or not codes.flags.c_contiguous or codes.dtype != np.uint8:
        raise ValueError(
            f"hamming_knn_counting: expected (q, {b}) query codes and C-contiguous uint8 codes; "
            f"got {q.shape}, {codes.dtype}"
        )
    k = max(1, min(k, n))
    if len(q) * (8 * b + 1) * k * 8 > COUNTING_BYTES:
        return hamming_knn(q, codes, k)
    dist, idx = np.empty((len(q), k), dtype=np.int32), np.empty((len(q), k), dtype=np.int64)
    if n:
        ptr = faiss.swig_ptr
        faiss.hammings_knn_mc(ptr(q), ptr(codes), len(q), n, k, b, ptr(dist), ptr(idx))
    else:
        dist.fill(np.iinfo(np.int32).max)
        idx.fill(-1)
    return dist, idx


#: :func:`hamming_knn_counting` uses the heap kernel where the counting one would allocate more.
COUNTING_BYTES = 32 << 20


def padded_bytes(dims: int) -> int:
    """Bytes of a sign code of ``dims`` dimensions padded with zero bytes up to 8, 16, 32 or 64
    (widths FAISS's Hamming kernels unroll); above 64 bytes, up to a multiple of 8 (FAISS's
    generic loop then reads whole 8-byte words; no width above 64 is unrolled). Zero bytes in
    both query and code agree, so distances are unchanged."""
    b = (dims + 7) // 8
    for width in (8, 16, 32, 64):
        if b <= width:
            return width
    return -(-b // 8) * 8


def asym_knn(queries: np.ndarray, codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` rows by the asymmetric score ``q · (±1 code)``.

    Args:
        queries: ``(q, 8·b) float32``.
        codes: ``(n, b) uint8`` C-contiguous.
        k: results per query.

    Returns:
        ``(q, k) float32`` scores (best first) and ``(q, k) int64`` rows.
    """
    return pq_knn(sign_quantizer(queries.shape[1]), queries, codes, k, l2=False)


def asym_scores(queries: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """``(q, n) float32`` asymmetric scores of every query against every code (small ``n``)."""
    return queries @ unpack_pm1(codes).T


def hamming_scores(query_codes: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """``(q, n) float32`` negated Hamming distances (higher is nearer) of every pair."""
    q = np.ascontiguousarray(query_codes, dtype=np.uint8)
    c = np.ascontiguousarray(codes, dtype=np.uint8)
    out = np.empty((len(q), len(c)), dtype=np.int32)
    if len(q) and len(c):
        faiss.hammings(faiss.swig_ptr(q), faiss.swig_ptr(c), len(q), len(c), c.shape[1], faiss.swig_ptr(out))
    return -out.astype(np.float32)


#: ``(16, 4) float32``: the ±1 pattern of every nibble (bit ``i`` -> dimension ``i``).
NIBBLE_PATTERNS = (((np.arange(16)[:, None] >> np.arange(4)[None, :]) & 1) * 2 - 1).astype(np.float32)


def fastscan_dims(dims: int) -> int:
    """The dimensions a fast-scan index over sign codes of ``dims`` dimensions scores: ``dims``
    rounded up to a whole byte (the padding bits are 0 in every code and the query is 0 there)."""
    return 8 * ((dims + 7) // 8)


@functools.cache
def _nibble_centroids(dims: int) -> np.ndarray:
    return np.ascontiguousarray(np.tile(NIBBLE_PATTERNS[None], (fastscan_dims(dims) // 4, 1, 1)).ravel())


def fastscan_index(codes: np.ndarray, dims: int) -> faiss.IndexPQFastScan:
    """A FAISS fast-scan index (inner product) over packed sign codes: the first
    ``ceil(dims / 8)`` bytes of each ``(n, b) uint8`` row, one 4-bit sub-quantizer code per
    nibble (the byte layout FAISS's 4-bit PQ codes use), repacked into fast-scan blocks of 32 rows
    (28,000 rows of 384 dims: ~3 ms). The index owns its copy: later changes of ``codes`` do not
    reach it, and searches may run in many threads at once."""
    d = fastscan_dims(dims)
    nb = d // 8
    if codes.ndim != 2 or codes.dtype != np.uint8 or codes.shape[1] < nb:
        raise ValueError(f"fastscan_index: expected (n, >= {nb}) uint8 sign codes of {dims} dims; got {codes.shape} {codes.dtype}")
    flat = faiss.IndexPQ(d, d // 4, 4, faiss.METRIC_INNER_PRODUCT)
    faiss.copy_array_to_vector(_nibble_centroids(dims), flat.pq.centroids)
    flat.is_trained = True
    if len(codes):
        flat.add_sa_codes(np.ascontiguousarray(codes[:, :nb]))
    index = faiss.IndexPQFastScan(flat, 32)
    index.orig_codes = None  # (it pointed into ``flat``'s codes, freed on return; the default kernels never read it)
    return index


def fastscan_knn(index: faiss.IndexPQFastScan, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` rows of a :func:`fastscan_index` by the asymmetric score ``q · (±1 code)``
    (from 8-bit quantized lookup tables: ties and near-ties may swap; a row whose score falls at
    the very bottom of the 16-bit range the kernel sums in, e.g. every sign opposite to the
    query's, is never returned: its place holds row ``-1``).

    Args:
        index: from :func:`fastscan_index`.
        queries: ``(q, dims) float32`` (zero-padded here to the index's dimensions).
        k: results per query.

    Returns:
        ``(q, k') float32`` scores (best first) and ``(q, k') int64`` rows, ``k' = max(1, min(k, n))``
        (no rows: one column of row ``-1``).
    """
    q = np.ascontiguousarray(queries, dtype=np.float32)
    if q.ndim != 2 or q.shape[1] > index.d:
        raise ValueError(f"fastscan_knn: expected (q, <= {index.d}) float32 queries; got {q.shape}")
    if q.shape[1] < index.d:
        q = np.pad(q, ((0, 0), (0, index.d - q.shape[1])))
    k = max(1, min(k, index.ntotal))
    if not index.ntotal:
        return np.full((len(q), 1), -np.inf, dtype=np.float32), np.full((len(q), 1), -1, dtype=np.int64)
    scores, rows = index.search(q, k)
    return scores, rows
