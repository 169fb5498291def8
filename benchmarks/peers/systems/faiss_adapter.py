"""FAISS (``faiss-cpu``) used directly: ``IndexFlatIP`` (exact), ``IndexHNSWFlat`` (M=32, the
library's default efConstruction=40, knob ``efSearch``) and ``IndexIVFPQ`` wrapped in
``IndexRefineFlat`` (knobs ``nprobe`` and ``k_factor``; ``k_factor=1`` is plain IVF-PQ).

FAISS has no metadata store: per query, the predicate is evaluated with numpy over in-memory
attribute columns and passed as ``IDSelectorBitmap`` through ``SearchParameters*(sel=…)``. That
evaluation is inside the timed query, since an application has to do it for every query.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from peers.predicates import Columns, Pred
from peers.systems import System, tree_bytes


class _Faiss(System):
    family = "faiss"
    distributions = ("faiss-cpu",)
    needs_metas = False
    filter_note = "numpy mask over attribute columns → faiss.IDSelectorBitmap via SearchParameters(sel=...), timed per query"

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

    def _make(self, base: np.ndarray) -> Any:
        raise NotImplementedError

    def _info(self) -> dict[str, Any]:
        return {}

    def _selector(self, pred: Pred | None) -> tuple[Any, Any]:
        import faiss

        if not pred:
            return None, None
        mask = self.cols.mask(pred)
        bits = np.packbits(mask, bitorder="little")
        return faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits)), bits  # keep bits alive

    def _params(self, sel: Any) -> Any:
        raise NotImplementedError

    def search(self, q: np.ndarray, k: int, flt: Any) -> np.ndarray:
        sel, _keep = self._selector(flt)
        params = self._params(sel)
        _, idx = self.index.search(q[None, :], k, params=params)
        row = idx[0]
        return row[row >= 0].astype(np.int64)

    def disk_bytes(self) -> int | None:
        return tree_bytes(self.workdir / "index.faiss")


class FaissFlat(_Faiss):
    name = "faiss-flat"
    exact = True

    def settings(self) -> dict[str, Any]:
        return {"index": "IndexFlatIP(d)"}

    def _make(self, base: np.ndarray) -> Any:
        import faiss

        index = faiss.IndexFlatIP(self.dim)
        index.add(base)
        return index

    def _params(self, sel: Any) -> Any:
        import faiss

        return faiss.SearchParameters(sel=sel) if sel is not None else None


class FaissHnsw(_Faiss):
    name = "faiss-hnsw"
    M = 32

    def settings(self) -> dict[str, Any]:
        return {"index": f"IndexHNSWFlat(d, {self.M}, METRIC_INNER_PRODUCT)", "efConstruction": 40, "knob": "efSearch (SearchParametersHNSW)"}

    def _make(self, base: np.ndarray) -> Any:
        import faiss

        index = faiss.IndexHNSWFlat(self.dim, self.M, faiss.METRIC_INNER_PRODUCT)
        index.add(base)
        return index

    def knobs(self) -> list[dict[str, Any]]:
        return [{"efSearch": v} for v in (16, 32, 64, 128, 256)]

    def _params(self, sel: Any) -> Any:
        import faiss

        ef = int(self.knob.get("efSearch", 16))
        return faiss.SearchParametersHNSW(sel=sel, efSearch=ef) if sel is not None else faiss.SearchParametersHNSW(efSearch=ef)


class FaissIvfPq(_Faiss):
    name = "faiss-ivfpq"

    def _shape(self) -> tuple[int, int, int]:
        """(nlist, pq_m, training points): nlist = 4√n rounded to a power of two (the FAISS
        guideline 4√n…16√n, capped at 2,048 so training fits the time budget at 1M), 8 dims per
        PQ sub-quantizer, 50 training points per list."""
        nlist = 2 ** round(math.log2(max(16.0, 4 * math.sqrt(self.n))))
        nlist = min(nlist, 2048)
        pq_m = self.dim // 8
        return nlist, pq_m, min(self.n, 50 * nlist)

    def settings(self) -> dict[str, Any]:
        nlist, pq_m, ntrain = self._shape()
        return {
            "index": f"IndexRefineFlat(IndexIVFPQ(IndexFlatIP(d), d, nlist={nlist}, M={pq_m}, nbits=8, METRIC_INNER_PRODUCT))",
            "training_points": ntrain,
            "knobs": "nprobe (SearchParametersIVF), k_factor (IndexRefineSearchParameters; 1 = plain IVF-PQ)",
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
        plain = [{"nprobe": p, "k_factor": 1} for p in (4, 16, 64)]
        refined = [{"nprobe": p, "k_factor": 4} for p in (8, 16, 32, 64, 128)]
        return plain + refined

    def _params(self, sel: Any) -> Any:
        import faiss

        nprobe = int(self.knob.get("nprobe", 16))
        base = faiss.SearchParametersIVF(sel=sel, nprobe=nprobe) if sel is not None else faiss.SearchParametersIVF(nprobe=nprobe)
        params = faiss.IndexRefineSearchParameters(k_factor=float(self.knob.get("k_factor", 1)), base_index_params=base)
        params._base = base  # keep alive
        return params
