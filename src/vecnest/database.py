"""A vecnest store on disk: ``vecnest.open(path)`` returns a :class:`Database` of collections.

Layout of a store directory (format version in :mod:`vecnest.store.manifest`)::

    vecnest.json          manifest: format, format_version, created_by
    catalog.sqlite3       SQLite (WAL): collections, documents, metadata, committed row counts
    catalog.sqlite3-changes   shared change counter: searches skip SQLite between writes
    segments/c<cid>.g<generation>.f32   vector rows of each collection, memory-mapped
    segments/c<cid>.<kind>.<rows>.<version>.faiss   approximate index (if any), memory-mapped

Later tiers (compressed codes, ANN graphs, lexical postings, shards) are further files beside a
collection's segment, registered in its catalog row; the format above does not change for them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from vecnest._version import __version__
from vecnest.collection import Collection
from vecnest.config import CollectionConfig, IndexConfig, check_collection_name, parse_index, parse_metric
from vecnest.encode.base import Encoder, encoders_match
from vecnest.encode.registry import encoder_from_fingerprint, resolve_encoder
from vecnest.errors import (
    CollectionExistsError,
    CollectionNotFoundError,
    InvalidInputError,
    ModelMismatchError,
    NotAStoreError,
)
from vecnest.store.catalog import Catalog, docs_table
from vecnest.store.manifest import (
    CATALOG_NAME,
    FORMAT_VERSION,
    SEGMENTS_DIR,
    create_manifest,
    fsync_dir,
    read_manifest,
)
from vecnest.store.segments import Segment

_UNSET: Any = object()


def open(  # noqa: A001 - the public verb, like sqlite3.connect / shelve.open
    path: str | os.PathLike[str],
    *,
    read_only: bool = False,
    lock_timeout: float = 10.0,
) -> Database:
    """Open the store at ``path``, creating it if the directory is new or empty.

    Args:
        path: a directory.
        read_only: open for reading only (never takes the write lock; the store must exist).
        lock_timeout: seconds a write waits for another process's write to finish before
            raising :class:`~vecnest.errors.StorageLockedError`.
    """
    return Database(Path(path), read_only=read_only, lock_timeout=lock_timeout)


class Database:
    """A store of named collections. Use :func:`vecnest.open`; close it (or use ``with``)."""

    def __init__(self, root: Path, *, read_only: bool, lock_timeout: float) -> None:
        if isinstance(lock_timeout, bool) or not isinstance(lock_timeout, (int, float)) or lock_timeout < 0:
            raise InvalidInputError(f"lock_timeout must be seconds >= 0; got {lock_timeout!r}")
        self.root = root
        self.read_only = read_only
        self.segments_dir = root / SEGMENTS_DIR
        fresh = self._check_path(root, read_only)
        if fresh:
            root.mkdir(parents=True, exist_ok=True)
            self.segments_dir.mkdir(exist_ok=True)
            self.catalog = Catalog(root / CATALOG_NAME, read_only=False, lock_timeout=lock_timeout)
            self.catalog.init_schema(FORMAT_VERSION, f"vecnest {__version__}")
            create_manifest(root, __version__)  # last: a store without manifest is incomplete
            fsync_dir(root)
        else:
            self.manifest = read_manifest(root)
            if not (root / CATALOG_NAME).is_file():
                raise NotAStoreError(f"{root} has a vecnest manifest but no {CATALOG_NAME}")
            self.catalog = Catalog(
                root / CATALOG_NAME, read_only=read_only, lock_timeout=lock_timeout
            )
            self.catalog.ensure_schema()
        self._open: dict[str, Collection] = {}

    @staticmethod
    def _check_path(root: Path, read_only: bool) -> bool:
        """True if a new store must be created at ``root``."""
        if root.exists() and not root.is_dir():
            raise NotAStoreError(
                f"{root} is a file, not a vecnest store directory; pass a directory path"
            )
        if root.is_dir() and any(root.iterdir()):
            return False
        if read_only:
            raise NotAStoreError(
                f"no vecnest store at {root}; open it without read_only=True to create one"
            )
        return True

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Release the catalog connection."""
        self._open.clear()
        self.catalog.close()

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
            indexed_fields: metadata fields to index for fast filtering.
            index: approximate index kept beside the exact vectors: ``"hnsw"``, ``"ivf"``,
                ``"ivf_pq"``, an :class:`~vecnest.config.IndexConfig`, or ``None``/``"exact"``
                (default: exact search only). Built once the collection has ``min_rows`` rows.
            exist_ok: return the existing collection instead of raising if the name is taken
                (its model must match).
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
        if exist_ok and name in self.list_collections():
            return self.get_collection(name, model=model)
        config = CollectionConfig(
            name=name,
            dim=int(dim),
            metric=metric_,
            encoder=encoder.fingerprint() if encoder is not None else None,
            indexed_fields=(),
            format_version=FORMAT_VERSION,
            created_by=f"vecnest {__version__}",
            index=index_,
        )
        if index_.kind.value == "ivf_pq" and config.dim % index_.pq_m:
            raise InvalidInputError(
                f"IndexConfig.pq_m={index_.pq_m} must divide the dimension {config.dim}; pick a divisor"
            )
        with self.catalog.write() as conn:
            if conn.execute("SELECT 1 FROM collections WHERE name = ?", (name,)).fetchone():
                raise CollectionExistsError(
                    f"collection {name!r} already exists in {self.root}; use get_collection(), "
                    "or create_collection(..., exist_ok=True)"
                )
            cur = conn.execute(
                "INSERT INTO collections(name, config, created_at) VALUES (?, ?, ?)",
                (name, json.dumps(config.to_json()), self.catalog.now()),
            )
            cid = int(cur.lastrowid)
            conn.execute(
                f"CREATE TABLE {docs_table(cid)} (slot INTEGER PRIMARY KEY, id TEXT NOT NULL "
                "UNIQUE, text TEXT, metadata TEXT NOT NULL DEFAULT '{}')"
            )
        collection = Collection(self, cid, config, encoder)
        for field in indexed_fields:
            collection.create_index(field)
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
        cached = self._open.get(name)
        if cached is not None and model is _UNSET:
            return cached
        with self.catalog.read() as conn:
            row = conn.execute(
                "SELECT cid, config FROM collections WHERE name = ?", (name,)
            ).fetchone()
        if row is None:
            known = self.list_collections()
            raise CollectionNotFoundError(
                f"no collection named {name!r} in {self.root}; it has "
                f"{known if known else 'no collections'}. Create it with create_collection()"
            )
        config = CollectionConfig.from_json(json.loads(row[1]))
        encoder = self._encoder_for(config, model)
        collection = Collection(self, int(row[0]), config, encoder)
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
        """Delete a collection and all its data."""
        with self.catalog.write() as conn:
            row = conn.execute(
                "SELECT cid, config, generation FROM collections WHERE name = ?", (name,)
            ).fetchone()
            if row is None:
                raise CollectionNotFoundError(f"no collection named {name!r} in {self.root}")
            conn.execute(f"DROP TABLE {docs_table(int(row[0]))}")
            conn.execute("DELETE FROM collections WHERE cid = ?", (row[0],))
            conn.execute("DELETE FROM meta WHERE key = ?", (f"c{int(row[0])}.metadata_rewrites",))
        dim = int(json.loads(row[1])["dim"])
        Segment(self.segments_dir / f"c{int(row[0])}.g{int(row[2])}.f32", dim).remove()
        self._open.pop(name, None)

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
            self._open.pop(name, None)  # opened without encoder: do not cache
        segment_bytes = sum(p.stat().st_size for p in self.segments_dir.glob("*.f32"))
        return {
            "path": str(self.root),
            "format_version": FORMAT_VERSION,
            "disk_bytes": self.catalog.disk_bytes() + segment_bytes,
            "collections": collections,
        }
