"""FAISS (``faiss-cpu``) used directly, the way its wiki describes:

* ``faiss-flat``       — ``IndexFlatIP`` (exact).
* ``faiss-hnsw``       — ``IndexHNSWFlat(d, M=32)``, ``efConstruction=128``; knob ``efSearch``.
* ``faiss-hnsw-fp16``  — ``IndexHNSWSQ(d, QT_fp16, M=32)``, the same graph over float16 vectors:
  the structure vecnest's HNSW uses (``IndexConfig.graph_vectors="float16"``).
* ``faiss-ivfpq``      — ``IndexRefineFlat(IndexIVFPQ(nlist=4·√n, M=d/8, 8 bits))`` with
  ``k_factor=10``: vecnest's IVF-PQ shape and rescoring depth; knob ``nprobe``.

FAISS has no metadata store. An application keeps its attributes elsewhere and caches the filter
it runs repeatedly: here the predicate is evaluated once per workload (numpy over the attribute
columns, outside the timed loop) into a packed bitmap behind an ``IDSelectorBitmap``, and the
``SearchParameters`` object of each (filter, effort) is built once and reused — the same caching
vecnest does for its own filter bitmaps and search parameters. Queries go through ``search_c``,
the SWIG entry point vecnest itself calls (the Python ``search`` wrapper only adds argument checks
and allocations).

CHANGES (issue 11): graph parameters M=32/efConstruction=128 (were FAISS's default
efConstruction=40); fp16 ``IndexHNSWSQ`` variant added; filter bitmap cached per workload (was
rebuilt inside every timed query); IVF-PQ with vecnest's nlist/M and k_factor=10 (was a
power-of-two nlist and k_factor 1 or 4); finer effort grids, swept per workload.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from peers.predicates import Columns, Pred
from peers.systems import EF_GRID, HNSW_EF_CONSTRUCTION, HNSW_M, NPROBE_GRID, RESCORE_MULTIPLIER, System, ivf_nlist, tree_bytes


class _Filter:
    """A workload's cached filter: the packed bitmap and the selector that reads it."""

    def __init__(self, mask: np.ndarray) -> None:
        import faiss

        self.bits = np.packbits(mask, bitorder="little")  # kept alive: the selector points into it
        self.sel = faiss.IDSelectorBitmap(len(self.bits), faiss.swig_ptr(self.bits))
        self.count = int(mask.sum())


class _Faiss(System):
    family = "faiss"
    distributions = ("faiss-cpu",)
    needs_metas = False
    filter_note = "numpy mask over the attribute columns, computed once per workload (untimed) → packed bitmap → IDSelectorBitmap in cached SearchParameters"

    @classmethod
    def check(cls) -> None:
        import faiss  # noqa: F401

    def build(self, base: np.ndarray, metas: list[dict[str, Any]] | None, cols: Columns | None) -> dict[str, Any]:
        import faiss

        faiss.omp_set_num_threads(self.build_threads)
        self.cols = cols
        self.index = self._make(base)
        faiss.omp_set_num_threads(1)
        faiss.write_index(self.index, str(self.workdir / "index.faiss"))
        return self._info()

    def open(self, cols: Columns | None) -> dict[str, Any]:
        import faiss

        faiss.omp_set_num_threads(1)
        self.cols = cols
        self.index = faiss.read_index(str(self.workdir / "index.faiss"))
        self._after_open()
        return {"read_index": "faiss.read_index (whole index in RAM)"}

    def _after_open(self) -> None:
        """Re-attach what ``read_index`` does not restore (nothing for most indexes)."""

    def _make(self, base: np.ndarray) -> Any:
        raise NotImplementedError

    def _info(self) -> dict[str, Any]:
        return {}

    def prepare_filter(self, pred: Pred | None) -> Any:
        if not pred:
            return None
        return _Filter(self.cols.mask(pred))

    def ready(self, flt: Any) -> None:
        """Build the ``SearchParameters`` of this (filter, effort) before the timed loop."""
        self._current = self._params_for(flt)

    def _params_for(self, flt: _Filter | None) -> Any:
        cache = self.__dict__.setdefault("_params", {})
        key = (id(flt), tuple(sorted(self.knob.items())))
        params = cache.get(key)
        if params is None:
            params = cache[key] = (self._make_params(flt.sel if flt is not None else None), flt)  # flt kept alive
        return params[0]

    def _make_params(self, sel: Any) -> Any:
        raise NotImplementedError

    def search(self, q: np.ndarray, k: int, flt: Any) -> np.ndarray:
        import faiss

        dist = np.empty((1, k), dtype=np.float32)
        labels = np.empty((1, k), dtype=np.int64)
        self.index.search_c(1, faiss.swig_ptr(q), k, faiss.swig_ptr(dist), faiss.swig_ptr(labels), self._current)
        return labels[0]

    def ids(self, res: Any) -> np.ndarray:
        return res[res >= 0]  # (FAISS pads a short list with -1)

    def disk_bytes(self) -> int | None:
        return tree_bytes(self.workdir / "index.faiss")


