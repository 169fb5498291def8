"""Approximate indexes through FAISS: HNSW, IVF-Flat and IVF-PQ, labelled by slot.

Labels are the collection's slots, so deletions are a bitmap over slots (an ``IDSelectorBitmap``)
and filters are the same bitmap ANDed with the filter's mask. Fresh rows not yet in the index are
searched exactly by the caller and merged here later with :meth:`AnnIndex.add`.
"""

from __future__ import annotations

import math
import threading
import os
import stat
import weakref
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from vecnest._threads import FewQueries, omp_max_threads, omp_set_threads
from vecnest.config import IndexConfig, IndexKind, auto_pq_m
from vecnest.errors import CorruptStoreError
from vecnest.store.files import publish
from vecnest.store.pagecache import fill, fill_fd
from vecnest.store.rowio import block_rows, blocks, gather

#: In-place mapping of compatible structures (FAISS >= 1.10), else classic mmap.
_MMAP_FLAGS = getattr(faiss, "IO_FLAG_MMAP_IFC", faiss.IO_FLAG_MMAP)
_ID_MAPS = (faiss.IndexIDMap, faiss.IndexIDMap2)


#: The SWIG function itself (no Python wrapper per call) where this FAISS build exposes it; builds
#: that load a per-CPU variant module (``swigfaiss_avx2`` ...) fall back to the public wrapper.
_ptr = getattr(getattr(faiss, "_swigfaiss", None), "swig_ptr", faiss.swig_ptr)


#: Index files at least this large are loaded when a search first needs them, not when a
#: snapshot names them (:meth:`AnnIndex.open`): a first search the planner answers exactly (a
#: selective filter, or one whose effort is still being learned) then never reads the file
#: (75k HNSW, 78 MB, cold: ~50-90 ms of reading in order, ~350 ms through page faults).
#: Smaller files load at once, as cheap as the bookkeeping, and are checked there.
LAZY_BYTES = 16 << 20
#: Where a file descriptor can be opened by name (FAISS reads by name): a file a merge unlinks
#: after a snapshot named it still loads through the descriptor the snapshot holds.
_FD_DIR = Path("/proc/self/fd")
#: The attributes a lazily opened index gains when it loads (see :meth:`AnnIndex.__getattr__`),
#: and that a promotion swaps (see :meth:`AnnIndex.adopt`).
_LOADED = frozenset({"index", "_stats", "_slot_of", "_graph"})


class IndexUnusable(CorruptStoreError):
    """An index file opened lazily (see :meth:`AnnIndex.open`) proved damaged when a search
    first needed it: the caller marks it damaged and searches again, exactly."""

    def __init__(self, name: str, why: str) -> None:
        super().__init__(f"index file {name} is damaged: {why}")
        self.name = name
        self.why = why


def _metric(l2: bool) -> int:
    return faiss.METRIC_L2 if l2 else faiss.METRIC_INNER_PRODUCT


