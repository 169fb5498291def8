"""The collection façade: add / upsert / update / delete / get / search over the store layers.

A collection composes the catalog (documents and metadata in SQLite), a vector segment
(append-only float32 rows addressed by slot), an encoder (text → vectors) and an index (exact
search today). Writes validate everything first, then run in one catalog transaction; reads run
in one read transaction, so each call sees one consistent snapshot.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from vecnest import filter as vfilter
from vecnest.config import CollectionConfig, IndexConfig, IndexKind, Metric
from vecnest.encode.base import Encoder
from vecnest.errors import (
    CollectionNotFoundError,
    DuplicateIdError,
    InvalidInputError,
    NotFoundError,
)
from vecnest.index.ann import AnnIndex
from vecnest.index.maintain import IndexState, build_or_merge, needs_work, read_state
from vecnest.records import (
    Document,
    Hit,
    Hits,
    Metadata,
    check_ids,
    check_include,
    check_k,
    check_metadata,
    check_metadatas,
    check_texts,
    dump_metadata,
)
from vecnest.store.catalog import docs_table
from vecnest.store.documents import DocumentTable
from vecnest.space import VectorSpace
from vecnest.search.planner import SearchOptions, execute, replayable, search_options
from vecnest.search.snapshot import Snapshot, calibration_from_json, load_snapshot
from vecnest.store.segments import Segment

if TYPE_CHECKING:
    from vecnest.database import Database

Progress = Callable[[int], None]


class Collection:
    """A named set of documents with vectors, stored on disk. Obtain one from a Database.

    Behaves like a container: ``len(col)``, ``"id" in col``, ``col["id"]`` (a :class:`Document`,
    or :class:`~vecnest.errors.NotFoundError`, which is a ``KeyError``).
    """

    def __init__(
        self, db: Database, cid: int, config: CollectionConfig, encoder: Encoder | None
    ) -> None:
        self._db = db
        self._cid = cid
        self._table = docs_table(cid)
        self._docs = DocumentTable(self._table)
        self._epoch_key = f"c{cid}.metadata_rewrites"  # meta-table counter of in-place updates
        self._config = config
        self._encoder = encoder
        self._space = VectorSpace(config.name, config.dim, config.metric, encoder, config.encoder)
        self._snapshot: Snapshot | None = None
        self._ann_cache: tuple[str, AnnIndex] | None = None
        self._bulk_depth = 0  # > 0 inside bulk(): automatic merges wait for its end

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

    def __repr__(self) -> str:
        model = self._config.encoder["name"] if self._config.encoder else None
        return f"Collection(name={self.name!r}, dim={self.dim}, metric={self.metric.value!r}, model={model!r})"

    # ------------------------------------------------------------------ container protocol
    def count(self) -> int:
        """Number of documents stored."""
        with self._db.catalog.read() as conn:
            self._check_alive(conn)
            return int(conn.execute(f"SELECT COUNT(*) FROM {self._table}").fetchone()[0])

    def __len__(self) -> int:
        return self.count()

    def __contains__(self, doc_id: object) -> bool:
        if not isinstance(doc_id, str):
            return False
        with self._db.catalog.read() as conn:
            self._check_alive(conn)
            row = conn.execute(f"SELECT 1 FROM {self._table} WHERE id = ?", (doc_id,)).fetchone()
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

        The call is atomic and durable: when it returns, the documents survive a crash; when it
        raises, nothing was stored.
        """
        ids, texts, metas, vecs = self._prepare(ids, texts, metadatas, vectors, progress)
        with self._write() as conn:
            existing = self._docs.existing_ids(conn, ids)
            if existing:
                shown = ", ".join(repr(i) for i in sorted(existing)[:5])
                raise DuplicateIdError(
                    f"{len(existing)} id(s) already exist in collection {self.name!r}: {shown}. "
                    "add() never overwrites; use upsert() to replace documents"
                )
            self._append(conn, ids, texts, metas, vecs)
        self._maybe_optimize()

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
        with self._write() as conn:
            self._docs.delete_ids(conn, ids)
            self._append(conn, ids, texts, metas, vecs)
        self._maybe_optimize()

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
        with self._write() as conn:
            old = self._docs.rows_by_id(conn, ids)
            missing = [i for i in ids if i not in old]
            if missing:
                shown = ", ".join(repr(i) for i in missing[:5])
                raise NotFoundError(
                    f"{len(missing)} id(s) not found in collection {self.name!r}: {shown}. "
                    "update() changes existing documents only; use upsert() to insert"
                )
            texts_out = new_texts or [old[i][1] for i in ids]
            metas_json = (
                [dump_metadata(m) for m in new_metas]
                if new_metas is not None
                else [old[i][2] for i in ids]
            )
            if new_vecs is None:  # rows rewritten in place: snapshots must not reuse their columns
                conn.executemany(
                    f"UPDATE {self._table} SET text = ?, metadata = ? WHERE id = ?",
                    list(zip(texts_out, metas_json, ids, strict=True)),
                )
                conn.execute(
                    "INSERT INTO meta(key, value) VALUES (?, '1') "
                    "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
                    (self._epoch_key,),
                )
                self._bump(conn, None)
                return
            self._docs.delete_ids(conn, ids)
            self._append(conn, ids, texts_out, metas_json, new_vecs, metadata_is_json=True)
        self._maybe_optimize()

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
        with self._write() as conn:
            cur = conn.execute(f"DELETE FROM {self._table} WHERE {clause}", params)
            deleted = cur.rowcount
            if deleted:
                self._bump(conn, None)
        if deleted:
            self._maybe_optimize()
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
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise InvalidInputError(f"limit must be a non-negative int or None; got {limit!r}")
        if not isinstance(offset, int) or offset < 0:
            raise InvalidInputError(f"offset must be a non-negative int; got {offset!r}")
        if ids is not None:
            ids = check_ids(ids, allow_existing_dupes=True)
        clause, params = DocumentTable.where_clause(ids, where, where_document)
        sql = f"SELECT slot, id, text, metadata FROM {self._table} WHERE {clause} ORDER BY slot"
        if limit is not None or offset:
            sql += f" LIMIT {-1 if limit is None else int(limit)} OFFSET {int(offset)}"
        with self._db.catalog.read() as conn:
            self._check_alive(conn)
            rows = conn.execute(sql, params).fetchall()
            vectors = self._vectors_for([r[0] for r in rows], conn) if include_vectors else None
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

    def search(
        self,
        query: str | np.ndarray,
        k: int = 10,
        *,
        where: dict[str, Any] | None = None,
        where_document: dict[str, Any] | None = None,
        include: Sequence[str] = ("text", "metadata"),
        include_vectors: bool = False,
        ef_search: int | None = None,
        nprobe: int | None = None,
        target_recall: float | None = None,
        strategy: str | None = None,
        explain: bool = False,
    ) -> Hits:
        """The ``k`` documents most similar to one query, best first.

        Args:
            query: a text (embedded with the collection's encoder, as a query) or a
                ``(dim,)`` vector.
            k: number of results, ``1..10000``; fewer come back if fewer documents match.
            where: metadata filter, e.g. ``{"year": {"$gte": 2025}, "categories":
                {"$contains": "cs.LG"}}`` (see :mod:`vecnest.filter`).
            where_document: text filter, e.g. ``{"$contains": "transformer"}``.
            include: which document fields to return with each hit: ``"text"``,
                ``"metadata"``; ``()`` returns ids and scores only (fastest: no catalog read).
            include_vectors: also return each hit's stored vector.
            ef_search / nprobe: index effort (HNSW / IVF); default: the calibrated value.
            target_recall: pick the effort from the build-time recall@10 table instead.
            strategy: force a planner strategy (``exact``, ``exact_filtered``, ``ann``,
                ``ann_filtered``, ``post_filter``); normally the planner chooses.
            explain: attach the execution plan as ``hits.plan``.

        Returns:
            :class:`~vecnest.records.Hits` (a list of :class:`Hit`).
        """
        if type(query) is np.ndarray and query.ndim == 1 and query.dtype == np.float32:
            qvecs = self._space.one_query(query)  # the common case, kept lean
        elif isinstance(query, str):
            qvecs = self._space.queries([query])
        else:
            arr = np.asarray(query)
            if arr.ndim != 1:
                raise InvalidInputError(
                    f"search() takes one query (a str or a (dim,) vector); got an array of "
                    f"shape {arr.shape}. Use search_batch() for several queries"
                )
            qvecs = self._space.queries(arr[None, :])
        return self._search(
            qvecs, k, where, where_document, include, include_vectors,
            search_options(ef_search, nprobe, target_recall, strategy), explain,
        )[0]

    def search_batch(
        self,
        queries: Sequence[str] | np.ndarray,
        k: int = 10,
        *,
        where: dict[str, Any] | None = None,
        where_document: dict[str, Any] | None = None,
        include: Sequence[str] = ("text", "metadata"),
        include_vectors: bool = False,
        ef_search: int | None = None,
        nprobe: int | None = None,
        target_recall: float | None = None,
        strategy: str | None = None,
        explain: bool = False,
    ) -> list[Hits]:
        """:meth:`search` for many queries at once; one :class:`Hits` list per query."""
        opts = search_options(ef_search, nprobe, target_recall, strategy)
        return self._search(
            self._space.queries(queries), k, where, where_document, include, include_vectors,
            opts, explain,
        )

    def _search(
        self,
        qvecs: np.ndarray,
        k: int,
        where: dict[str, Any] | None,
        where_document: dict[str, Any] | None,
        include: Sequence[str],
        include_vectors: bool,
        opts: SearchOptions,
        explain: bool,
    ) -> list[Hits]:
        k = check_k(k)
        fields = check_include(include)
        node = vfilter.parse(where, where_document)
        result = None
        snap = self._snapshot
        lean = not fields and not include_vectors and not explain and len(qvecs) == 1
        key = (None if isinstance(node, vfilter.TrueFilter) else repr(node), k, opts) if lean else None
        if lean and snap is not None and snap.replays:
            replay = snap.replays.get(key)
            if replay is not None and snap.stamp == self._db.catalog.stamp():
                # a repeat of a plan that is one unfiltered index search: run just that search
                slots, scores = replay.run(qvecs, k)
                return [_ids_and_scores(snap.ids, slots[0].tolist(), scores[0].tolist())]
        if not fields and snap is not None and snap.stamp == self._db.catalog.stamp():
            # fast path: nothing changed since the last snapshot and no catalog read is needed
            try:
                result = execute(snap, qvecs, k, node, lambda s=snap: self._pinned_read(s), opts, explain=explain)
            except _Stale:
                result = None
        docs: dict[int, tuple[str, str | None, Metadata]] = {}
        t0 = time.perf_counter()
        if result is None:  # one read transaction: the snapshot, the search and the documents agree
            with self._db.catalog.read() as conn:
                self._check_alive(conn)
                snap = self._load_snapshot(conn)
                result = execute(snap, qvecs, k, node, lambda: nullcontext(conn), opts, explain=explain)
                t0 = time.perf_counter()
                if fields:
                    docs = self._docs.rows_by_slot(conn, np.unique(result[0][result[0] >= 0]))
        slots, scores, plan = result
        if lean and len(snap.replays) < 64 and (replay := replayable(snap, plan)) is not None:
            snap.replays[key] = replay
        vecs = None
        if include_vectors:
            wanted = np.unique(slots[slots >= 0])
            vecs = dict(zip(wanted.tolist(), np.asarray(snap.flat.vectors[wanted]), strict=True))
        want_text, want_meta = "text" in fields, "metadata" in fields
        out: list[Hits] = []
        ids = snap.ids
        for row, row_scores in zip(slots.tolist(), scores.tolist(), strict=True):
            if not docs and vecs is None:  # ids and scores only
                hits = _ids_and_scores(ids, row, row_scores)
            else:
                row, row_scores = _found(row, row_scores)
                row_ids = ids[row].tolist() if row else []
                hits = Hits()
                for slot, doc_id, sc in zip(row, row_ids, row_scores, strict=True):
                    doc = docs.get(slot)
                    hits.append(
                        Hit(
                            doc_id,
                            sc,
                            doc[1] if (doc and want_text) else None,
                            doc[2] if (doc and want_meta) else {},
                            None if vecs is None else vecs[slot],
                        )
                    )
            if explain:
                plan.timings_ms["fetch_ms"] = (time.perf_counter() - t0) * 1000
                hits.plan = plan
            out.append(hits)
        return out

    @contextmanager
    def _pinned_read(self, snap: Snapshot) -> Iterator[sqlite3.Connection]:
        """A read transaction that raises ``_Stale`` unless it sees ``snap``'s version."""
        with self._db.catalog.read() as conn:
            if self._check_alive(conn)[2] != snap.version:
                raise _Stale
            yield conn

    # ------------------------------------------------------------------ index
    def optimize(self, *, rebuild: bool = False) -> dict[str, Any]:
        """Merge fresh rows into the approximate index (building it if needed) and recalibrate.

        Called automatically after writes once the unindexed delta exceeds
        ``IndexConfig.delta_limit``; call it yourself after a bulk load. Rebuilds from scratch
        when ``rebuild=True`` or when too many indexed rows were deleted or replaced.

        Returns:
            What was done: ``{"action": "none" | "built" | "merged" | "rebuilt", ...}``.
        """
        cfg = self._config.index or IndexConfig()
        if cfg.kind is IndexKind.EXACT:
            return {"action": "none", "reason": "index kind is exact"}
        start = time.perf_counter()
        with self._db.catalog.read() as conn:
            self._check_alive(conn)
            snap = self._load_snapshot(conn)
            state = self._index_state(conn)
        if snap.n_live < cfg.min_rows:
            return {"action": "none", "reason": f"{snap.n_live} rows < min_rows {cfg.min_rows}"}
        ann, cal, action = build_or_merge(
            vectors=snap.flat.vectors,
            alive=snap.alive,
            live_slots=snap.live_slots,
            current=snap.ann,
            built_upto=snap.built_upto,
            cal=calibration_from_json(state.calibration),
            cfg=cfg,
            l2=self.metric is Metric.L2,
            load_current=self._db.segments_dir / state.file if state.file else None,
            rebuild=rebuild,
        )
        built = time.perf_counter() - start
        built_upto = snap.n_slots
        name = f"c{self._cid}.{cfg.kind.value}.{built_upto}.{snap.version}.faiss"
        ann.save(self._db.segments_dir / name)
        with self._db.catalog.write() as conn:
            if self._index_state(conn) != state:  # another process indexed meanwhile
                (self._db.segments_dir / name).unlink(missing_ok=True)
                return {"action": "none", "reason": "another writer updated the index first"}
            conn.execute(
                "INSERT OR REPLACE INTO index_state(cid, file, built_upto, n_indexed, calibration) "
                "VALUES (?, ?, ?, ?, ?)",
                (self._cid, name, built_upto, ann.ntotal, json.dumps(cal.to_json()) if cal else None),
            )
            self._bump(conn, None)
        if state.file and state.file != name:
            (self._db.segments_dir / state.file).unlink(missing_ok=True)
        self._ann_cache = (name, ann)
        return {
            "action": action,
            "rows_indexed": ann.ntotal,
            "build_seconds": built,
            "total_seconds": time.perf_counter() - start,
            "calibration": cal.to_json() if cal else None,
        }

    def _index_state(self, conn: sqlite3.Connection) -> IndexState:
        return read_state(conn, self._cid, has_table=self._db.catalog.has_table(conn, "index_state"))

    @contextmanager
    def bulk(self) -> Iterator[Collection]:
        """Defer the automatic index merges of the writes inside the block to its end.

        Each write stays atomic and durable on its own (searches inside the block see it, the
        rows past the index being scanned exactly); the index is brought up to date once, when
        the block exits, instead of after every ``delta_limit`` rows, each merge rewriting the
        whole index file. Use it around a bulk load done in many calls::

            with col.bulk():
                for batch in batches:
                    col.add(batch.ids, vectors=batch.vectors)
        """
        self._bulk_depth += 1
        try:
            yield self
        finally:
            self._bulk_depth -= 1
        if self._bulk_depth == 0:
            self._maybe_optimize()

    def _maybe_optimize(self) -> None:
        cfg = self._config.index
        if cfg is None or cfg.kind is IndexKind.EXACT or self._bulk_depth:
            return
        with self._db.catalog.read() as conn:
            n_slots, _, _ = self._check_alive(conn)
            state = self._index_state(conn)
            n_live = int(conn.execute(f"SELECT COUNT(*) FROM {self._table}").fetchone()[0])
            indexed_live = conn.execute(
                f"SELECT COUNT(*) FROM {self._table} WHERE slot < ?", (state.built_upto,)
            ).fetchone()[0]
        if needs_work(cfg, state, n_slots=n_slots, n_live=n_live, indexed_live=int(indexed_live)):
            self.optimize()

    # ------------------------------------------------------------------ maintenance
    def create_index(self, field: str) -> None:
        """Index a metadata field so filters on it use a B-tree instead of a scan."""
        check_metadata({field: None}, "field name")
        if field in self._config.indexed_fields:
            return
        with self._write() as conn:
            self._create_field_index(conn, field)
            config = replace(self._config, indexed_fields=(*self._config.indexed_fields, field))
            conn.execute(
                "UPDATE collections SET config = ? WHERE cid = ?",
                (json.dumps(config.to_json()), self._cid),
            )
        self._config = config

    def _create_field_index(self, conn: sqlite3.Connection, field: str) -> None:
        position = len(self._config.indexed_fields)
        conn.execute(
            f"CREATE INDEX IF NOT EXISTS {self._table}_f{position} ON {self._table}"
            f"({vfilter.json_extract_sql(field)})"
        )

    def disk_bytes(self) -> dict[str, int | None]:
        """Bytes on disk by component: vector segment, catalog tables (with their indexes) and
        the approximate index file."""
        with self._db.catalog.read() as conn:
            gen = self._check_alive(conn)[1]
            tables = self._db.catalog.table_bytes(conn, self._table)
            file = self._index_state(conn).file
        index = 0
        if file:
            try:
                index = (self._db.segments_dir / file).stat().st_size
            except FileNotFoundError:
                index = 0
        return {"vectors": self._segment(gen).disk_bytes(), "documents": tables, "index": index}

    def index_bytes(self) -> dict[str, int]:
        """Bytes of the approximate index by component (see :meth:`AnnIndex.component_bytes`),
        measured on the index as loaded; ``{}`` when no index is built."""
        with self._db.catalog.read() as conn:
            self._check_alive(conn)
            snap = self._load_snapshot(conn)
        return snap.ann.component_bytes() if snap.ann is not None else {}

    # ------------------------------------------------------------------ internals
    def _segment(self, generation: int) -> Segment:
        return Segment(self._db.segments_dir / f"c{self._cid}.g{generation}.f32", self.dim)

    def _check_alive(self, conn: sqlite3.Connection) -> tuple[int, int, int]:
        row = conn.execute(
            "SELECT n_slots, generation, version FROM collections WHERE cid = ?", (self._cid,)
        ).fetchone()
        if row is None:
            raise CollectionNotFoundError(f"collection {self.name!r} was dropped")
        return int(row[0]), int(row[1]), int(row[2])

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._db.catalog.write() as conn:
            n_slots, gen, _ = self._check_alive(conn)
            try:
                yield conn
            except BaseException:
                self._segment(gen).truncate(n_slots)
                raise

    def _bump(self, conn: sqlite3.Connection, n_slots: int | None) -> None:
        if n_slots is None:
            conn.execute(
                "UPDATE collections SET version = version + 1 WHERE cid = ?", (self._cid,)
            )
        else:
            conn.execute(
                "UPDATE collections SET n_slots = ?, version = version + 1 WHERE cid = ?",
                (n_slots, self._cid),
            )

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
        text_list: list[str] | list[None] = (
            check_texts(texts, n) if texts is not None else [None] * n
        )
        metas = check_metadatas(metadatas, n) if metadatas is not None else [{}] * n
        if vectors is not None:
            vecs = self._space.given(vectors, n)
        elif texts is None:
            raise InvalidInputError("pass texts= (to embed) or vectors= (precomputed), or both")
        else:
            vecs = self._space.documents(text_list, progress)  # type: ignore[arg-type]
        return ids, text_list, metas, vecs

    def _append(
        self,
        conn: sqlite3.Connection,
        ids: list[str],
        texts: Sequence[str | None],
        metas: Sequence[Any],
        vecs: np.ndarray,
        *,
        metadata_is_json: bool = False,
    ) -> None:
        n_slots, gen, _ = self._check_alive(conn)
        self._segment(gen).append(n_slots, vecs)
        meta_json = metas if metadata_is_json else [dump_metadata(m) for m in metas]
        self._docs.insert(conn, n_slots, ids, texts, meta_json)
        self._bump(conn, n_slots + len(ids))

    def _vectors_for(self, slots: list[int], conn: sqlite3.Connection) -> np.ndarray:
        n_slots, gen, _ = self._check_alive(conn)
        vectors = self._segment(gen).map(n_slots)
        return np.array(vectors[np.asarray(slots, dtype=np.int64)], dtype=np.float32)

    def _load_snapshot(self, conn: sqlite3.Connection) -> Snapshot:
        n_slots, gen, version = self._check_alive(conn)
        snap = self._snapshot
        if snap is not None and snap.version == version and snap.generation == gen:
            return snap
        stamp = self._db.catalog.stamp()
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (self._epoch_key,)).fetchone()
        l2 = self.metric is Metric.L2
        state = self._index_state(conn)
        ann = None
        cfg = self._config.index or IndexConfig()
        if state.file is not None and cfg.kind is not IndexKind.EXACT:
            if self._ann_cache is not None and self._ann_cache[0] == state.file:
                ann = self._ann_cache[1]
            else:
                ann = AnnIndex.load(self._db.segments_dir / state.file, cfg, l2=l2, mmap=True)
                self._ann_cache = (state.file, ann)
        snap = load_snapshot(
            conn,
            table=self._table,
            version=version,
            generation=gen,
            stamp=stamp,
            vectors=self._segment(gen).map(n_slots),
            l2=l2,
            ann=ann,
            built_upto=state.built_upto,
            calibration=calibration_from_json(state.calibration) if ann is not None else None,
            metadata_epoch=int(row[0]) if row else 0,
            previous=snap,
        )
        self._snapshot = snap
        return snap


class _Stale(Exception):
    """The collection changed between two stages of one search."""


_NONES = itertools.repeat(None)


def _found(row: list[int], row_scores: list[float]) -> tuple[list[int], list[float]]:
    """One result row without its padding (results are best first; ``-1`` pads a short list)."""
    if row and min(row) < 0:
        n = row.index(-1)
        return row[:n], row_scores[:n]
    return row, row_scores


def _ids_and_scores(ids: np.ndarray, row: list[int], row_scores: list[float]) -> Hits:
    """Hits with ids and scores only from one result row."""
    row, row_scores = _found(row, row_scores)
    return Hits(map(Hit, ids[row].tolist() if row else [], row_scores, _NONES))