class FaissFlat(_Faiss):
    name = "faiss-flat"
    exact = True

    def settings(self) -> dict[str, Any]:
        return {"index": "IndexFlatIP(d)", "query": "index.search_c(1, q, 10, D, I, SearchParameters(sel=cached IDSelectorBitmap))"}

    def _make(self, base: np.ndarray) -> Any:
        import faiss

        index = faiss.IndexFlatIP(self.dim)
        index.add(base)
        return index

    def _make_params(self, sel: Any) -> Any:
        import faiss

        return faiss.SearchParameters(sel=sel) if sel is not None else None


class FaissHnsw(_Faiss):
    name = "faiss-hnsw"
    knob_name = "efSearch"

    def settings(self) -> dict[str, Any]:
        return {
            "index": f"IndexHNSWFlat(d, M={HNSW_M}, METRIC_INNER_PRODUCT)",
            "efConstruction": HNSW_EF_CONSTRUCTION,
            "knob": f"efSearch (SearchParametersHNSW), grid {list(EF_GRID)}",
        }

    def _new_index(self) -> Any:
        import faiss

        return faiss.IndexHNSWFlat(self.dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)

    def _make(self, base: np.ndarray) -> Any:
        index = self._new_index()
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.add(base)
        return index

    def knobs(self) -> list[dict[str, Any]]:
        return [{"efSearch": v} for v in EF_GRID]

    def _make_params(self, sel: Any) -> Any:
        import faiss

        ef = int(self.knob.get("efSearch", 16))
        return faiss.SearchParametersHNSW(sel=sel, efSearch=ef) if sel is not None else faiss.SearchParametersHNSW(efSearch=ef)


class FaissHnswFp16(FaissHnsw):
    name = "faiss-hnsw-fp16"

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "index": f"IndexHNSWSQ(d, ScalarQuantizer.QT_fp16, M={HNSW_M}, METRIC_INNER_PRODUCT) (vecnest's HNSW structure)"}

    def _new_index(self) -> Any:
        import faiss

        return faiss.IndexHNSWSQ(self.dim, faiss.ScalarQuantizer.QT_fp16, HNSW_M, faiss.METRIC_INNER_PRODUCT)


class FaissIvfPq(_Faiss):
    name = "faiss-ivfpq"
    knob_name = "nprobe"

    def _shape(self) -> tuple[int, int, int]:
        """(nlist, pq_m, training points): vecnest's IVF-PQ defaults — nlist = 4√n, 8 dims per
        PQ sub-quantizer (48 bytes per code at d=384), 64 training points per cell."""
        nlist = ivf_nlist(self.n)
        pq_m = self.dim // 8
        return nlist, pq_m, min(self.n, 64 * nlist)

    def settings(self) -> dict[str, Any]:
        nlist, pq_m, ntrain = self._shape()
        return {
            "index": f"IndexRefineFlat(IndexIVFPQ(IndexFlatIP(d), d, nlist={nlist}, M={pq_m}, nbits=8, METRIC_INNER_PRODUCT))",
            "training_points": ntrain,
            "k_factor": RESCORE_MULTIPLIER,
            "knob": f"nprobe (SearchParametersIVF inside IndexRefineSearchParameters(k_factor={RESCORE_MULTIPLIER})), grid {list(NPROBE_GRID)}",
        }

    def _make(self, base: np.ndarray) -> Any:
        import faiss

        nlist, pq_m, ntrain = self._shape()
        quantizer = faiss.IndexFlatIP(self.dim)
        ivf = faiss.IndexIVFPQ(quantizer, self.dim, nlist, pq_m, 8, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(0)
        sample = base[np.sort(rng.choice(len(base), size=ntrain, replace=False))] if ntrain < len(base) else base
        ivf.train(sample)
        index = faiss.IndexRefineFlat(ivf)
        index.add(base)
        self._ivf, self._quantizer = ivf, quantizer  # keep the wrapped objects alive
        return index

    def knobs(self) -> list[dict[str, Any]]:
        nlist = ivf_nlist(self.n)
        return [{"nprobe": p} for p in NPROBE_GRID if p <= nlist]

    def _make_params(self, sel: Any) -> Any:
        import faiss

        nprobe = int(self.knob.get("nprobe", 16))
        base = faiss.SearchParametersIVF(sel=sel, nprobe=nprobe) if sel is not None else faiss.SearchParametersIVF(nprobe=nprobe)
        params = faiss.IndexRefineSearchParameters(k_factor=float(RESCORE_MULTIPLIER), base_index_params=base)
        params._base = base  # keep alive; the base search applies the selector, refine re-ranks
        return params
