"""Codecs: how one tier turns vectors into bytes and scores queries against those bytes.

Every codec maps rows through its :class:`FittedTransform` and then codes them as ``(n,
code_size) uint8``. It offers two ways to score:

- :meth:`Codec.score` — every query against a few gathered codes (rescoring candidates);
- :meth:`Codec.scanner` — a RAM-resident scanner over all codes for the first tier, run by
  FAISS's SIMD kernels (``IndexScalarQuantizer`` for float16/int8, the Hamming popcount or the PQ
  ADC scan for binary and PQ codes read in place), restricted to a filter's rows by a bitmap
  selector or by gathering the rows' codes.

Scores are "higher is better" and, except for binary codes, approximate the exact score
(inner product, or negated squared L2 distance): the transform's query offset is added back.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from vecnest._threads import FewQueries

import faiss
from vecnest.compress.spec import CodeKind, Scoring, TierSpec
from vecnest.compress.transforms import FittedTransform
from vecnest.errors import CompressionConfigError
from vecnest.kernels import binary, float8
from vecnest.kernels.adc import pq_knn
from vecnest.kernels.distance import score as dense_score
from vecnest.kernels.distance import squared_norms, top_k

#: A filtered scan gathers the matching rows' codes below this fraction of the rows (above, a
#: bitmap selector lets the kernel skip the others in place, where the kernel takes one).
GATHER_FRACTION = 0.25


@dataclass
class Queries:
    """Queries prepared for one codec: mapped, their score offset, and their sign bits."""

    mapped: np.ndarray  #: ``(q, d') float32``
    offset: np.ndarray  #: ``(q,) float32`` added to inner-product scores
    bits: np.ndarray | None = None  #: ``(q, d'/8) uint8`` for Hamming scoring


class Allowed(Protocol):
    """The rows a filtered scan may return (see :class:`vecnest.compress.searcher.RowSet`)."""

    count: int

    @property
    def rows(self) -> np.ndarray:
        """Sorted ``int64`` rows."""

    @property
    def bitmap(self) -> np.ndarray:
        """The rows as little-endian packed bits over all coded rows."""


class Scanner:
    """First-tier scan over all of a codec's codes held in RAM.

    Attributes:
        codes: ``(n, code_size) uint8`` view of the resident codes (gathered for sparse filters).
    """

    #: whether :meth:`_scan_bitmap` skips unadmitted rows in place (else they are gathered)
    takes_bitmap: bool = False

    def __init__(self, codec: Codec, codes: np.ndarray, *, l2: bool) -> None:
        self.codec = codec
        self.codes = codes
        self.l2 = l2

    @property
    def nbytes(self) -> int:
        """Bytes of the resident codes."""
        return int(self.codes.nbytes)

    def scan(self, qs: Queries, k: int, allowed: Allowed | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` rows per query among all rows, or among the ``allowed`` ones: few are
        gathered and scanned alone, many are skipped in place through a bitmap selector when the
        kernel takes one.

        Returns:
            ``(q, k') float32`` scores and ``(q, k') int64`` rows, best first (``-1`` /
            ``-inf``: none).
        """
        if allowed is None:
            return self._scan_all(qs, self.codes, k)
        if allowed.count < GATHER_FRACTION * len(self.codes) or not self.takes_bitmap:
            rows = allowed.rows
            scores, idx = self._scan_all(qs, np.ascontiguousarray(self.codes[rows]), k)
            return scores, np.where(idx >= 0, rows[np.maximum(idx, 0)], -1)
        return self._scan_bitmap(qs, k, allowed.bitmap)

    def _scan_bitmap(self, qs: Queries, k: int, bitmap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _scan_all(self, qs: Queries, codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` of ``codes`` (all resident codes, or gathered ones) by :meth:`Codec.score`."""
        scores = self.codec.score(qs, codes, l2=self.l2)
        idx, best = top_k(scores, k)
        idx[~np.isfinite(best)] = -1
        return best, idx


class Codec(ABC):
    """A fitted code for one tier."""

    def __init__(self, spec: TierSpec, transform: FittedTransform) -> None:
        self.spec = spec
        self.transform = transform

    @property
    def dims(self) -> int:
        """Dimensions the code sees."""
        return self.transform.dims

    @property
    @abstractmethod
    def code_size(self) -> int:
        """Bytes per vector."""

    # -- fitting and persistence --------------------------------------------------------------

    @classmethod
    def fit(cls, spec: TierSpec, sample: np.ndarray, rng: np.random.Generator) -> Codec:
        """Fit the transform and the code on ``(m, d) float32`` sample rows."""
        dims = spec.out_dims(sample.shape[1])
        transform = FittedTransform.fit(spec.transform, sample, dims, rng)
        codec = _CODECS[spec.code](spec, transform)
        codec._fit(transform.rows(sample), rng)
        return codec

    def _fit(self, mapped: np.ndarray, rng: np.random.Generator) -> None:  # noqa: B027 - optional
        """Fit the code's own parameters on mapped sample rows (nothing by default)."""

    def arrays(self) -> dict[str, np.ndarray]:
        """Every fitted array (transform and code), for saving."""
        return {**{f"transform.{k}": v for k, v in self.transform.arrays().items()}, **{f"code.{k}": v for k, v in self._arrays().items()}}

    def _arrays(self) -> dict[str, np.ndarray]:
        return {}

    @classmethod
    def from_arrays(cls, spec: TierSpec, dim: int, arrays: dict[str, np.ndarray]) -> Codec:
        """Inverse of :meth:`arrays` for ``dim``-dimensional vectors."""
        tr = {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("transform.")}
        transform = FittedTransform.from_arrays(spec.transform, spec.out_dims(dim), tr)
        codec = _CODECS[spec.code](spec, transform)
        codec._load({k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("code.")})
        return codec

    def _load(self, arrays: dict[str, np.ndarray]) -> None:  # noqa: B027 - optional
        """Restore the code's own parameters."""

    # -- coding ---------------------------------------------------------------------------------

    def encode(self, x: np.ndarray) -> np.ndarray:
        """``(n, code_size) uint8`` codes of ``(n, d) float32`` rows."""
        return self._encode(self.transform.rows(x))

    @abstractmethod
    def _encode(self, mapped: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def decode(self, codes: np.ndarray) -> np.ndarray:
        """``(n, d') float32`` reconstruction in the mapped space."""

    # -- scoring ---------------------------------------------------------------------------------

    def queries(self, q: np.ndarray, *, l2: bool) -> Queries:
        """Prepare ``(nq, d) float32`` queries for this codec."""
        return Queries(self.transform.queries(q, l2=l2), self.transform.query_offset(q, l2=l2))

    def score(self, qs: Queries, codes: np.ndarray, *, l2: bool) -> np.ndarray:
        """``(nq, c) float32`` approximate scores of every query against ``(c, code_size)`` codes."""
        rec = self.decode(codes)
        norms = squared_norms(rec) if l2 else None
        out = dense_score(qs.mapped, rec, l2=l2, vector_sq_norms=norms)
        if not l2:
            out += qs.offset[:, None]
        return out

    def scanner(self, parts: Sequence[np.ndarray], *, rows: int, l2: bool) -> Scanner:
        """A first-tier scanner with the codes of ``rows`` rows, given as consecutive ``(r,
        code_size) uint8`` parts (maps of the files), copied into RAM."""
        return self._scanner_class(self, _gather(parts, rows, self.code_size), l2=l2)

    _scanner_class: type[Scanner] = Scanner


class _SQScanner(Scanner):
    """FAISS ``IndexScalarQuantizer`` holding the codes (copied straight into it, at open)."""

    takes_bitmap = True

    def __init__(self, codec: ScalarCodec, parts: Sequence[np.ndarray], rows: int, *, l2: bool) -> None:
        index = faiss.IndexScalarQuantizer(codec.dims, codec.qtype, faiss.METRIC_L2 if l2 else faiss.METRIC_INNER_PRODUCT)
        faiss.copy_array_to_vector(codec.sq_params(), index.sq.trained)
        index.is_trained = True
        size = rows * codec.code_size
        index.codes.resize(size)
        view = faiss.rev_swig_ptr(index.codes.data(), size).reshape(rows, codec.code_size) if size else np.empty((0, codec.code_size), np.uint8)
        _gather(parts, rows, codec.code_size, out=view)
        index.ntotal = rows
        super().__init__(codec, view, l2=l2)
        self.index = index  # owns the memory ``view`` points into

    def _scan_all(self, qs: Queries, codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if codes is not self.codes:  # gathered rows: score them directly
            return super()._scan_all(qs, codes, k)
        return self._search(qs, k, None)

    def _scan_bitmap(self, qs: Queries, k: int, bitmap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._search(qs, k, bitmap)

    def _search(self, qs: Queries, k: int, bitmap: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        params = None
        if bitmap is not None:  # the selector borrows ``bitmap`` for this call
            params = faiss.SearchParameters()
            params.sel = faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap))
        k = max(1, min(k, len(self.codes)))
        with FewQueries(len(qs.mapped)):
            dist, idx = self.index.search(qs.mapped, k, params=params)
        scores = -dist if self.l2 else dist + qs.offset[:, None]
        scores[idx < 0] = -np.inf
        return scores.astype(np.float32, copy=False), idx


class ScalarCodec(Codec):
    """float16 or per-dimension calibrated int8, coded and scanned by FAISS's ``ScalarQuantizer``
    (int8: ``QT_8bit``, each dimension's range is the calibration sample's min..max, as in
    sentence-transformers' ``quantize_embeddings``)."""

    def __init__(self, spec: TierSpec, transform: FittedTransform) -> None:
        super().__init__(spec, transform)
        self.qtype = faiss.ScalarQuantizer.QT_fp16 if spec.code is CodeKind.FLOAT16 else faiss.ScalarQuantizer.QT_8bit
        self.sq = faiss.ScalarQuantizer(transform.dims, self.qtype)
        if spec.code is CodeKind.FLOAT16:
            self.sq.is_trained = True

    @property
    def code_size(self) -> int:
        return int(self.sq.code_size)

    def _fit(self, mapped: np.ndarray, rng: np.random.Generator) -> None:
        if self.spec.code is CodeKind.INT8:
            self.sq.train(np.ascontiguousarray(mapped))

    def sq_params(self) -> np.ndarray:
        """The quantizer's trained ranges (``(2d',)`` ``vmin`` then ``vdiff``; empty for float16)."""
        return faiss.vector_to_array(self.sq.trained).astype(np.float32)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"trained": self.sq_params()}

    def _load(self, arrays: dict[str, np.ndarray]) -> None:
        faiss.copy_array_to_vector(np.ascontiguousarray(arrays["trained"], dtype=np.float32), self.sq.trained)
        self.sq.is_trained = True

    def _encode(self, mapped: np.ndarray) -> np.ndarray:
        return self.sq.compute_codes(np.ascontiguousarray(mapped))

    def decode(self, codes: np.ndarray) -> np.ndarray:
        return self.sq.decode(np.ascontiguousarray(codes, dtype=np.uint8))

    def scanner(self, parts: Sequence[np.ndarray], *, rows: int, l2: bool) -> Scanner:
        return _SQScanner(self, parts, rows, l2=l2)


class _Float8Scanner(Scanner):
    """E4M3 codes scanned in place by FAISS's PQ-ADC kernel: a product quantizer with one
    dimension per sub-quantizer whose 256 centroids are the decoded byte values of that
    dimension, so ``q · decode(code)`` is a sum of ``d`` table lookups per row."""

    codec: Float8Codec

    def _scan_all(self, qs: Queries, codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        with FewQueries(len(qs.mapped)):
            scores, idx = pq_knn(self.codec.lookup(), qs.mapped, codes, k, l2=self.l2)
        if not self.l2:
            scores += qs.offset[:, None]
        return scores, idx


class Float8Codec(Codec):
    """E4M3 with a per-dimension scale; decoded through a 256-entry table (see
    :mod:`vecnest.kernels.float8`), scanned by FAISS's ADC kernel (see :class:`_Float8Scanner`)."""

    scale: np.ndarray
    _scanner_class = _Float8Scanner
    _pq: faiss.ProductQuantizer | None = None

    def lookup(self) -> faiss.ProductQuantizer:
        """The product quantizer whose codes are these E4M3 bytes (built once)."""
        if self._pq is None:
            pq = faiss.ProductQuantizer(self.dims, self.dims, 8)
            values = float8.e4m3_table()[None, :] / self.scale[:, None]  # (d, 256)
            faiss.copy_array_to_vector(np.ascontiguousarray(values, dtype=np.float32).ravel(), pq.centroids)
            self._pq = pq
        return self._pq

    @property
    def code_size(self) -> int:
        return self.dims

    def _fit(self, mapped: np.ndarray, rng: np.random.Generator) -> None:
        self.scale = float8.fit_scale(mapped)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"scale": self.scale}

    def _load(self, arrays: dict[str, np.ndarray]) -> None:
        self.scale = np.asarray(arrays["scale"], dtype=np.float32)

    def _encode(self, mapped: np.ndarray) -> np.ndarray:
        return float8.encode(mapped, self.scale)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        return float8.decode(codes, self.scale)



class _BinaryScanner(Scanner):
    """Hamming popcount (FAISS, filters by a bitmap selector in place) or the asymmetric score
    (FAISS's PQ-ADC scan over the sign bytes, filters by gathering)."""

    codec: BinaryCodec

    def __init__(self, codec: BinaryCodec, codes: np.ndarray, *, l2: bool) -> None:
        super().__init__(codec, codes, l2=l2)
        self.hamming = codec.scoring is Scoring.HAMMING
        self.takes_bitmap = self.hamming

    def _scan_all(self, qs: Queries, codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self.hamming:
            return self._hamming(qs, codes, k, None)
        with FewQueries(len(qs.mapped)):
            return binary.asym_knn(qs.mapped, codes, k)

    def _scan_bitmap(self, qs: Queries, k: int, bitmap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._hamming(qs, self.codes, k, bitmap)

    @staticmethod
    def _hamming(qs: Queries, codes: np.ndarray, k: int, bitmap: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        assert qs.bits is not None
        with FewQueries(len(qs.bits)):
            dist, idx = binary.hamming_knn(qs.bits, codes, k, bitmap)
        scores = -dist.astype(np.float32)
        scores[idx < 0] = -np.inf
        return scores, idx


class BinaryCodec(Codec):
    """One sign bit per mapped dimension. Ranks by Hamming distance or by the asymmetric score;
    neither approximates the exact score, so a binary tier is always followed by another."""

    _scanner_class = _BinaryScanner

    @property
    def code_size(self) -> int:
        return self.dims // 8

    def _encode(self, mapped: np.ndarray) -> np.ndarray:
        return binary.pack_signs(mapped)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        return binary.unpack_pm1(codes)

    def queries(self, q: np.ndarray, *, l2: bool) -> Queries:
        if l2:
            raise CompressionConfigError("binary tiers rank by angle and need metric 'cosine' or 'dot'; use 'int8' or 'opq<M>' for 'l2'")
        # mapped like the rows (centred): the codes' bits are signs around the mean, and ranking
        # against the centred query is what keeps generic rows near the mean from crowding in
        mapped = self.transform.rows(q)
        return Queries(mapped, np.zeros(len(q), dtype=np.float32), binary.pack_signs(mapped))

    @property
    def scoring(self) -> Scoring:
        """How this tier ranks (the searcher resolves an unset scoring by the tier's place:
        Hamming first, asymmetric when rescoring; a lone codec defaults to Hamming)."""
        return self.spec.scoring or Scoring.HAMMING

    def score(self, qs: Queries, codes: np.ndarray, *, l2: bool) -> np.ndarray:
        if self.scoring is Scoring.HAMMING:
            assert qs.bits is not None
            return binary.hamming_scores(qs.bits, codes)
        return binary.asym_scores(qs.mapped, codes)



class _PQScanner(Scanner):
    codec: PQCodec

    def _scan_all(self, qs: Queries, codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        with FewQueries(len(qs.mapped)):
            scores, idx = pq_knn(self.codec.pq, qs.mapped, codes, k, l2=self.l2)
        if not self.l2:
            scores += qs.offset[:, None]
        return scores, idx


class PQCodec(Codec):
    """Product quantization with 256 centroids per sub-quantizer (FAISS ``ProductQuantizer``), after
    the tier's transform and, for ``opq``, FAISS's learned OPQ rotation (folded into the
    transform's matrix). Scanned in place by FAISS's ADC kernel."""

    _scanner_class = _PQScanner
    #: OPQ alternating iterations (FAISS's default is 50; 20 reach the same recall here).
    OPQ_ITERATIONS = 20
    #: Rows OPQ learns its rotation on (each iteration re-trains the PQ on them).
    OPQ_FIT_ROWS = 32_768

    def __init__(self, spec: TierSpec, transform: FittedTransform) -> None:
        super().__init__(spec, transform)
        self.pq = faiss.ProductQuantizer(transform.dims, int(spec.pq_m or 1), 8)
        # k-means on small collections: no stderr warning below 39 points per centroid
        self.pq.cp.min_points_per_centroid = 1

    @property
    def code_size(self) -> int:
        return int(self.pq.code_size)

    def _fit(self, mapped: np.ndarray, rng: np.random.Generator) -> None:
        x = np.ascontiguousarray(mapped, dtype=np.float32)
        if self.spec.code is CodeKind.OPQ:
            opq = faiss.OPQMatrix(self.dims, self.pq.M)
            opq.niter = self.OPQ_ITERATIONS
            opq.max_train_points = self.OPQ_FIT_ROWS
            opq.pq = self.pq  # its k-means settings (trained again below, after the rotation)
            opq.train(x)
            a = faiss.vector_to_array(opq.A).reshape(self.dims, self.dims)
            t = self.transform
            rot = np.ascontiguousarray(a.T, dtype=np.float32)
            base = t.matrix if t.matrix is not None else np.eye(len(t.mean), self.dims, dtype=np.float32)
            self.transform = FittedTransform(t.kind, t.dims, t.mean, np.ascontiguousarray(base @ rot))
            x = np.ascontiguousarray(x @ rot)
        self.pq.cp.seed = int(rng.integers(1 << 30))
        self.pq.train(x)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"centroids": faiss.vector_to_array(self.pq.centroids).reshape(self.pq.M, self.pq.ksub, self.pq.dsub)}

    def _load(self, arrays: dict[str, np.ndarray]) -> None:
        faiss.copy_array_to_vector(np.ascontiguousarray(arrays["centroids"], dtype=np.float32).ravel(), self.pq.centroids)

    def _encode(self, mapped: np.ndarray) -> np.ndarray:
        return self.pq.compute_codes(np.ascontiguousarray(mapped))

    def decode(self, codes: np.ndarray) -> np.ndarray:
        return self.pq.decode(np.ascontiguousarray(codes, dtype=np.uint8))



def _gather(parts: Sequence[np.ndarray], rows: int, code_size: int, out: np.ndarray | None = None) -> np.ndarray:
    """The first ``rows`` rows of consecutive parts, copied into ``out`` (or a new array)."""
    if out is None:
        out = np.empty((rows, code_size), dtype=np.uint8)
    lo = 0
    for p in parts:
        take = min(len(p), rows - lo)
        if take <= 0:
            break
        out[lo : lo + take] = p[:take]
        lo += take
    if lo != rows:
        raise ValueError(f"the parts hold {lo} rows, {rows} expected")
    return out


_CODECS: dict[CodeKind, type[Codec]] = {
    CodeKind.FLOAT16: ScalarCodec,
    CodeKind.INT8: ScalarCodec,
    CodeKind.FLOAT8: Float8Codec,
    CodeKind.BINARY: BinaryCodec,
    CodeKind.PQ: PQCodec,
    CodeKind.OPQ: PQCodec,
}
