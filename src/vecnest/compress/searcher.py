"""The tiered searcher: a drop-in for :class:`vecnest.index.flat.FlatIndex` over compressed codes.

A search runs the pipeline top to bottom:

1. the first tier (codes loaded into RAM) scans the coded rows a filter allows (all live rows
   without one) and keeps ``k × rescore_multiplier`` candidates;
2. each next tier reads the candidates' codes from disk (positioned reads, so they never become
   part of the process's resident set; the OS page cache keeps what is hot), rescores them and
   keeps ``k × keep`` (``k`` for the last);
3. ``float32`` as the last tier rescores with the segment's own rows, so the scores are exact;
4. rows past the codes (the delta: appended since they were last extended) are scored exactly
   from the segment and merged in, so every committed write is visible.

``search(..., trace=[])`` appends one :class:`StageTrace` per stage: candidates in and out and
milliseconds, for ``explain``.
"""

from __future__ import annotations

import copy

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from vecnest.compress import memory, storage
from vecnest.store.rowio import RowReader, npy_offset, segment_reader
from vecnest.compress.codecs import Codec, Queries, Scanner
from vecnest.compress.spec import DEFAULT_KEEP, DEFAULT_RESCORE_MULTIPLIER, CodeKind, PipelineSpec, Scoring, TierSpec
from vecnest.errors import CompressionConfigError, InvalidInputError, TierIntegrityError
from vecnest.index.flat import FlatIndex
from vecnest.kernels.distance import score as dense_score
from vecnest.kernels.distance import squared_norms, top_k

#: Above this many (query × candidate) scores a rescoring stage scores query by query.
_BLOCK_SCORES = 1 << 22


class Candidates(Protocol):
    """A filter's matches as the snapshot's ``Match`` gives them."""

    mask: np.ndarray
    count: int

    @property
    def slots(self) -> np.ndarray: ...

    def packed(self, upto: int) -> np.ndarray: ...


@dataclass
class StageTrace:
    """What one stage of a search did (for ``explain``).

    Attributes:
        tier: the tier as written in the pipeline (``"delta"`` for the exact scan of new rows).
        where: ``"ram"``, ``"disk"`` (positioned reads of codes) or ``"segment"`` (float32 rows).
        rows_in: rows scanned (first tier, delta) or candidates rescored, summed over queries.
        rows_out: candidates kept, summed over queries.
        ms: wall-clock milliseconds.
    """

    tier: str
    where: str
    rows_in: int
    rows_out: int
    ms: float


class RowSet:
    """Sorted rows below ``upto`` with their count and packed bitmap, computed when first asked."""

    def __init__(self, upto: int, *, rows: np.ndarray | None = None, mask: np.ndarray | None = None, packed: Any = None, count: int | None = None) -> None:
        self.upto = upto
        self._rows = rows
        self._mask = mask
        self._packed = packed
        self.count = int(count if count is not None else (len(rows) if rows is not None else np.count_nonzero(mask)))  # type: ignore[arg-type]

    @property
    def rows(self) -> np.ndarray:
        if self._rows is None:
            assert self._mask is not None
            self._rows = np.flatnonzero(self._mask[: self.upto])
        return self._rows

    @property
    def bitmap(self) -> np.ndarray:
        if callable(self._packed):
            return self._packed(self.upto)
        if self._packed is None:
            if self._mask is not None:
                self._packed = np.packbits(self._mask[: self.upto], bitorder="little")
            else:
                mask = np.zeros(self.upto, dtype=bool)
                mask[self.rows] = True
                self._packed = np.packbits(mask, bitorder="little")
        return self._packed


class _Stage:
    """One tier of an open pipeline: its codec and where its codes come from."""

    def __init__(self, spec: TierSpec, codec: Codec | None, scanner: Scanner | None, reader: RowReader | None, where: str) -> None:
        self.spec = spec
        self.codec = codec
        self.scanner = scanner
        self.reader = reader
        self.where = where


