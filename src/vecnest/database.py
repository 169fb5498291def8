"""A vecnest store on disk: ``vecnest.open(path)`` returns a :class:`Database` of collections.

Layout of a store directory (format version in :mod:`vecnest.store.manifest`)::

    vecnest.json          manifest: format, format_version, created_by
    catalog.sqlite3       SQLite (WAL): collections, documents, metadata, committed row counts
    catalog.sqlite3-changes   shared change counter: searches skip SQLite between writes
    segments/c<cid>.g<generation>.f32   vector rows of each collection, memory-mapped
    segments/c<cid>.<kind>.<rows>.<token>.faiss     approximate index (if any), memory-mapped
    segments/c<cid>.maint.lock           the collection's maintenance lock (see store.files)

File names and kinds: :mod:`vecnest.store.layout`; verification and repair: :meth:`Database.check`.

Later tiers (compressed codes, ANN graphs, lexical postings, shards) are further files beside a
collection's segment, registered in its catalog row; the format above does not change for them.

Concurrency: a ``Database`` and its collections may be shared by the threads of a process
(searches run in parallel, each thread reading through its own SQLite connection; writes are
serialised). Several processes may open the same store: each reader sees every write committed
before its search began; a second writer waits up to ``lock_timeout`` for the first. Index
maintenance follows commits (background thread, or inline with ``background=False``) and never
fails a write. The README's "Concurrency" section is the full model.
"""

from __future__ import annotations

import fcntl
import json
import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vecnest._version import __version__
from vecnest.collection import Collection
from vecnest import filter as vfilter
from vecnest.config import (
    CollectionConfig,
    IndexConfig,
    check_collection_name,
    index_for_dim,
    parse_index,
    parse_metric,
)
from vecnest.encode.base import Encoder, encoders_match
from vecnest.encode.registry import encoder_from_fingerprint, resolve_encoder
from vecnest.errors import (
    CollectionExistsError,
    CollectionNotFoundError,
    InvalidInputError,
    ModelMismatchError,
    NotAStoreError,
    ReadOnlyError,
    VecnestError,
)
from vecnest.compress.verify import TierCheck
from vecnest.index.verify import AnnIndexCheck
from vecnest.lexical.verify import LexicalIndexCheck
from vecnest.search.image_check import ImageCheck
from vecnest.lexical.analyzer import AnalyzerConfig
from vecnest.records import check_metadata
from vecnest.store.catalog import Catalog, docs_table
from vecnest.store.check import DerivedCheck, check_store
from vecnest.store.files import MaintenanceLock, check_real_dir, folder_bytes, fsync_dir, remove
from vecnest.store.handle import StoreHandle
from vecnest.store.layout import ROOT_ENTRIES, lock_name
from vecnest.store.manifest import (
    CATALOG_NAME,
    FORMAT_VERSION,
    MANIFEST_NAME,
    SEGMENTS_DIR,
    create_manifest,
    read_manifest,
)
from vecnest.store.report import CheckReport
from vecnest.store.verify import list_segments
from vecnest.store.worker import Worker

log = logging.getLogger("vecnest")

_UNSET: Any = object()


def _compression_config(pipeline: object, dim: int) -> str | None:
    """``create_collection(compression=...)``, validated and normalised (``None``: none)."""
    if pipeline is None:
        return None
    if not isinstance(pipeline, str):
        raise InvalidInputError(f"compression must be a pipeline string such as 'binary > float32'; got {pipeline!r}")
    from vecnest.compress.spec import parse_pipeline

    return str(parse_pipeline(pipeline, dim))


def _lexical_config(lexical: object) -> dict[str, Any] | None:
    """``create_collection(lexical=...)`` as the manifest's analyser dict (``None``: off)."""
    if lexical is None or lexical is False:
        return None
    if lexical is True:
        return AnalyzerConfig().to_json()
    if isinstance(lexical, AnalyzerConfig):
        return lexical.to_json()
    raise InvalidInputError(
        f"lexical must be True, False/None or a vecnest.lexical.AnalyzerConfig; got {lexical!r}"
    )


#: The derived data :meth:`Database.check` verifies and rebuilds (one entry per kind; see
#: :class:`vecnest.store.check.DerivedCheck`).
DERIVED_CHECKS: tuple[DerivedCheck, ...] = (AnnIndexCheck(), LexicalIndexCheck(), ImageCheck(), TierCheck())


