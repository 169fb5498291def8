"""ANN structures over a tier's codes, against the flat scans of the same codes (issue 10:
"measure which pairs are worth having"). Imported by ``benchmarks/compress.py``.

Pairs measured, each followed by the same float32 rescoring of ``k × 10`` candidates:

- binary codes (centred sign bits): flat Hamming scan vs FAISS ``IndexBinaryIVF`` (nprobe sweep);
- int8 codes (``QT_8bit``): flat ``IndexScalarQuantizer`` scan vs ``IndexHNSWSQ`` (efSearch
  sweep; built only below 200k rows: a 1M single-thread build takes tens of minutes here).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from _compress_points import Point
from rich.console import Console

import faiss
from vecnest.compress.codecs import Codec
from vecnest.store.rowio import read_rows
from vecnest.compress.spec import parse_tier
from vecnest.compress.tune import Judge
from vecnest.index.flat import FlatIndex

MULT = 10
HNSW_MAX_ROWS = 200_000


def _recall(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    return float(np.mean([len(set(f[f >= 0].tolist()) & set(t.tolist())) / k for f, t in zip(found, truth, strict=True)]))


def _timed(fn: Any, queries: np.ndarray, n: int) -> float:
    times = []
    for q in queries[:n]:
        t = time.perf_counter()
        fn(q[None])
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1e3)


def ann_over_codes(point: Point, judge: Judge, flat: FlatIndex, work: Path, k: int, console: Console, timed: int = 30) -> list[dict[str, Any]]:
    """Recall@k (after float32 rescoring) and single-query latency of each structure."""
    faiss.omp_set_num_threads(1)
    vec = point.vectors()
    n, d = vec.shape
    rng = np.random.default_rng(0)
    sample_rows = np.sort(rng.choice(n, size=min(n, 65_536), replace=False))
    sample = read_rows(vec, sample_rows)
    truth = judge.truth
    queries = judge.queries
    out: list[dict[str, Any]] = []

    def rescored(cand: np.ndarray) -> np.ndarray:
        return flat.rescore(queries, cand, k)[0]

    # binary: flat Hamming vs IVF
    codec = Codec.fit(parse_tier("binary"), sample, rng)
    codes = np.concatenate([codec.encode(read_rows(vec, lo=a, hi=min(n, a + 65_536))) for a in range(0, n, 65_536)])
    qbits = codec.queries(queries, l2=False).bits
    flat_bin = faiss.IndexBinaryFlat(d)
    flat_bin.add(codes)
    _, cand = flat_bin.search(qbits, k * MULT)
    base_ms = _timed(lambda q: flat_bin.search(codec.queries(q, l2=False).bits, k * MULT), queries, timed)
    out.append({"codes": f"binary ({d // 8} B)", "structure": "flat Hamming scan", "knob": None, "recall@10_after_float32": _recall(rescored(cand), truth, k), "first_stage_ms": base_ms, "extra_ram_bytes_per_vector": 0.0, "build_s": 0.0})
    nlist = int(2 ** round(np.log2(4 * np.sqrt(n))))
    t = time.perf_counter()
    ivf = faiss.IndexBinaryIVF(faiss.IndexBinaryFlat(d), d, nlist)
    ivf.train(codec.encode(sample))
    ivf.add(codes)
    build = time.perf_counter() - t
    for nprobe in (4, 16, 64):
        ivf.nprobe = nprobe
        _, cand = ivf.search(qbits, k * MULT)
        ms = _timed(lambda q, ivf=ivf: ivf.search(codec.queries(q, l2=False).bits, k * MULT), queries, timed)
        out.append({"codes": f"binary ({d // 8} B)", "structure": f"IndexBinaryIVF nlist={nlist}", "knob": f"nprobe={nprobe}", "recall@10_after_float32": _recall(rescored(cand), truth, k), "first_stage_ms": ms, "speedup_vs_flat": base_ms / ms, "extra_ram_bytes_per_vector": 8.0, "build_s": build})
    console.log(f"{point.name}: binary IVF over codes measured")
    del flat_bin, ivf

    # int8: flat SQ scan vs HNSW-SQ
    sq = faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
    sq.train(sample)
    for a in range(0, n, 65_536):
        sq.add(read_rows(vec, lo=a, hi=min(n, a + 65_536)))
    _, cand = sq.search(queries, k * 4)
    base_ms = _timed(lambda q: sq.search(q, k * 4), queries, timed)
    out.append({"codes": f"int8 ({d} B)", "structure": "flat IndexScalarQuantizer scan", "knob": None, "recall@10_after_float32": _recall(rescored(cand), truth, k), "first_stage_ms": base_ms, "extra_ram_bytes_per_vector": 0.0, "build_s": 0.0})
    del sq
    if n <= HNSW_MAX_ROWS:
        t = time.perf_counter()
        hnsw = faiss.IndexHNSWSQ(d, faiss.ScalarQuantizer.QT_8bit, 32, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = 80
        hnsw.train(sample)
        for a in range(0, n, 65_536):
            hnsw.add(read_rows(vec, lo=a, hi=min(n, a + 65_536)))
        build = time.perf_counter() - t
        for ef in (32, 64, 128):
            hnsw.hnsw.efSearch = ef
            _, cand = hnsw.search(queries, k * 4)
            ms = _timed(lambda q, h=hnsw: h.search(q, k * 4), queries, timed)
            out.append({"codes": f"int8 ({d} B)", "structure": "IndexHNSWSQ M=32", "knob": f"efSearch={ef}", "recall@10_after_float32": _recall(rescored(cand), truth, k), "first_stage_ms": ms, "speedup_vs_flat": base_ms / ms, "extra_ram_bytes_per_vector": 32 * 2 * 4.0, "build_s": build})
        console.log(f"{point.name}: HNSW over int8 measured (build {build:.0f} s)")
    return out
