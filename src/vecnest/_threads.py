"""Thread counts of the native libraries, scoped to vecnest's own threads.

vecnest never changes a process-wide setting (environment variables, a BLAS or OpenMP pool size)
in a thread it does not own: single queries are scored through FAISS code paths that run on the
calling thread alone (FAISS parallelises over queries, and one query makes no thread team), and
large batches use the libraries' own defaults, as the host configured them.

Its background maintenance thread (index merges) is vecnest's own: there, OpenMP's thread count
is set for that thread only (``omp_set_num_threads`` sets the calling thread's ICV; other
threads' parallel regions are unaffected), so a merge leaves cores to the searches.
"""

from __future__ import annotations

import os
from functools import lru_cache

#: Query batches smaller than this are scored one query at a time by FAISS's SIMD kernels
#: (no thread team, no BLAS); larger ones use BLAS matrix products.
PARALLEL_MIN_QUERIES = 16


@lru_cache(maxsize=1)
def cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def maintenance_threads() -> int:
    """OpenMP threads of the maintenance thread's merges: one core is left to searches."""
    return max(1, cores() - 1)


def limit_this_thread(n: int) -> None:
    """Let FAISS parallel regions started *from the calling thread* use ``n`` threads.

    Only for threads vecnest created (its maintenance worker)."""
    import faiss

    faiss.omp_set_num_threads(max(1, n))


class FewQueries:
    """``with FewQueries(n):`` around a FAISS call: for fewer than :data:`PARALLEL_MIN_QUERIES`
    queries, the *calling thread's* OpenMP team size is 1 during the call and restored after.

    FAISS opens a parallel region even for one query (HNSW search): waking a thread team costs
    more than the search itself, and on a busy machine far more (measured on 2 cores under
    load: 3-6 ms vs 0.1 ms per HNSW query). ``omp_set_num_threads`` sets the calling thread's
    own ICV, so no other thread of the host is affected, and the value is restored.
    """

    __slots__ = ("_before", "_small")

    def __init__(self, n_queries: int) -> None:
        self._small = n_queries < PARALLEL_MIN_QUERIES
        self._before = 0

    def __enter__(self) -> None:
        if self._small:
            before = _omp_get()
            if before != 1:
                self._before = before
                _omp_set(1)

    def __exit__(self, *exc: object) -> None:
        if self._before:
            _omp_set(self._before)


def _faiss_omp() -> tuple[object, object]:
    from faiss import _swigfaiss  # the SWIG functions themselves: no Python wrapper per call

    return _swigfaiss.omp_get_max_threads, _swigfaiss.omp_set_num_threads


_omp_get, _omp_set = _faiss_omp()
#: The calling thread's OpenMP team size, and the call that sets it (the SWIG functions: the one
#: query hot path, ``AnnIndex._one``, does what :class:`FewQueries` does without the object).
omp_max_threads, omp_set_threads = _omp_get, _omp_set
