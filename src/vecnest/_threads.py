"""Thread control for the BLAS behind numpy during single-query scoring.

One query against a few thousand rows is a matrix-vector product: waking a BLAS thread team costs
more than it saves, and on a busy machine spinning threads make it 10x slower (measured on the
2-core CI machine: 13 ms with 2 threads vs 1 ms with 1 for 6,000 x 384). Small batches therefore
run on one BLAS thread; large batches keep the library's own setting.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

# OpenMP threads that spin while idle steal the CPU from the next query on small machines;
# passive waiting costs nothing measurable on a quiet one. Set before FAISS is first imported
# (every vecnest module imports this one first); a value the user has set is respected.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

#: Query batches smaller than this are scored on one BLAS thread.
PARALLEL_MIN_QUERIES = 16
_lock = threading.Lock()


@lru_cache(maxsize=1)
def _blas() -> Any:
    from threadpoolctl import ThreadpoolController

    libs = [c for c in ThreadpoolController().lib_controllers if c.user_api == "blas"]
    return libs[0] if libs else None


@contextmanager
def blas_threads_for(n_queries: int) -> Iterator[None]:
    """Run the block on one BLAS thread when ``n_queries`` is small."""
    lib = _blas() if n_queries < PARALLEL_MIN_QUERIES else None
    if lib is None:
        yield
        return
    with _lock:
        before = lib.get_num_threads()
        lib.set_num_threads(1)
        try:
            yield
        finally:
            lib.set_num_threads(before)


@lru_cache(maxsize=1)
def _faiss_limit() -> int:
    return int(os.environ.get("VECNEST_FAISS_THREADS", "0")) or len(os.sched_getaffinity(0))


def faiss_threads_for(n_queries: int | None = None) -> None:
    """Set FAISS's OpenMP threads: one for small query batches, all (or
    ``VECNEST_FAISS_THREADS``, read once) for builds and large batches."""
    import faiss

    small = n_queries is not None and n_queries < PARALLEL_MIN_QUERIES
    faiss.omp_set_num_threads(1 if small else _faiss_limit())