def open(  # noqa: A001 - the public verb, like sqlite3.connect / shelve.open
    path: str | os.PathLike[str],
    *,
    read_only: bool = False,
    lock_timeout: float = 10.0,
    background: bool = True,
    huge_pages: bool = True,
) -> Database:
    """Open the store at ``path``, creating it if the directory is new or empty.

    Args:
        path: a directory.
        read_only: open for reading only (never takes the write lock; the store must exist;
            works on a read-only folder or mount).
        lock_timeout: seconds a write waits for another process's write to finish before
            raising :class:`~vecnest.errors.StorageLockedError`.
        background: run index merges in a background thread after writes (``True``), or in
            the writing call right after its commit (``False``). Either way a merge never
            fails or delays the outcome of the write: its errors are logged and retried.
        huge_pages: searches map an HNSW index file in place (page cache, shared by every
            process that opens the store); a graph of 16 MiB or more that stays the current
            one for 5 s after a search first loads it is then copied, once, into this
            process's memory on transparent huge pages (Linux), by a background thread (or now,
            by ``Collection.warm()``): 10-15 % less time per graph walk, for the graph's size in
            private memory per process. ``False`` keeps the shared map only (many reader
            processes of one large store).
    """
    return Database(Path(path), read_only=read_only, lock_timeout=lock_timeout, background=background, huge_pages=huge_pages)