class AnnIndex:
    """A FAISS index whose labels are slots.

    Args:
        index: the FAISS index (an ``IndexIDMap`` around HNSW — or ``IndexIDMap2`` in files
            written before — or an IVF index).
        config: the collection's index parameters.
        l2: FAISS returns squared distances for L2 (negated here so higher is better).
    """

    #: The file this index was opened lazily from (``None``: built, or loaded at once).
    file: str | None = None

    def __init__(self, index: faiss.Index, config: IndexConfig, *, l2: bool) -> None:
        self.index = index
        self.config = config
        self.l2 = l2
        # unfiltered search parameters by effort: built once (a SWIG object costs microseconds
        # per query) and only read by FAISS, so threads may share them
        self._params: dict[int, faiss.SearchParameters] = {}
        self._hnsw = config.kind is IndexKind.HNSW
        self._stats = faiss.cvar.hnsw_stats if self._hnsw else faiss.cvar.indexIVF_stats
        # a graph inside an IndexIDMap is searched directly under a filter, with the filter's
        # bits permuted to graph positions once per filter: IndexIDMap would translate every
        # candidate the walk meets through its id map (5-9 % of a filtered search on 74k arXiv
        # titles); the k labels are translated back here
        self._slot_of: np.ndarray | None = None  # slot of each graph position, then -1 (for label -1)
        self._set_positions()

    def _set_positions(self) -> None:
        outer = faiss.downcast_index(self.index)
        direct_search_c = None
        if self._hnsw and isinstance(outer, _ID_MAPS):
            inner = faiss.downcast_index(outer.index)  # (owned by self.index: see _graph)
            direct_search_c = inner.search_c
            self._slot_of = np.append(faiss.vector_to_array(outer.id_map).astype(np.int64), -1)
        #: what one search reads, in one read: the owning index first (its local reference keeps
        #: the graph alive through the call, should a promotion (:meth:`adopt`) swap it
        #: meanwhile: the inner graph's method does not own it), the two search calls (through
        #: the id map, and of the graph itself) and the positions' slots
        self._graph = (self.index, self.index.search_c, direct_search_c, self._slot_of)

    # ------------------------------------------------------------------ build / persist
    @classmethod
    def build(
        cls,
        segment: np.ndarray,
        slots: np.ndarray,
        config: IndexConfig,
        *,
        l2: bool,
        seed: int = 1234,
        path: Path | None = None,
        spare: int = 0,
    ) -> AnnIndex:
        """Build over rows ``slots`` (``(n,) int64``, sorted) of ``segment`` (``(n_slots, dim)
        float32``, typically a memory map of the file ``path``), labelled by their slots. Rows
        are read block by block from the file (:func:`vecnest.store.rowio.blocks`): the build
        never holds a second copy of the vectors, nor leaves them resident through the map.
        ``spare``: rows the caller will :meth:`add` next, room for which is made now (see
        :meth:`add`)."""
        dim = segment.shape[1]
        n = len(slots)
        if config.kind is IndexKind.HNSW:
            if config.graph_vectors == "float16":
                inner = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_fp16, config.m, _metric(l2))
            else:
                inner = faiss.IndexHNSWFlat(dim, config.m, _metric(l2))
            inner.hnsw.efConstruction = config.ef_construction
            index = faiss.IndexIDMap(inner)  # (IDMap2's reverse map costs load time and memory)
        else:
            nlist = config.nlist or max(1, int(4 * math.sqrt(n)))
            nlist = min(nlist, max(1, n // 39))  # FAISS wants >= 39 points per cell
            quantizer = faiss.IndexFlatIP(dim) if not l2 else faiss.IndexFlatL2(dim)
            if config.kind is IndexKind.IVF_PQ:
                # 2**nbits centroids per sub-quantizer need >= 39 training points each
                nbits = max(4, min(8, int(math.log2(max(n, 1) / 39))))
                pq_m = config.pq_m or auto_pq_m(dim)
                index = faiss.IndexIVFPQ(quantizer, dim, nlist, pq_m, nbits, _metric(l2))
            else:
                index = faiss.IndexIVFFlat(quantizer, dim, nlist, _metric(l2))
            rng = np.random.default_rng(seed)
            sample = np.sort(rng.choice(slots, size=min(n, nlist * 64), replace=False))
            index.train(gather(segment, sample, path=path))
            index.own_fields = True
            quantizer.this.disown()
        out = cls(index, config, l2=l2)
        out.add(segment, slots, path=path, spare=spare)
        return out

    def add(self, segment: np.ndarray, slots: np.ndarray, *, path: Path | None = None, spare: int = 0) -> None:
        """Insert rows ``slots`` (sorted) of ``segment`` (HNSW links them into the graph; IVF
        assigns them to cells), read block by block from the file ``path`` as in :meth:`build`.

        FAISS adds each call's rows in parallel, so sparse blocks are pooled up to a block's
        size per call; a block at least half full goes to FAISS straight from the reading
        buffer. The build holds one block (64 MiB) beside the index, and a pool only where
        blocks are sparse. Room for the rows and ``spare`` more is made before the first call
        (:meth:`_reserve`): growing an owned array later copies it whole, however few rows it
        grows by.

        (Blocks bring their upper-level rows after the level 0 of the blocks before, where one
        FAISS call links every upper-level row first. Measured not to matter: on 74k arXiv
        titles, M 32, recall@10 at ef 24 was 0.951-0.955 with every row's level drawn first and
        added level by level, 0.950-0.956 in one call, over four level draws each.)"""
        slots = np.unique(np.asarray(slots, dtype=np.int64))
        self._reserve(len(slots) + max(int(spare), 0))
        size = block_rows(4 * segment.shape[1])
        pool: np.ndarray | None = None
        ids: list[np.ndarray] = []
        held = 0

        def flush() -> None:
            nonlocal held
            if pool is not None and held:
                self.index.add_with_ids(pool[:held], np.concatenate(ids))
            ids.clear()
            held = 0

        for part, vecs in blocks(segment, slots, path=path):
            if held + len(part) > size:
                flush()
            if not held and 2 * len(part) >= size:
                self.index.add_with_ids(np.ascontiguousarray(vecs, dtype=np.float32), part)
                continue
            if pool is None:
                pool = np.empty((size, segment.shape[1]), dtype=np.float32)
            pool[held : held + len(part)] = vecs
            ids.append(part)
            held += len(part)
        flush()
        self._set_positions()

    def _reserve(self, more: int) -> None:
        """Grow the graph's per-row arrays once to their size after ``more`` rows, before the
        pooled ``add_with_ids`` calls: each call grows them by doubling, and a doubling holds
        the old array and its copy at once (1M x 256 float16 in 16 calls: ~390 MiB above the
        finished index at the 9th call). The links are sized for the expected number of upper
        levels (M per level a row reaches, 1 / (M - 1) of them on average) with as much again
        spare; a draw above that only falls back to one doubling. Arrays FAISS maps rather than
        owns are left alone (FAISS cannot grow them; no-op for IVF, whose lists grow one by
        one)."""
        outer = faiss.downcast_index(self.index)
        if not self._hnsw or more <= 0 or not isinstance(outer, _ID_MAPS):
            return
        inner = faiss.downcast_index(outer.index)
        storage = faiss.downcast_index(inner.storage)
        hnsw = inner.hnsw
        n = int(outer.ntotal) + more
        m = int(hnsw.nb_neighbors(1))
        links = n * int(hnsw.nb_neighbors(0)) + (2 * n * m) // max(m - 1, 1)
        for vector, size in ((storage.codes, n * int(storage.code_size)), (hnsw.neighbors, links), (hnsw.levels, n), (hnsw.offsets, n + 1), (outer.id_map, n)):
            now = int(vector.size())
            if size > now and getattr(vector, "is_owned", True):  # (FAISS aborts growing a mapped one)
                vector.resize(size)
                vector.resize(now)  # (std::vector keeps its capacity)

    @property
    def ntotal(self) -> int:
        """Rows in the index (dead ones included until a rebuild)."""
        return int(self.index.ntotal)

    def save(self, path: Path) -> None:
        """Write the index to ``path`` atomically (temp file, fsync, rename, fsync the folder).

        ``path`` must be a fresh name (see :func:`vecnest.index.state.index_file_name`).
        """
        tmp = path.with_name(path.name + ".tmp")
        try:
            faiss.write_index(self.index, str(tmp))
        except RuntimeError as exc:  # FAISS reports I/O errors (a full disk) this way
            tmp.unlink(missing_ok=True)
            raise OSError(28 if "No space" in str(exc) else 5, f"writing index {path.name}: {exc}") from None
        publish(tmp, path)

    @classmethod
    def load(cls, path: Path, config: IndexConfig, *, l2: bool, mmap: bool) -> AnnIndex:
        """Read an index; ``mmap=True`` maps it read-only, in place where FAISS can (graph and
        vectors are then page cache shared between processes, and a warm open takes
        milliseconds: 75k HNSW ~1-20 ms vs 90-200 ms read without a map). What the page cache
        lacks of the file is read first, in order (:func:`vecnest.store.pagecache.fill`): a
        graph walk over a cold map waits on one small read per page it touches (75k HNSW, cold:
        open → first filtered search 400–520 ms that way, ~110 ms after the read).

        Raises:
            FileNotFoundError: no file at ``path``.
            CorruptStoreError: ``path`` is a symlink or not a regular file (never followed:
                a planted link could make searches answer from another index).
        """
        if not stat.S_ISREG(os.lstat(path).st_mode):
            raise CorruptStoreError(f"index file {path.name} is a symlink or not a regular file; vecnest never follows links inside a store")
        flags = (_MMAP_FLAGS | faiss.IO_FLAG_READ_ONLY) if mmap else 0
        if mmap:
            fill(path)  # (cold: one read in order, not a page fault per node the first searches touch)
        return cls(faiss.read_index(str(path), flags), config, l2=l2)

    @classmethod
    def open(cls, path: Path, config: IndexConfig, *, l2: bool, dim: int, n_indexed: int) -> AnnIndex:
        """The index at ``path`` for searching: loaded (mapped) and :meth:`check`-ed now if the
        file is smaller than :data:`LAZY_BYTES` or this system cannot reopen a descriptor by
        name; else only opened now and loaded, filled and checked when first used (any
        attribute that needs the FAISS index), raising :class:`IndexUnusable` then, and again
        at every later use, if it is damaged.

        Raises:
            FileNotFoundError: no file at ``path``.
            CorruptStoreError: ``path`` is not a regular file, or (loaded now) is damaged.
            RuntimeError, OSError: FAISS could not read it (loaded now).
        """
        if not stat.S_ISREG(os.lstat(path).st_mode):
            raise CorruptStoreError(f"index file {path.name} is a symlink or not a regular file; vecnest never follows links inside a store")
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
        try:
            info = os.fstat(fd)
            lazy = stat.S_ISREG(info.st_mode) and info.st_size >= LAZY_BYTES and _FD_DIR.is_dir()
        except OSError:
            os.close(fd)
            raise
        if not lazy:
            os.close(fd)
            ann = cls.load(path, config, l2=l2, mmap=True)
            ann.check(dim=dim, n_indexed=n_indexed)
            return ann
        out = cls.__new__(cls)
        out.config = config
        out.l2 = l2
        out._params = {}
        out._hnsw = config.kind is IndexKind.HNSW
        out.file = path.name
        out._identity = (info.st_dev, info.st_ino, info.st_size)  # (see vecnest.index.promotion)
        out._pending = (fd, dim, n_indexed)
        out._failed = None
        out._load_lock = threading.Lock()
        out._close_fd = weakref.finalize(out, os.close, fd)
        return out

    @property
    def rows(self) -> int:
        """:attr:`ntotal` without loading a lazily opened index (the row count the catalog
        recorded, which its load checks the file against)."""
        pending = self.__dict__.get("_pending")
        return int(pending[2]) if pending is not None else self.ntotal

    @property
    def loaded(self) -> bool:
        """Whether the FAISS index is in memory (always, unless opened lazily and unused)."""
        return "index" in self.__dict__

    @property
    def promoted(self) -> int:
        """Bytes of this graph on huge pages since it was promoted (0: never; see
        :mod:`vecnest.index.promotion`)."""
        return int(self.__dict__.get("_promoted", 0))

    def adopt(self, copy: AnnIndex, huge: int) -> None:
        """Search ``copy`` (the same file's graph, in other memory) from now on; ``huge``: its
        bytes on huge pages. For :func:`vecnest.index.promotion.promote` only, which checks the
        copy is this index's own file (the positions cached for filters stay valid).
        One swap of the attributes a search reads (a search already running keeps the owner it
        read: see :meth:`_set_positions`)."""
        self.__dict__.update({k: copy.__dict__[k] for k in _LOADED})
        self._promoted = huge

    def __getattr__(self, name: str) -> Any:
        # only reached for attributes the instance lacks: a lazily opened index's FAISS parts
        # before its first use (after it, they are plain attributes: no cost per search)
        if name in _LOADED and "_pending" in self.__dict__:
            self._materialise()
            return self.__dict__[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _materialise(self) -> None:
        with self._load_lock:
            if self.loaded:
                return
            if self._failed is not None:
                raise IndexUnusable(self.file or "?", self._failed)
            fd, dim, n_indexed = self._pending
            try:
                fill_fd(fd)  # (as :meth:`load`: one read in order, not a fault per node)
                flags = _MMAP_FLAGS | faiss.IO_FLAG_READ_ONLY
                probe = AnnIndex(faiss.read_index(str(_FD_DIR / str(fd)), flags), self.config, l2=self.l2)
                probe.check(dim=dim, n_indexed=n_indexed)
            except (RuntimeError, CorruptStoreError, OSError) as exc:
                self._failed = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
                raise IndexUnusable(self.file or "?", self._failed) from None
            finally:
                self._close_fd()  # (the map, if any, holds the file from now on)
            self.__dict__.update({k: probe.__dict__[k] for k in _LOADED})

    def check(self, *, dim: int, n_indexed: int) -> None:
        """Raise :class:`CorruptStoreError` unless this index is of the configured kind, the
        collection's dimension and holds the ``n_indexed`` rows the catalog recorded."""
        owner = self.index  # (held: a promotion may swap self.index meanwhile)
        index = faiss.downcast_index(owner)
        inner = faiss.downcast_index(index.index) if isinstance(index, _ID_MAPS) else index
        kind_ok = isinstance(inner, faiss.IndexHNSW) if self._hnsw else isinstance(inner, faiss.IndexIVF)
        if self.config.kind is IndexKind.IVF_PQ:
            kind_ok = isinstance(inner, faiss.IndexIVFPQ)
        problems = []
        if not kind_ok:
            problems.append(f"it is a {type(inner).__name__}, not a {self.config.kind.value} index")
        if int(self.index.d) != dim:
            problems.append(f"its dimension is {int(self.index.d)}, the collection's {dim}")
        if self.ntotal != n_indexed:
            problems.append(f"it holds {self.ntotal} rows, the catalog recorded {n_indexed}")
        want = faiss.METRIC_L2 if self.l2 else faiss.METRIC_INNER_PRODUCT
        if int(self.index.metric_type) != want:
            problems.append("its metric differs from the collection's")
        if problems:
            raise CorruptStoreError("index file does not match the catalog: " + "; ".join(problems))

    def labels(self) -> np.ndarray:
        """``(ntotal,) int64``: the slot of every row the index holds (dead ones included)."""
        owner = self.index  # (held: a promotion may swap self.index meanwhile)
        index = faiss.downcast_index(owner)
        if isinstance(index, _ID_MAPS):
            return faiss.vector_to_array(index.id_map).astype(np.int64)
        lists = faiss.extract_index_ivf(index).invlists
        out = [np.empty(0, dtype=np.int64)]
        for i in range(lists.nlist):
            n = int(lists.list_size(i))
            if n:
                ptr = lists.get_ids(i)
                out.append(faiss.rev_swig_ptr(ptr, n).astype(np.int64))
                lists.release_ids(i, ptr)
        return np.concatenate(out)

    def component_bytes(self) -> dict[str, int]:
        """Bytes held by each part of the index, read from the FAISS structures themselves.

        HNSW: ``vectors`` (the float32 copy the graph walks), ``graph_links`` (neighbour lists,
        their offsets and node levels), ``ids`` (the slot of each row). IVF: ``vectors`` or
        ``pq_codes`` (the inverted lists' codes), ``ids``, ``centroids`` (coarse quantizer and,
        for PQ, the sub-quantizer codebooks). What the file holds beyond these is headers.
        """
        out: dict[str, int] = {}
        owner = self.index  # (held: a promotion may swap self.index meanwhile)
        index = faiss.downcast_index(owner)
        if isinstance(index, _ID_MAPS):
            out["ids"] = int(index.id_map.size()) * 8
            index = faiss.downcast_index(index.index)
        if isinstance(index, faiss.IndexHNSW):
            h = index.hnsw
            out["graph_links"] = int(h.neighbors.size()) * 4 + int(h.offsets.size()) * 8 + int(h.levels.size()) * 4
            out["vectors"] = int(faiss.downcast_index(index.storage).codes.size())
            return out
        ivf = faiss.extract_index_ivf(index)
        lists = ivf.invlists
        rows = sum(int(lists.list_size(i)) for i in range(lists.nlist))
        out["pq_codes" if self.config.kind is IndexKind.IVF_PQ else "vectors"] = rows * int(lists.code_size)
        out["ids"] = rows * 8
        centroids = int(ivf.quantizer.ntotal) * int(ivf.d) * 4
        if self.config.kind is IndexKind.IVF_PQ:
            centroids += int(faiss.downcast_index(index).pq.centroids.size()) * 4
        out["centroids"] = centroids
        return out

    # ------------------------------------------------------------------ search
    def _make_params(self, effort: int, sel: faiss.IDSelector | None) -> faiss.SearchParameters:
        if self.config.kind is IndexKind.HNSW:
            return faiss.SearchParametersHNSW(efSearch=effort, sel=sel)
        return faiss.SearchParametersIVF(nprobe=effort, sel=sel)

    def search_unfiltered(self, queries: np.ndarray, k: int, effort: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`search` with no filter and no counters: the whole per-query path of a
        repeated plain search."""
        return self._run(queries, k, self._unfiltered_params(max(effort, k) if self._hnsw else effort))

    def _one(self, query: np.ndarray, k: int, params: faiss.SearchParameters, direct: bool) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_run`'s path for one ``(1, dim)`` query (every one-query search, the replays of
        repeated ones in ``vecnest.search.replay`` included), without the batch's machinery: no team of
        threads (as :class:`FewQueries`, the calling thread's team size restored), one read of
        the graph's parts (see :meth:`_set_positions`)."""
        if query.dtype != np.float32 or not query.flags.c_contiguous:
            query = np.ascontiguousarray(query, dtype=np.float32)
        dist = np.empty((1, k), dtype=np.float32)
        labels = np.empty((1, k), dtype=np.int64)
        owner, search_c, direct_search_c, slot_of = self._graph
        team = omp_max_threads()
        if team != 1:
            omp_set_threads(1)
        try:
            (direct_search_c if direct else search_c)(1, _ptr(query), k, _ptr(dist), _ptr(labels), params)
        finally:
            if team != 1:
                omp_set_threads(team)
        if direct:
            labels = slot_of[labels]  # (position -1: the last entry, -1)
        del owner
        if self.l2:
            dist = -dist
        if labels.item(k - 1) < 0:  # (FAISS pads a short list with -1 at its end)
            dist[labels < 0] = -np.inf
        return labels, dist

    def _unfiltered_params(self, effort: int) -> faiss.SearchParameters:
        params = self._params.get(effort)
        if params is None:
            params = self._params[effort] = self._make_params(effort, None)
        return params

    def _run(
        self, queries: np.ndarray, k: int, params: faiss.SearchParameters, direct: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """One FAISS search: ``(q, k)`` slots (``-1`` where none) and higher-is-better scores
        (``direct``: of the graph itself, with parameters over position bits)."""
        n = len(queries)
        if n == 1:
            return self._one(queries, k, params, direct)
        if queries.dtype != np.float32 or not queries.flags.c_contiguous:
            queries = np.ascontiguousarray(queries, dtype=np.float32)
        dist = np.empty((n, k), dtype=np.float32)
        labels = np.empty((n, k), dtype=np.int64)
        owner, search_c, direct_search_c, slot_of = self._graph  # (one read: see _set_positions)
        with FewQueries(n):
            (direct_search_c if direct else search_c)(n, _ptr(queries), k, _ptr(dist), _ptr(labels), params)
        if direct:
            labels = slot_of[labels]  # (position -1: the last entry, -1)
        del owner
        scores = -dist if self.l2 else dist
        if (labels[:, -1] < 0).any():  # (FAISS pads short result lists with -1, at their ends)
            scores[labels < 0] = -np.inf
        return labels, scores

    def _position_bits(self, packed: np.ndarray, cache: dict[Any, Any] | None) -> np.ndarray | None:
        """The slot bitmap ``packed`` permuted to graph positions (kept in ``cache`` beside it),
        or ``None`` where the graph is searched through its id map."""
        slot_of = self._slot_of
        if slot_of is None:
            return None
        key = (id(self), "positions")
        held = cache.get(key) if cache is not None else None
        if held is None or held[0] is not packed:
            bits = np.unpackbits(packed, bitorder="little")
            slots = slot_of[:-1]
            if len(slots) and int(slots.max()) >= len(bits):  # (never expected: a slot past the mask)
                return None
            held = (packed, np.packbits(bits[slots], bitorder="little"))
            if cache is not None:
                cache[key] = held
        return held[1]

    def filtered_params(self, effort: int, packed: np.ndarray, cache: dict[Any, Any] | None) -> tuple[Any, ...]:
        """``(parameters, selector, packed, bits)`` of a filtered search over the slot bitmap
        ``packed`` at ``effort`` for the calling thread, kept in ``cache`` (owned by whoever
        owns ``packed``, so both live as long): a selector and its parameters cost ~10-30 µs to
        build per query. ``bits``: what the selector reads (``packed``, or it permuted to graph
        positions). The parameters borrow the selector, which borrows ``bits``: hold the tuple
        until the search returns (see :meth:`search_with`)."""
        # per thread: FAISS's IndexIDMap swaps ``params.sel`` for a translating selector
        # during a search, so one parameters object must never serve two threads at once
        key = (id(self), effort, len(packed), threading.get_ident())
        held = cache.get(key) if cache is not None else None
        if held is None or held[2] is not packed:
            positions = self._position_bits(packed, cache)
            bits = packed if positions is None else positions
            sel = faiss.IDSelectorBitmap(len(bits), _ptr(bits))  # n in bytes
            held = (self._make_params(effort, sel), sel, packed, bits)  # params borrow sel, sel bits
            if cache is not None and len(cache) < 64:
                cache[key] = held
        return held

    def search_with(self, queries: np.ndarray, k: int, held: tuple[Any, ...]) -> tuple[np.ndarray, np.ndarray]:
        """One FAISS search with :meth:`filtered_params`'s ``held`` tuple (held by the caller
        until this returns): ``(q, k)`` slots (``-1`` where none) and higher-is-better scores."""
        return self._run(queries, k, held[0], direct=held[3] is not held[2])

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        allowed: np.ndarray | None,
        ef_search: int | None = None,
        nprobe: int | None = None,
        count: bool = True,
        packed: np.ndarray | None = None,
        cache: dict[Any, Any] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """Approximate top-``k``.

        Args:
            queries: ``(q, dim) float32``.
            k: results per query.
            allowed: ``(n_slots,) bool`` mask of slots that may be returned (deletions and
                filters), or ``None`` for every indexed slot.
            ef_search / nprobe: search-time effort (HNSW / IVF).
            count: read FAISS's distance-computation counter (else 0 is returned for it).
            packed: ``allowed`` already packed into little-endian bits, if at hand.
            cache: where to keep the filtered search parameters built for ``packed`` (a
                selector and its parameters cost ~10-30 µs to build per query): owned by
                whoever owns ``packed`` (a cached filter match), so both live as long.

        Returns:
            ``(q, k) int64`` slots (``-1`` where none), ``(q, k) float32`` scores (higher is
            better), and the number of distance computations FAISS made.
        """
        if self._hnsw:
            effort = max(ef_search or self.config.ef_search, k)
        else:
            effort = nprobe or self.config.nprobe
        if allowed is None:
            packed = held = None
            params = self._unfiltered_params(effort)
        else:
            if packed is None:
                packed = np.packbits(allowed, bitorder="little")
            held = self.filtered_params(effort, packed, cache)  # (alive until the search returns)
            params = held[0]
        if count:
            self._stats.reset()
        labels, scores = self._run(queries, k, params, direct=held is not None and held[3] is not held[2])
        del held, packed  # the parameters borrowed the selector, the selector the bits, until here
        visited = int(self._stats.ndis) if count else 0
        return labels, scores, visited