class TieredIndex:
    """Search over one published tier state and a segment snapshot; see the module docstring.

    Args:
        directory: where the tier files are.
        manifest: the published state (see :func:`vecnest.compress.storage.build`).
        vectors: the segment's ``(n_slots, dim) float32`` map (``np.memmap``: float32 rows are
            read with positioned reads from its file; a plain array is indexed directly).
        alive: ``(n_slots,) bool`` live slots, or ``None`` if all are live.
        l2: score by negative squared L2 distance (must match the manifest).
        generation: the segment generation of ``vectors`` (must match the manifest's).

    Raises:
        TierIntegrityError: the manifest does not fit the segment or a file is unreadable.
    """

    def __init__(
        self,
        directory: Path,
        manifest: storage.TierManifest,
        vectors: np.ndarray,
        alive: np.ndarray | None,
        *,
        l2: bool,
        generation: int | None = None,
        segment_path: Path | None = None,
    ) -> None:
        n, dim = vectors.shape
        if manifest.dim != dim or manifest.l2 != l2 or manifest.upto > n or (generation is not None and generation != manifest.generation):
            raise TierIntegrityError(
                f"tiers {manifest.name} (dim {manifest.dim}, l2 {manifest.l2}, generation {manifest.generation}, {manifest.upto} rows) "
                f"do not match the segment (dim {dim}, l2 {l2}, generation {generation}, {n} rows); rebuild them"
            )
        self.directory = directory
        self.manifest = manifest
        self.spec: PipelineSpec = manifest.spec
        self.vectors = vectors
        self.alive = alive
        self.l2 = l2
        self.upto = manifest.upto
        self._lock = threading.Lock()
        self._alive_bits: np.ndarray | None = None
        self._sq_norms: np.ndarray | None = None
        self.segment_path = segment_path
        self._segment = segment_reader(vectors, segment_path)
        self.stages: list[_Stage] = []
        ram_key = self.spec.first.key
        for i, tier in enumerate(self.spec.tiers):
            if tier.code is CodeKind.FLOAT32:
                self.stages.append(_Stage(tier, None, None, None, "segment"))
                continue
            role = tier
            if tier.code is CodeKind.BINARY and tier.scoring is None:  # Hamming first, asymmetric after
                role = replace(tier, scoring=Scoring.HAMMING if i == 0 else Scoring.ASYM)
            codec = storage.load_codec(directory, manifest, str(role))
            stored = manifest.codes[tier.key]
            if i == 0:
                parts = [storage.read_part(directory, p, stored.code_size, mmap=True) for p in stored.parts]
                scanner = codec.scanner(parts, rows=self.upto, l2=l2)
                del parts
                self.stages.append(_Stage(tier, codec, scanner, None, "ram"))
            elif tier.key == ram_key:  # the same codes as the RAM tier, scored differently
                self.stages.append(_Stage(tier, codec, self.stages[0].scanner, None, "ram"))
            else:
                files = [(directory / p.file, npy_offset(directory / p.file), p.lo, p.hi) for p in stored.parts]
                reader = RowReader(files, stored.code_size, np.dtype(np.uint8), stored.code_size)
                self.stages.append(_Stage(tier, codec, None, reader, "disk"))

    def rebind(self, vectors: np.ndarray, alive: np.ndarray | None, segment_path: Path | None = None) -> TieredIndex:
        """The same tiers over a later snapshot of the same segment generation (more rows past
        the codes, other deletions): the codes, codecs and files are shared, nothing is read
        again (a write makes a new snapshot, which rebinds in microseconds)."""
        if vectors.shape[0] < self.upto or vectors.shape[1] != self.manifest.dim:
            raise TierIntegrityError(f"tiers {self.manifest.name} cover {self.upto} rows; the snapshot has {vectors.shape[0]}")
        view = copy.copy(self)
        view.vectors, view.alive = vectors, alive
        view.segment_path = segment_path or self.segment_path
        view._lock = threading.Lock()
        view._alive_bits = None
        view._sq_norms = None
        view._segment = segment_reader(vectors, view.segment_path)
        return view

    def close(self) -> None:
        """Close the files of disk tiers and of the segment."""
        for st in self.stages:
            if st.reader is not None:
                st.reader.close()
        if self._segment is not None:
            self._segment.close()

    # -- the pieces of a search ----------------------------------------------------------------

    def _float_rows(self, rows: np.ndarray) -> np.ndarray:
        if self._segment is not None:
            return self._segment.read(rows)
        return np.asarray(self.vectors[rows], dtype=np.float32)

    def _exact(self, queries: np.ndarray, rows: np.ndarray) -> np.ndarray:
        x = self._float_rows(rows)
        return dense_score(queries, x, l2=self.l2, vector_sq_norms=squared_norms(x) if self.l2 else None)

    def _coded_allowed(self, candidates: np.ndarray | Candidates | None) -> tuple[RowSet | None, np.ndarray]:
        """The coded rows a search may return (``None``: all) and the sorted delta rows."""
        n, upto = self.vectors.shape[0], self.upto
        if candidates is None:
            delta = np.arange(upto, n) if self.alive is None else upto + np.flatnonzero(self.alive[upto:n])
            if self.alive is None or bool(self.alive[:upto].all()):
                return None, delta
            with self._lock:
                if self._alive_bits is None:
                    self._alive_bits = np.packbits(self.alive[:upto], bitorder="little")
            return RowSet(upto, mask=self.alive, packed=self._alive_bits), delta
        if isinstance(candidates, np.ndarray):
            slots = np.asarray(candidates, dtype=np.int64)
            cut = int(np.searchsorted(slots, upto))
            return RowSet(upto, rows=slots[:cut]), slots[cut:]
        slots = candidates.slots
        cut = int(np.searchsorted(slots, upto))
        delta = slots[cut:]
        count = candidates.count - len(delta)
        return RowSet(upto, rows=slots[:cut], packed=candidates.packed, count=count), delta

    def _rescore(self, stage: _Stage, queries: np.ndarray, rows: np.ndarray, keep: int) -> tuple[np.ndarray, np.ndarray]:
        """Rescore per-query candidate ``rows`` (``(q, c) int64``, ``-1`` = none) with ``stage``
        (its codes from RAM or disk, or the float32 rows) and keep the best ``keep`` per query;
        each distinct row is read once per call."""
        valid = rows >= 0
        uniq, inverse = np.unique(rows[valid], return_inverse=True)
        where = np.full(rows.shape, -1, dtype=np.int64)
        where[valid] = inverse.ravel()
        codec = stage.codec
        if codec is None:
            data = self._float_rows(uniq)
            prepared: Any = queries

            def score(q: Any, x: np.ndarray) -> np.ndarray:
                return dense_score(q, x, l2=self.l2, vector_sq_norms=squared_norms(x) if self.l2 else None)

            def one(i: int) -> Any:
                return queries[i : i + 1]
        else:
            data = stage.scanner.codes[uniq] if stage.scanner is not None else stage.reader.read(uniq)  # type: ignore[union-attr]
            prepared = codec.queries(queries, l2=self.l2)

            def score(q: Any, x: np.ndarray) -> np.ndarray:
                return codec.score(q, x, l2=self.l2)

            def one(i: int) -> Any:
                return _sub(prepared, i)

        full = score(prepared, data) if len(queries) * len(uniq) <= _BLOCK_SCORES else None
        out_rows = np.full((len(queries), keep), -1, dtype=np.int64)
        out_scores = np.full((len(queries), keep), -np.inf, dtype=np.float32)
        for qi in range(len(queries)):
            pos = np.unique(where[qi][valid[qi]])  # a candidate listed twice is one result
            if not len(pos):
                continue
            s = full[qi, pos] if full is not None else score(one(qi), data[pos])[0]
            idx, best = top_k(np.asarray(s, dtype=np.float32).reshape(1, -1), keep)
            out_rows[qi, : idx.shape[1]] = uniq[pos[idx[0]]]
            out_scores[qi, : idx.shape[1]] = best[0]
        return out_scores, out_rows

    def _stages_for(self, tiers: Sequence[int] | None) -> list[int]:
        if tiers is None:
            return list(range(len(self.stages)))
        chosen = [int(t) for t in tiers]
        if not chosen or chosen[0] != 0 or any(b <= a for a, b in zip(chosen, chosen[1:], strict=False)) or chosen[-1] >= len(self.stages):
            raise InvalidInputError(f"tiers must be increasing indices into the pipeline {str(self.spec)!r} starting with 0 (the RAM tier); got {list(tiers)!r}")
        if self.stages[chosen[-1]].spec.code is CodeKind.BINARY:
            raise CompressionConfigError(f"tiers {chosen!r} end on a binary tier, which gives no usable scores; add a scoring tier of {str(self.spec)!r}")
        return chosen

    # -- the drop-in API ----------------------------------------------------------------------

    def search(
        self,
        queries: np.ndarray,
        k: int,
        candidates: np.ndarray | Candidates | None = None,
        *,
        rescore_multiplier: int | None = None,
        tiers: Sequence[int] | None = None,
        trace: list[StageTrace] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` slots for each query, as :meth:`FlatIndex.search`.

        Args:
            queries: ``(q, dim) float32`` (normalised already for cosine).
            k: results per query.
            candidates: sorted ``int64`` live slots a filter allows, a snapshot ``Match``, or
                ``None`` for every live slot.
            rescore_multiplier: the first tier keeps ``k × this`` candidates (default: the
                pipeline's ``@keep`` of its first tier, else 10).
            tiers: indices of the tiers to run (``0`` first; default all).
            trace: a list to which one :class:`StageTrace` per stage is appended.

        Returns:
            ``(q, k) int64`` slots and ``(q, k) float32`` scores, best first; ``-1`` / ``-inf``
            where there are fewer than ``k`` results.
        """
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        used = self._stages_for(tiers)
        if self.stages[0].codec is None:  # 'float32' alone: the exact scan
            t = time.perf_counter()
            slots, best = FlatIndex(self.vectors, self.alive, l2=self.l2, path=self.segment_path).search(queries, k, candidates)
            _note(trace, "float32", "segment", len(queries) * self.vectors.shape[0], slots, t)
            return slots, best
        allowed, delta = self._coded_allowed(candidates)
        first = self.stages[0]
        mult = rescore_multiplier or first.spec.keep or DEFAULT_RESCORE_MULTIPLIER
        if rescore_multiplier is not None and (isinstance(rescore_multiplier, bool) or not isinstance(rescore_multiplier, int) or rescore_multiplier < 1):
            raise InvalidInputError(f"rescore_multiplier must be a positive int; got {rescore_multiplier!r}")
        nq = len(queries)
        scores = np.full((nq, 0), -np.inf, dtype=np.float32)
        rows = np.full((nq, 0), -1, dtype=np.int64)
        if self.upto and (allowed is None or allowed.count):
            keep = k if len(used) == 1 else k * mult
            t = time.perf_counter()
            assert first.scanner is not None and first.codec is not None
            scores, rows = first.scanner.scan(first.codec.queries(queries, l2=self.l2), keep, allowed)
            _note(trace, str(first.spec), first.where, nq * (self.upto if allowed is None else allowed.count), rows, t)
            for j, i in enumerate(used[1:], start=2):
                st = self.stages[i]
                keep = k if j == len(used) else k * (st.spec.keep or DEFAULT_KEEP)
                t = time.perf_counter()
                n_in = int(np.count_nonzero(rows >= 0))
                scores, rows = self._rescore(st, queries, rows, keep)
                _note(trace, str(st.spec), st.where, n_in, rows, t)
        if len(delta):
            t = time.perf_counter()
            d_scores = self._exact(queries, delta)
            d_idx, d_best = top_k(d_scores, k)
            rows = np.concatenate([rows, delta[d_idx]], axis=1)
            scores = np.concatenate([scores, d_best], axis=1)
            _note(trace, "delta", "segment", nq * len(delta), d_idx, t)
        return _final(scores, rows, k)

    def rescore(self, queries: np.ndarray, candidates: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` among per-query candidate slots (``(q, c) int64``, ``-1`` = none) by the
        pipeline's last tier (exact scores when it is ``float32``), as :meth:`FlatIndex.rescore`."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        stage = self.stages[-1]
        cand = np.asarray(candidates, dtype=np.int64)
        if stage.codec is None:
            scores, rows = self._rescore(stage, queries, cand, k)
            return _final(scores, rows, k)
        scores, rows = self._rescore(stage, queries, np.where(cand < self.upto, cand, -1), k)
        if (cand >= self.upto).any():  # rows past the codes: exact
            s2, r2 = self._rescore(_EXACT, queries, np.where(cand >= self.upto, cand, -1), k)
            scores, rows = np.concatenate([scores, s2], axis=1), np.concatenate([rows, r2], axis=1)
        return _final(scores, rows, k)

    # -- memory -------------------------------------------------------------------------------

    def memory(self) -> dict[str, dict[str, Any]]:
        """Bytes by component. Per stored code: ``where`` it is read from, ``bytes_per_vector``
        (code size), ``ram_resident`` (the RAM tier's codes, measured with ``mincore``; 0 for
        disk tiers, which are never mapped), ``page_cache`` (how much of its files the OS
        caches, measured), ``disk``, and ``fixed_ram`` (its fitted arrays: the transform the
        queries go through, centroids, ranges). For ``float32``: the process's resident share of
        the segment mapping (``/proc/self/smaps``), its page-cache share, and its size."""
        out: dict[str, dict[str, Any]] = {}
        disk = self.manifest.disk_bytes()
        for st in self.stages:
            key = st.spec.key
            if key in out:
                continue
            if st.codec is None:
                n, d = self.vectors.shape
                path = Path(self.vectors.filename) if isinstance(self.vectors, np.memmap) and self.vectors.filename else self.segment_path
                out["float32"] = {
                    "where": "segment",
                    "bytes_per_vector": 4 * d,
                    "ram_resident": memory.mapped_rss([path]).get(str(path.resolve()), 0) if path else int(self.vectors.nbytes),
                    "page_cache": memory.page_cache_bytes(path) if path else None,
                    "disk": 4 * d * n,
                    "fixed_ram": 0,
                }
                continue
            stored = self.manifest.codes[key]
            cached = [memory.page_cache_bytes(self.directory / p.file) for p in stored.parts]
            out[key] = {
                "where": st.where,
                "bytes_per_vector": stored.code_size,
                "ram_resident": (memory.resident_bytes(st.scanner.codes) or 0) if st.where == "ram" and st.scanner is not None else 0,
                "page_cache": None if any(c is None for c in cached) else sum(c or 0 for c in cached),
                "disk": disk[key],
                "fixed_ram": int(sum(a.nbytes for a in st.codec.arrays().values())),
            }
        return out

    def ram_bytes_per_vector(self) -> float:
        """Measured resident bytes of the RAM tier's codes per coded row."""
        return sum(c["ram_resident"] for c in self.memory().values() if c["where"] == "ram") / max(self.upto, 1)

    def fixed_ram_bytes(self) -> int:
        """Bytes of every tier's fitted arrays (held in RAM whatever the row count)."""
        return sum(c["fixed_ram"] for c in self.memory().values())


_EXACT = _Stage(TierSpec(CodeKind.FLOAT32), None, None, None, "segment")


def _sub(qs: Queries, i: int) -> Queries:
    return Queries(qs.mapped[i : i + 1], qs.offset[i : i + 1], None if qs.bits is None else qs.bits[i : i + 1])


def _note(trace: list[StageTrace] | None, tier: str, where: str, rows_in: int, rows_out: np.ndarray, t0: float) -> None:
    if trace is not None:
        trace.append(StageTrace(tier, where, int(rows_in), int(np.count_nonzero(rows_out >= 0)), (time.perf_counter() - t0) * 1e3))


def _final(scores: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` per query, padded with ``-1`` / ``-inf``; returns ``(slots, scores)``."""
    nq = len(rows)
    scores = np.where(rows >= 0, scores, -np.inf).astype(np.float32, copy=False)
    out_rows = np.full((nq, k), -1, dtype=np.int64)
    out_scores = np.full((nq, k), -np.inf, dtype=np.float32)
    if rows.shape[1]:
        idx, best = top_k(scores, k)
        picked = np.take_along_axis(rows, idx, axis=1)
        picked[~np.isfinite(best)] = -1
        out_rows[:, : idx.shape[1]] = picked
        out_scores[:, : idx.shape[1]] = best
    return out_rows, out_scores


def open_tiers(
    directory: Path, name: str, vectors: np.ndarray, alive: np.ndarray | None, *, l2: bool,
    generation: int | None = None, segment_path: Path | None = None,
) -> TieredIndex:
    """Open the published tier state ``name`` in ``directory`` over a segment snapshot
    (``segment_path``: the segment's file, read with positioned reads when ``vectors`` maps it
    without being an ``np.memmap``)."""
    return TieredIndex(directory, storage.read_manifest(directory, name), vectors, alive, l2=l2, generation=generation, segment_path=segment_path)