class Database:
    """A store of named collections. Use :func:`vecnest.open`; close it (or use ``with``)."""

    def __init__(self, root: Path, *, read_only: bool, lock_timeout: float, background: bool = True, huge_pages: bool = True) -> None:
        if (
            isinstance(lock_timeout, bool)
            or not isinstance(lock_timeout, (int, float))
            or not math.isfinite(lock_timeout)
            or not 0 <= lock_timeout <= 86_400
        ):
            raise InvalidInputError(f"lock_timeout must be seconds in [0, 86400]; got {lock_timeout!r}")
        if not isinstance(huge_pages, bool):
            raise InvalidInputError(f"huge_pages must be True or False; got {huge_pages!r}")
        self.root = root
        self.read_only = read_only
        self.segments_dir = root / SEGMENTS_DIR
        self._open: dict[str, Collection] = {}
        if root.exists() and not root.is_dir():
            raise NotAStoreError(f"{root} is a file, not a vecnest store directory; pass a directory path")
        if not (root / MANIFEST_NAME).exists():
            self._create_or_wait(root, read_only, lock_timeout)
        self.manifest = read_manifest(root)
        check_real_dir(self.segments_dir, "segments folder")
        if not (root / CATALOG_NAME).is_file():
            raise NotAStoreError(f"{root} has a vecnest manifest but no {CATALOG_NAME}")
        self.catalog = Catalog(root / CATALOG_NAME, read_only=read_only, lock_timeout=lock_timeout)
        try:
            self.catalog.ensure_schema()
        except BaseException:
            self.catalog.close()
            raise
        self._worker = Worker(background=background, name=str(root))
        self._store = StoreHandle(root, self.catalog, self.segments_dir, self._worker, huge_pages=huge_pages)

    @staticmethod
    def _create_or_wait(root: Path, read_only: bool, lock_timeout: float) -> None:
        """Create a store at ``root`` (new or empty folder), or wait for the process creating
        it: creation runs under an exclusive ``flock`` on the folder, so several processes
        opening a new store at once all end up opening one complete store."""
        if read_only:
            if root.is_dir() and any(root.iterdir()):
                pass  # maybe being created right now: wait for it below
            else:
                raise NotAStoreError(f"no vecnest store at {root}; open it without read_only=True to create one")
        else:
            try:
                root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise NotAStoreError(f"cannot create a store at {root}: {exc}") from None
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH if read_only else fcntl.LOCK_EX)
            if (root / MANIFEST_NAME).exists():
                return  # another process finished creating it
            entries = [p.name for p in root.iterdir()]
            if read_only or (entries and not set(entries) <= ROOT_ENTRIES - {MANIFEST_NAME}):
                raise NotAStoreError(
                    f"{root} is not a vecnest store: it is a non-empty directory without {MANIFEST_NAME}. "
                    "Pass an empty or new directory to create a store, or the directory of an existing one"
                )
            (root / SEGMENTS_DIR).mkdir(exist_ok=True)
            catalog = Catalog(root / CATALOG_NAME, read_only=False, lock_timeout=lock_timeout)
            try:
                catalog.init_schema(FORMAT_VERSION, f"vecnest {__version__}")
            finally:
                catalog.close()
            create_manifest(root, __version__)  # last: a store without manifest is incomplete
            fsync_dir(root)
        finally:
            os.close(fd)  # releases the lock

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Finish the running maintenance job, then release the catalog (idempotent)."""
        self._store.closed.set()  # (no index of a closed store is promoted to huge pages)
        self._worker.close()
        self._open.clear()
        self.catalog.close()

    def wait_for_maintenance(self, timeout: float | None = None) -> bool:
        """Block until the background merges queued by earlier writes are done (``True``) or
        ``timeout`` seconds pass (``False``); see :meth:`Collection.wait_for_maintenance`."""
        return self._worker.wait(timeout)

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Database({str(self.root)!r}, read_only={self.read_only})"

    # ------------------------------------------------------------------ collections
    def create_collection(
        self,
        name: str,
        model: Any = "default",
        *,
        metric: str = "cosine",
        dim: int | None = None,
        indexed_fields: tuple[str, ...] | list[str] = (),
        index: str | IndexConfig | None = None,
        exist_ok: bool = False,
        lexical: bool | AnalyzerConfig | None = True,
        compression: str | None = None,
    ) -> Collection:
        """Create a collection.

        Args:
            name: 1–128 letters, digits, '.', '_' or '-'.
            model: ``"default"`` (all-MiniLM-L6-v2, int8 ONNX, offline), a
                ``"sentence-transformers:NAME_OR_PATH"`` string (extra ``torch``), an
                :class:`~vecnest.encode.Encoder` such as ``CallableEncoder(fn, dim, name)``,
                or ``None`` for a collection of precomputed vectors (then ``dim`` is required).
            metric: ``"cosine"``, ``"dot"`` or ``"l2"``.
            dim: vector dimension; taken from the model when one is given.
            indexed_fields: metadata fields given a SQLite expression index, so ``get()`` and
                ``delete()`` with a ``where=`` on them look rows up instead of scanning every
                document: on 74k arXiv titles, 17-35 ms → 0.02-0.5 ms for a selective equality or
                a 1-day range, no change for a filter matching half the rows
                (``benchmarks/indexed_fields.py``, 2 busy cores). Searches do not need it: their
                filters run on in-memory columns. Costs write time and disk per field. A list of
                names (``["year"]``, not ``"year"``).
            index: approximate index kept beside the exact vectors: ``"hnsw"``, ``"ivf"``,
                ``"ivf_pq"``, an :class:`~vecnest.config.IndexConfig`, or ``None``/``"exact"``
                (default: exact search only). Built once the collection has ``min_rows`` rows.
            exist_ok: return the existing collection instead of raising if the name is taken
                (its model must match).
            compression: a pipeline of compressed tiers, e.g. ``"binary-rot192/asym > int8 >
                float32"``: exact searches scan the first tier's codes in RAM for ``k ×
                rescore_multiplier`` candidates, each next tier (read from disk) rescores them
                (see :mod:`vecnest.compress`; ``vecnest tune`` picks one for a RAM budget).
                ``None``: float32 scans. The float32 vectors stay on disk whatever the pipeline.
            lexical: keep a BM25 index of the documents' texts for lexical and hybrid search:
                ``True`` (English analysis: lowercase, stop words, Snowball stemming), an
                :class:`~vecnest.lexical.AnalyzerConfig` (another language, no stemming …), or
                ``False``/``None`` (none).
        """
        check_collection_name(name)
        metric_ = parse_metric(metric)
        index_ = parse_index(index)
        encoder = resolve_encoder(model)
        if encoder is None:
            if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
                raise InvalidInputError(
                    f"a collection without a model stores precomputed vectors and needs dim= "
                    f"(a positive int); got dim={dim!r}"
                )
        else:
            if dim is not None and dim != encoder.dim:
                raise InvalidInputError(
                    f"dim={dim} contradicts the model {encoder.name!r}, whose dimension is "
                    f"{encoder.dim}; leave dim unset"
                )
            dim = encoder.dim
        index_ = index_for_dim(index_, int(dim))
        if exist_ok and name in self.list_collections():
            return self.get_collection(name, model=model)
        if not isinstance(indexed_fields, (list, tuple)):
            raise InvalidInputError(
                f"indexed_fields must be a list of field names; got {type(indexed_fields).__name__} "
                f"{indexed_fields!r}. For one field: indexed_fields=[{indexed_fields!r}]"
            )
        fields = tuple(dict.fromkeys(indexed_fields))
        for field in fields:
            check_metadata({field: None}, "indexed_fields entry")
        config = CollectionConfig(
            name=name,
            dim=int(dim),
            metric=metric_,
            encoder=encoder.fingerprint() if encoder is not None else None,
            indexed_fields=fields,
            format_version=FORMAT_VERSION,
            created_by=f"vecnest {__version__}",
            index=index_,
            lexical=_lexical_config(lexical),
            compression=_compression_config(compression, int(dim)),
        )
        with self.catalog.write() as conn:
            if conn.execute("SELECT 1 FROM collections WHERE name = ?", (name,)).fetchone():
                existing = True
            else:
                existing = False
                cur = conn.execute(
                    "INSERT INTO collections(name, config, created_at) VALUES (?, ?, ?)",
                    (name, json.dumps(config.to_json()), self.catalog.now()),
                )
                cid = int(cur.lastrowid)
                table = docs_table(cid)
                conn.execute(
                    f"CREATE TABLE {table} (slot INTEGER PRIMARY KEY, id TEXT NOT NULL "
                    "UNIQUE, text TEXT, metadata TEXT NOT NULL DEFAULT '{}')"
                )
                for position, field in enumerate(fields):  # in the same transaction
                    conn.execute(
                        f"CREATE INDEX {table}_f{position} ON {table}({vfilter.json_extract_sql(field)})"
                    )
        if existing:
            if exist_ok:  # created by another process between the check above and the lock
                return self.get_collection(name, model=model)
            raise CollectionExistsError(
                f"collection {name!r} already exists in {self.root}; use get_collection(), "
                "or create_collection(..., exist_ok=True)"
            )
        collection = Collection(self._store, cid, config, encoder)
        self._open[name] = collection
        return collection

    def get_collection(self, name: str, model: Any = _UNSET) -> Collection:
        """Open an existing collection.

        Args:
            name: the collection's name.
            model: leave unset to re-create the encoder recorded in the collection's manifest;
                pass an encoder to attach it (it must match the recorded one), or ``None`` to
                open without an encoder (vector queries only).

        Raises:
            CollectionNotFoundError: no such collection.
            ModelMismatchError: ``model`` is not the encoder the collection was built with.
        """
        check_collection_name(name)
        with self.catalog.read() as conn:
            row = conn.execute(
                "SELECT cid, config FROM collections WHERE name = ?", (name,)
            ).fetchone()
        cached = self._open.get(name)
        if cached is not None and model is _UNSET and row is not None and cached.cid == int(row[0]):
            return cached  # (a collection dropped and re-created elsewhere has a new cid)
        if row is None:
            known = self.list_collections()
            raise CollectionNotFoundError(
                f"no collection named {name!r} in {self.root}; it has "
                f"{known if known else 'no collections'}. Create it with create_collection()"
            )
        config = CollectionConfig.from_json(json.loads(row[1]))
        encoder = self._encoder_for(config, model)
        collection = Collection(self._store, int(row[0]), config, encoder)
        if model is _UNSET:
            self._open[name] = collection
        return collection

    def get_or_create_collection(self, name: str, model: Any = "default", **kwargs: Any) -> Collection:
        """:meth:`create_collection` with ``exist_ok=True``."""
        return self.create_collection(name, model, exist_ok=True, **kwargs)

    @staticmethod
    def _encoder_for(config: CollectionConfig, model: Any) -> Encoder | None:
        recorded = config.encoder
        if model is _UNSET:
            return encoder_from_fingerprint(recorded) if recorded else None
        encoder = resolve_encoder(model)
        if encoder is None:
            return None
        if recorded is None or not encoders_match(recorded, encoder.fingerprint()):
            was = recorded["name"] if recorded else "no model (precomputed vectors)"
            raise ModelMismatchError(
                f"collection {config.name!r} was built with {was}, but model "
                f"{encoder.name!r} was given; its vectors would not be comparable. Open it "
                "without model= to use the recorded encoder, or create a new collection"
            )
        return encoder

    def list_collections(self) -> list[str]:
        """Names of all collections, in creation order."""
        with self.catalog.read() as conn:
            return [r[0] for r in conn.execute("SELECT name FROM collections ORDER BY cid")]

    def drop_collection(self, name: str) -> None:
        """Delete a collection and all its data (its catalog rows at once, atomically; then its
        files — a crash between leaves only unreferenced files, which ``check`` sweeps)."""
        check_collection_name(name)
        with self.catalog.write() as conn:
            row = conn.execute("SELECT cid FROM collections WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise CollectionNotFoundError(f"no collection named {name!r} in {self.root}")
            cid = int(row[0])
            conn.execute(f"DROP TABLE {docs_table(cid)}")
            conn.execute("DELETE FROM collections WHERE cid = ?", (cid,))
            conn.execute("DELETE FROM index_state WHERE cid = ?", (cid,))
            conn.execute("DELETE FROM batches WHERE cid = ?", (cid,))
            conn.execute("DELETE FROM image_state WHERE cid = ?", (cid,))
            conn.execute("DELETE FROM lexical_state WHERE cid = ?", (cid,))
            conn.execute("DELETE FROM tier_state WHERE cid = ?", (cid,))
            conn.execute("DELETE FROM meta WHERE key LIKE ?", (f"c{cid}.%",))
        self._open.pop(name, None)
        self._remove_files(cid)

    def _remove_files(self, cid: int) -> None:
        """Remove the files of a dropped collection (its maintenance lock taken first, so an
        optimizer still writing for it finishes and sees the drop). The drop is committed
        already: a failure here is logged, never raised, and the files are left for
        ``vecnest check --repair`` to sweep. Links are removed, never followed."""
        lock = MaintenanceLock(self.segments_dir / lock_name(cid))
        try:
            with lock.hold(timeout=self.catalog.lock_timeout) as got:
                if not got:
                    log.warning("vecnest: files of dropped collection #%d are busy; `vecnest check --repair` removes them", cid)
                    return
                for entry in list_segments(self.segments_dir):
                    if entry.cid == cid and not entry.is_lock:
                        remove(self.segments_dir / entry.name)
            remove(lock.path)
            fsync_dir(self.segments_dir)
        except (OSError, VecnestError) as exc:
            log.warning("vecnest: could not remove the files of dropped collection #%d (%s); `vecnest check --repair` removes them", cid, exc)

    def check(self, repair: bool = False, *, models: Mapping[str, Any] | None = None) -> CheckReport:
        """Verify the store against its own records; with ``repair``, repair what can be.

        Checks the catalog (SQLite ``integrity_check``), the manifest and format versions, each
        collection's vectors against its committed rows and batch checksums, its derived data
        (the approximate index: present, loadable, of the right kind and dimension, holding every
        live row it should), and that every file is one the catalog names (leftovers of
        interrupted writes and dropped collections are reported). ``repair=True`` rebuilds
        derived data, sweeps leftovers and re-embeds lost vectors from their stored texts where
        the collection's encoder is at hand; it never deletes or changes an acknowledged
        document otherwise. See :mod:`vecnest.store.check`.

        Args:
            repair: repair what can be (the store must be writable).
            models: encoders to re-embed with, by collection name, for collections whose
                encoder cannot be re-created from its manifest (a ``CallableEncoder``).

        Returns:
            A :class:`~vecnest.store.report.CheckReport`: a verdict per collection, ``.ok``
            and ``.exit_code``.
        """
        if repair and self.read_only:
            raise ReadOnlyError(f"store {self.root} was opened read_only=True; check(repair=True) needs to write")
        return check_store(self, DERIVED_CHECKS, repair=repair, models=models)

    def repair_target(self, name: str, models: Mapping[str, Any]) -> tuple[Collection, Any]:
        """``(collection, embed)`` for :meth:`check`'s repairs (see :class:`CheckedStore`)."""
        model = models.get(name, _UNSET)
        try:
            collection = self.get_collection(name, model=model)
        except VecnestError:  # its encoder cannot be re-created here: repair without one
            collection = self.get_collection(name, model=None)
        self._open.pop(name, None)
        space = collection._space
        return collection, (lambda texts: space.documents(texts, None)) if collection.encoder is not None else None

    def info(self) -> dict[str, Any]:
        """A summary of the store: path, format, bytes on disk and each collection's details."""
        collections = []
        for name in self.list_collections():
            col = self.get_collection(name, model=None)
            fp = col.config.encoder
            bytes_ = col.disk_bytes()
            collections.append(
                {
                    "name": name,
                    "count": col.count(),
                    "dim": col.dim,
                    "metric": col.metric.value,
                    "model": fp["name"] if fp else None,
                    "vector_bytes": bytes_["vectors"],
                    "document_bytes": bytes_["documents"],
                }
            )
        segment_bytes = folder_bytes(self.segments_dir, recursive=False)
        return {
            "path": str(self.root),
            "format_version": FORMAT_VERSION,
            "disk_bytes": self.catalog.disk_bytes() + segment_bytes,
            "collections": collections,
        }
