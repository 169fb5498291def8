"""The collection façade: add / upsert / update / delete / get / search over the store layers.

A collection composes its rows (documents in the catalog, vectors in a segment:
:mod:`vecnest.store.rows`), an encoder (text → vectors: :mod:`vecnest.space`), its searches
(:mod:`vecnest.search.engine`) and the maintenance of its index (:mod:`vecnest.index.maintain`).
The façade validates every argument first, then hands over: a write is one catalog transaction
whose commit is its outcome (index merges follow in the background and never fail the write); a
search runs on one committed snapshot.

Thread safety: a ``Collection`` may be shared by threads. Searches run in parallel; writes are
serialised (one writer per store, across processes too).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import numpy as np

from vecnest import filter as vfilter
from vecnest.config import CollectionConfig, Metric
from vecnest.encode.base import Encoder
from vecnest.errors import DuplicateIdError, InvalidInputError, NotFoundError
from vecnest.records import (
    Document,
    Metadata,
    MAX_ID_LEN,
    check_id,
    check_ids,
    check_metadata,
    check_metadatas,
    check_texts,
    dump_metadata,
)
from vecnest.lexical.analyzer import AnalyzerConfig
from vecnest.compress.catalog import set_compression
from vecnest.compress.tune import tune as tune_pipelines
from vecnest.maintenance import Maintenance
from vecnest.collection_search import Searching
from vecnest.stats import collection_stats, disk_bytes
from vecnest.search.engine import Searcher
from vecnest.search.lexical_view import LexicalView
from vecnest.search.relevance import RelevanceModel
from vecnest.search.reader import SnapshotSource
from vecnest.space import VectorSpace
from vecnest.store.documents import DocumentTable
from vecnest.store.handle import StoreHandle
from vecnest.store.rows import Rows

log = logging.getLogger("vecnest")

Progress = Callable[[int], None]

_INT64_MAX = 2**63 - 1


class Collection(Searching):
    """A named set of documents with vectors, stored on disk. Obtain one from a Database.

    Behaves like a container: ``len(col)``, ``"id" in col``, ``col["id"]`` (a :class:`Document`,
    or :class:`~vecnest.errors.NotFoundError`, which is a ``KeyError``).
    """

    def __init__(self, store: StoreHandle, cid: int, config: CollectionConfig, encoder: Encoder | None) -> None:
        self._store = store
        self._cid = cid
        self._encoder = encoder
        self._rows = Rows(store.catalog, store.segments_dir, cid, config.name, config.dim)
        self._wire(config)

    def _wire(self, config: CollectionConfig) -> None:
        """Build the layers of ``config`` (at open, and after a configuration change)."""
        self._config = config
        self._space = VectorSpace(config.name, config.dim, config.metric, self._encoder, config.encoder)
        self._source = SnapshotSource(
            self._rows, config.index, config.metric, config.compression, huge_pages=self._store.huge_pages, closed=self._store.closed
        )
        self._analyzer = AnalyzerConfig.from_json(config.lexical) if config.lexical is not None else None
        self._lexical = LexicalView(self._rows, self._analyzer) if self._analyzer is not None else None
        self._searcher = Searcher(self._source, self._rows.docs, self._lexical)
        self._maint = Maintenance(self._store, self._rows, self._source, config, self._analyzer)
        self._relevance: RelevanceModel | None = None

    # ------------------------------------------------------------------ properties
    @property
    def name(self) -> str:
        """The collection's name."""
        return self._config.name

    @property
    def config(self) -> CollectionConfig:
        """The collection's manifest (frozen)."""
        return self._config

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return self._config.dim

    @property
    def metric(self) -> Metric:
        """Similarity metric."""
        return self._config.metric

    @property
    def encoder(self) -> Encoder | None:
        """The attached encoder, or ``None`` for a vectors-only collection."""
        return self._encoder

    @property
    def cid(self) -> int:
        """The collection's id inside its store (never reused)."""
        return self._cid

    def __repr__(self) -> str:
        model = self._config.encoder["name"] if self._config.encoder else None
        return f"Collection(name={self.name!r}, dim={self.dim}, metric={self.metric.value!r}, model={model!r})"

    # ------------------------------------------------------------------ container protocol
    def count(self) -> int:
        """Number of documents stored."""
        with self._store.catalog.read() as conn:
            self._rows.state(conn)
            return int(conn.execute(f"SELECT COUNT(*) FROM {self._rows.table}").fetchone()[0])

    def __len__(self) -> int:
        return self.count()

    def __contains__(self, doc_id: object) -> bool:
        if not isinstance(doc_id, str) or not 0 < len(doc_id) <= MAX_ID_LEN:
            return False  # could never have been stored
        check_id(doc_id)  # a NUL or a lone surrogate raises instead of matching another id
        with self._store.catalog.read() as conn:
            self._rows.state(conn)
            row = conn.execute(f"SELECT 1 FROM {self._rows.table} WHERE id = ?", (doc_id,)).fetchone()
        return row is not None

    def __getitem__(self, doc_id: str) -> Document:
        docs = self.get(ids=[doc_id])
        if not docs:
            raise NotFoundError(f"no document with id {doc_id!r} in collection {self.name!r}")
        return docs[0]

    # ------------------------------------------------------------------ writes
    def add(
        self,
        ids: Sequence[str],
        texts: Sequence[str] | None = None,
        metadatas: Sequence[Metadata | None] | None = None,
        vectors: np.ndarray | None = None,
        *,
        progress: Progress | None = None,
    ) -> None:
        """Add new documents. Ids must not exist yet (use :meth:`upsert` to overwrite).

        Args:
            ids: one unique string id per document.
            texts: document texts; embedded with the collection's encoder unless ``vectors``
                are given.
            metadatas: JSON-like dicts (str, int, float, bool, None, lists of scalars).
            vectors: ``(n, dim)`` precomputed vectors (any float dtype).
            progress: called with the number of documents embedded after each batch.

        The call is atomic and durable: when it returns, the documents survive a crash and
        every later search sees them; when it raises, nothing was stored.
        """
        ids, texts, metas, vecs = self._prepare(ids, texts, metadatas, vectors, progress)
        with self._rows.write() as conn:
            existing = self._rows.docs.existing_ids(conn, ids)
            if existing:
                shown = ", ".join(repr(i) for i in sorted(existing)[:5])
                raise DuplicateIdError(
                    f"{len(existing)} id(s) already exist in collection {self.name!r}: {shown}. "
                    "add() never overwrites; use upsert() to replace documents"
                )
            self._rows.append(conn, ids, texts, [dump_metadata(m) for m in metas], vecs)
        self._maint.after_write(len(ids))

    def upsert(
        self,
        ids: Sequence[str],
        texts: Sequence[str] | None = None,
        metadatas: Sequence[Metadata | None] | None = None,
        vectors: np.ndarray | None = None,
        *,
        progress: Progress | None = None,
    ) -> None:
        """Insert documents, replacing whole any that already exist (text, metadata, vector)."""
        ids, texts, metas, vecs = self._prepare(ids, texts, metadatas, vectors, progress)
        with self._rows.write() as conn:
            self._rows.docs.delete_ids(conn, ids)
            self._rows.append(conn, ids, texts, [dump_metadata(m) for m in metas], vecs)
        self._maint.after_write(len(ids))

    def update(
        self,
        ids: Sequence[str],
        texts: Sequence[str] | None = None,
        metadatas: Sequence[Metadata | None] | None = None,
        vectors: np.ndarray | None = None,
    ) -> None:
        """Change existing documents; what is not given is kept.

        New ``texts`` are re-embedded (unless ``vectors`` are given or the collection has no
        encoder). New ``metadatas`` replace the old dicts whole. Every id must exist.
        """
        ids = check_ids(ids)
        n = len(ids)
        if texts is None and metadatas is None and vectors is None:
            raise InvalidInputError("update() needs at least one of texts, metadatas, vectors")
        new_texts = check_texts(texts, n) if texts is not None else None
        new_metas = check_metadatas(metadatas, n) if metadatas is not None else None
        new_vecs = None
        if vectors is not None:
            new_vecs = self._space.given(vectors, n)
        elif new_texts is not None and self._encoder is not None:
            new_vecs = self._space.documents(new_texts, None)
        with self._rows.write() as conn:
            old = self._rows.docs.rows_by_id(conn, ids)
            missing = [i for i in ids if i not in old]
            if missing:
                shown = ", ".join(repr(i) for i in missing[:5])
                raise NotFoundError(
                    f"{len(missing)} id(s) not found in collection {self.name!r}: {shown}. "
                    "update() changes existing documents only; use upsert() to insert"
                )
            metas_json = [dump_metadata(m) for m in new_metas] if new_metas is not None else [old[i][2] for i in ids]
            appended = 0
            if new_vecs is None and new_texts is None:  # metadata only: rewritten in place
                self._rows.rewrite_metadata(conn, ids, metas_json)
            else:  # new vectors or text: new slots (a slot's vector and text never change)
                if new_vecs is None:
                    new_vecs = self._rows.vectors(conn, [old[i][3] for i in ids])
                texts_out = new_texts or [old[i][1] for i in ids]
                self._rows.docs.delete_ids(conn, ids)
                self._rows.append(conn, ids, texts_out, metas_json, new_vecs)
                appended = len(ids)
        self._maint.after_write(appended)

    def delete(
        self,
        ids: Sequence[str] | None = None,
        where: dict[str, Any] | None = None,
        where_document: dict[str, Any] | None = None,
    ) -> int:
        """Delete documents by id and/or filter (both given: documents matching both).

        Unknown ids are ignored. Returns the number of documents deleted.
        """
        if ids is None and not where and not where_document:
            raise InvalidInputError(
                "delete() needs ids= or a non-empty where= / where_document=; to remove "
                "everything, drop the collection with db.drop_collection(name)"
            )
        clause, params = DocumentTable.where_clause(ids, where, where_document)
        with self._rows.write() as conn:
            deleted = conn.execute(f"DELETE FROM {self._rows.table} WHERE {clause}", params).rowcount
            if deleted:
                self._rows.bump(conn)
        if deleted:
            self._maint.after_write()
        return deleted

    # ------------------------------------------------------------------ reads
    def get(
        self,
        ids: Sequence[str] | None = None,
        where: dict[str, Any] | None = None,
        where_document: dict[str, Any] | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
        include_vectors: bool = False,
    ) -> list[Document]:
        """Fetch documents by id and/or filter, in the order of ``ids`` (else insertion order).

        Ids that do not exist are skipped (``col[id]`` raises instead).
        """
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= _INT64_MAX):
            raise InvalidInputError(f"limit must be an int in [0, 2**63 - 1] or None; got {limit!r}")
        if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= _INT64_MAX:
            raise InvalidInputError(f"offset must be an int in [0, 2**63 - 1]; got {offset!r}")
        if ids is not None:
            ids = check_ids(ids, allow_existing_dupes=True)
        clause, params = DocumentTable.where_clause(ids, where, where_document)
        sql = f"SELECT slot, id, text, metadata FROM {self._rows.table} WHERE {clause} ORDER BY slot"
        if limit is not None or offset:
            sql += f" LIMIT {-1 if limit is None else int(limit)} OFFSET {int(offset)}"
        with self._store.catalog.read() as conn:
            self._rows.state(conn)
            rows = conn.execute(sql, params).fetchall()
            vectors = self._rows.vectors(conn, [r[0] for r in rows]) if include_vectors else None
        docs = [
            Document(
                id=r[1],
                text=r[2],
                metadata=json.loads(r[3]),
                vector=None if vectors is None else vectors[j],
            )
            for j, r in enumerate(rows)
        ]
        if ids is not None:
            by_id = {d.id: d for d in docs}
            docs = [by_id[i] for i in dict.fromkeys(ids) if i in by_id]
        return docs

    # ------------------------------------------------------------------ index
    def optimize(self, *, rebuild: bool = False) -> dict[str, Any]:
        """Bring every derived structure up to date now: merge fresh rows into the approximate
        index (building it if needed) and recalibrate, catch the lexical index and compression
        tiers up, and write the snapshot image a new process opens from.

        All of it runs automatically in the background after writes; call it yourself to have
        it done now, in this thread (it waits for maintenance another thread or process is
        running) — for example before closing a store just loaded. Rebuilds the index from
        scratch when ``rebuild=True``, when too many indexed rows were deleted or replaced, or
        when the index file is damaged.

        Returns:
            What was done to the index: ``{"action": "none" | "built" | "merged" | "rebuilt",
            ...}`` (the rest is visible in :meth:`stats` and ``vecnest check``).
        """
        return self._maint.optimize(rebuild=rebuild)

    @contextmanager
    def bulk(self) -> Iterator[Collection]:
        """Defer the automatic index merges of the writes inside the block to its end.

        Each write stays atomic and durable on its own (searches inside the block see it, the
        rows past the index being scanned exactly); the index is brought up to date once, when
        the block exits (in the calling thread), instead of after every ``delta_limit`` rows.
        Use it around a bulk load done in many calls::

            with col.bulk():
                for batch in batches:
                    col.add(batch.ids, vectors=batch.vectors)
        """
        self._maint.bulk_depth += 1
        try:
            yield self
        finally:
            self._maint.bulk_depth -= 1
        if self._maint.bulk_depth == 0:
            self._maint.end_bulk()

    def wait_for_maintenance(self, timeout: float | None = None) -> bool:
        """Block until background maintenance queued by earlier writes to this store is done
        (``True``) or ``timeout`` seconds pass (``False``). Searches never need it (rows not yet
        merged are searched exactly); measurements and tools that inspect the index do."""
        return self._store.worker.wait(timeout)

    def compact(self) -> dict[str, Any]:
        """Rewrite the vector segment without the rows of deleted and replaced documents, and
        rebuild what depends on their positions (the index, in the background).

        Runs by itself after writes once half of a segment of at least 10,000 rows is dead.
        Searches keep answering throughout; writes wait only for the final renumbering.

        Returns:
            ``{"action": "compacted" | "none", ...}`` with the row counts before and after.
        """
        return self._maint.compact()

    # ------------------------------------------------------------------ compression and size
    def set_compression(self, pipeline: str | None) -> None:
        """Declare (or change, or drop with ``None``) the collection's compression pipeline,
        e.g. ``"binary-rot192/asym > float32"``. The tiers are rebuilt from the stored float32
        vectors by maintenance (in the background); until then exact searches scan float32 (or
        the old tiers, which stay whole until the new ones are published: a crash leaves one or
        the other). Other handles of the collection pick the change up when reopened."""
        self._wire(set_compression(self._rows, self._config, pipeline))
        self._maint.after_write()

    def tune(
        self,
        *,
        budget: str | float | None = None,
        min_quality: float | None = None,
        apply: bool = False,
        plot: str | os.PathLike[str] | None = None,
        **options: Any,
    ) -> Any:
        """Evaluate compression pipelines on this collection's own vectors and pick one within a
        RAM budget (bytes per vector, e.g. ``"48B"`` or ``"1/32"``) or above a quality floor
        (recall@10 against float32 exact search on held-out rows); draws the quality-vs-RAM
        Pareto front to ``plot`` (PNG) and, with ``apply=True``, switches to the choice
        (:meth:`set_compression`). Returns the :class:`vecnest.compress.tune.TuneResult`
        (``options``: ``candidates``, ``multipliers``, ``k``, ``n_queries`` ...)."""
        docs = self.get(include_vectors=True)
        if not docs:
            raise InvalidInputError(f"collection {self.name!r} is empty: nothing to tune on")
        vectors = np.stack([d.vector for d in docs]).astype(np.float32)
        result = tune_pipelines(
            vectors, budget=budget, min_quality=min_quality, plot=Path(plot) if plot else None,
            l2=self.metric is Metric.L2, **options,
        )
        if apply and result.choice is not None:
            self.set_compression(result.choice.pipeline)
        return result

    def stats(self) -> dict[str, Any]:
        """Size and memory, measured: documents, rows, bytes on disk, and bytes per vector by
        component — RAM resident now (mapped pages counted by the kernel) against disk — for the
        float32 segment, the compression tiers, the approximate index and the lexical index."""
        snap = self._source.current()
        return collection_stats(snap, self._source.usable_ann(snap), self._rows, self._config, self.disk_bytes())

    # ------------------------------------------------------------------ maintenance
    def create_index(self, field: str) -> None:
        """Index a metadata field in the catalog (a SQLite expression index): ``get``/``delete``
        with a ``where`` on it use the B-tree instead of scanning every document (selective
        filters on 74k documents: ~20 ms → < 1 ms; see ``indexed_fields`` in
        :meth:`Database.create_collection`). Searches do not use it."""
        check_metadata({field: None}, "field name")
        if field in self._config.indexed_fields:
            return
        with self._rows.write() as conn:
            position = len(self._config.indexed_fields)
            conn.execute(
                f"CREATE INDEX IF NOT EXISTS {self._rows.table}_f{position} ON {self._rows.table}"
                f"({vfilter.json_extract_sql(field)})"
            )
            config = replace(self._config, indexed_fields=(*self._config.indexed_fields, field))
            conn.execute("UPDATE collections SET config = ? WHERE cid = ?", (json.dumps(config.to_json()), self._cid))
        self._config = config

    def disk_bytes(self) -> dict[str, int | None]:
        """Bytes on disk by component: vector segment, catalog tables (with their indexes) and
        the approximate index file."""
        return disk_bytes(self._rows)

    def index_bytes(self) -> dict[str, int]:
        """Bytes of the approximate index by component (see :meth:`AnnIndex.component_bytes`),
        measured on the index as loaded; ``{}`` when no index is built."""
        ann = self._source.usable_ann(self._source.current())
        return ann.component_bytes() if ann is not None else {}

    def warm(self) -> dict[str, Any]:
        """Make the next searches fast now: load the current snapshot and the approximate
        index and, for an HNSW graph of 16 MiB or more (unless the store was opened with
        ``huge_pages=False``), copy it onto huge pages now instead of in the background 5 s
        after its first search (a service that wants steady latency from its first request).
        Returns ``{"index_loaded": bool, "huge_pages_bytes": int}`` (0 bytes: no huge pages
        here, no room for the copy, or a small or non-HNSW index)."""
        return self._source.warm()

    # ------------------------------------------------------------------ internals
    def _prepare(
        self,
        ids: Sequence[str],
        texts: Sequence[str] | None,
        metadatas: Sequence[Metadata | None] | None,
        vectors: np.ndarray | None,
        progress: Progress | None,
    ) -> tuple[list[str], list[str] | list[None], list[Metadata], np.ndarray]:
        ids = check_ids(ids)
        n = len(ids)
        text_list: list[str] | list[None] = check_texts(texts, n) if texts is not None else [None] * n
        metas = check_metadatas(metadatas, n) if metadatas is not None else [{}] * n
        if vectors is not None:
            vecs = self._space.given(vectors, n)
        elif texts is None:
            raise InvalidInputError("pass texts= (to embed) or vectors= (precomputed), or both")
        else:
            vecs = self._space.documents(text_list, progress)  # type: ignore[arg-type]
        return ids, text_list, metas, vecs
