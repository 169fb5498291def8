"""Passage vectors of long documents: split at ingest, embedded once, stored as derived data.

A single-vector model reads the first 256 tokens of a text (all-MiniLM-L6-v2; 71 % of SciFact's
documents are longer). The rest of a long document is split into overlapping windows of words
(:func:`split_passages`) whose vectors are stored here, so a reranker can score a document by
its best passage (``vecnest.search.rerank``).

Storage (a :class:`vecnest.derived.DerivedDir`, manifest ``passages.json``): chunks
``c-<token>/`` of ``owners.npy`` ``(p,) int64`` (the owning slot, ascending) and
``vectors.npy`` ``(p, dim) float16`` (unit vectors; float16 halves the bytes and changes no
ranking measurably — the shared SciFact embeddings are float16 too), with the coverage
``(generation, upto)`` like the lexical index. Cost on SciFact (5,183 documents; 4,173 have
more than ``MAX_WORDS`` words): 5,439 passages, 4.2 MB as float16 (+ 43 KB of owners), and
one model pass per passage at ingest — ingest embedding time x1.4–2.0 (two runs of
``benchmarks/hybrid.py`` on a busy machine). Worth it for dense-only search (SciFact nDCG@10
0.647 → 0.659), not for hybrid search, whose BM25 side already reads the whole text.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vecnest.derived import DerivedDir
from vecnest.errors import InvalidInputError, PassageIndexError

__all__ = ["split_passages", "PassageIndex", "MAX_WORDS", "STRIDE"]

#: Words per passage: ~235 word-piece tokens of English prose at 1.57 pieces per word (SciFact),
#: inside the default model's 256-token window.
MAX_WORDS = 150
#: Words between passage starts (30 words of overlap); the first passage starts here, since the
#: document's own vector covers its head.
STRIDE = 120
MANIFEST_NAME = "passages.json"
_MAGIC = "vecnest-passages"
FORMAT_VERSION = 1
MAX_CHUNKS = 8


def split_passages(text: str | None, *, max_words: int = MAX_WORDS, stride: int = STRIDE) -> list[str]:
    """The windows of a long text beyond what its own vector covers.

    Args:
        text: the document text (``None``/short: no passages).
        max_words: words per window.
        stride: words between window starts (``< max_words`` for overlap); windows start at
            ``stride, 2·stride, …`` until one reaches the end.

    Returns:
        Passage texts, words joined by single spaces (empty when ``text`` has at most
        ``max_words`` words).
    """
    if not 0 < stride <= max_words:
        raise InvalidInputError(
            f"split_passages needs 0 < stride <= max_words; got stride={stride}, max_words={max_words}"
        )
    if not text:
        return []
    words = text.split()
    if len(words) <= max_words:
        return []
    out = []
    start = stride
    while True:
        out.append(" ".join(words[start : start + max_words]))
        if start + max_words >= len(words):
            return out
        start += stride


class PassageIndex:
    """Stored passage vectors of one collection (one writer; readers from any thread)."""

    def __init__(
        self, store: DerivedDir, manifest: dict[str, Any], chunks: list[dict[str, np.ndarray]]
    ) -> None:
        self._store = store
        self._manifest = manifest
        self._set(chunks)
        self._buffer: list[tuple[np.ndarray, np.ndarray]] = []
        self._lock = threading.Lock()

    def _set(self, chunks: list[dict[str, np.ndarray]]) -> None:
        self._chunks = chunks
        dim = int(self._manifest["dim"])
        self.owners = np.concatenate([c["owners"] for c in chunks]) if chunks else np.empty(0, np.int64)
        self.vectors = (
            np.concatenate([np.asarray(c["vectors"]) for c in chunks])
            if chunks
            else np.empty((0, dim), np.float16)
        )

    @staticmethod
    def _dir(directory: str | Path) -> DerivedDir:
        return DerivedDir(Path(directory), MANIFEST_NAME, _MAGIC, FORMAT_VERSION, PassageIndexError)

    @classmethod
    def create(
        cls,
        directory: str | Path,
        *,
        dim: int,
        generation: int = 0,
        max_words: int = MAX_WORDS,
        stride: int = STRIDE,
    ) -> PassageIndex:
        """An empty passage store in a new directory."""
        store = cls._dir(directory)
        manifest = store.init(
            {
                "dim": int(dim),
                "generation": int(generation),
                "upto": 0,
                "chunks": [],
                "max_words": max_words,
                "stride": stride,
            }
        )
        return cls(store, manifest, [])

    @classmethod
    def open(cls, directory: str | Path) -> PassageIndex:
        """Open an existing passage store."""
        store = cls._dir(directory)
        manifest, chunks = store.read_consistent(
            lambda m: [store.load_arrays(c["name"], c["files"]) for c in m["chunks"]]
        )
        return cls(store, manifest, chunks)

    @property
    def upto(self) -> int:
        """Documents at slots below this have had their passages stored."""
        return int(self._manifest["upto"])

    @property
    def generation(self) -> int:
        """Segment generation of the slots."""
        return int(self._manifest["generation"])

    def nbytes(self) -> int:
        """Bytes on disk."""
        return sum(sum(c["files"].values()) for c in self._manifest["chunks"])

    def embed_and_add(
        self, slots: np.ndarray, texts: Sequence[str | None], embed: Callable[[list[str]], np.ndarray]
    ) -> int:
        """Split ``texts`` and buffer the passages' vectors (``embed``: texts → ``(n, dim)``
        unit vectors, the collection's document encoder). Returns the number of passages."""
        slots = np.asarray(slots, dtype=np.int64)
        pieces = [
            split_passages(t, max_words=self._manifest["max_words"], stride=self._manifest["stride"])
            for t in texts
        ]
        owners = np.repeat(slots, [len(p) for p in pieces])
        flat = [p for ps in pieces for p in ps]
        vecs = (
            np.asarray(embed(flat), dtype=np.float32)
            if flat
            else np.empty((0, int(self._manifest["dim"])), np.float32)
        )
        self.add(owners, vecs)
        return len(flat)

    def add(self, owners: np.ndarray, vectors: np.ndarray) -> None:
        """Buffer passages: ``(p,) int64`` owners (ascending, ``>= upto``) and ``(p, dim)`` vectors."""
        owners = np.asarray(owners, dtype=np.int64)
        vectors = np.asarray(vectors)
        dim = int(self._manifest["dim"])
        if vectors.shape != (owners.size, dim):
            raise InvalidInputError(
                f"PassageIndex.add: expected ({owners.size}, {dim}) vectors; got {vectors.shape}"
            )
        buffered = [o for o, _ in self._buffer if o.size]
        floor = int(buffered[-1][-1]) + 1 if buffered else self.upto
        if owners.size and (np.any(np.diff(owners) < 0) or owners[0] < floor):
            raise InvalidInputError(
                f"PassageIndex.add: owners must ascend and start at or after {floor} (upto, or past "
                f"the last buffered document); got {owners[0]}..{owners[-1]}"
            )
        self._buffer.append((owners, vectors.astype(np.float16)))

    def commit(self, *, upto: int, alive: np.ndarray | None = None) -> None:
        """Publish buffered passages with coverage ``upto``; with ``alive`` (the catalog's live
        slots), merges chunks beyond ``MAX_CHUNKS`` dropping the passages of deleted documents."""
        with self._lock:
            entries = list(self._manifest["chunks"])
            chunks = list(self._chunks)
            if self._buffer:
                owners = np.concatenate([o for o, _ in self._buffer])
                vecs = np.concatenate([v for _, v in self._buffer])
                name, files = self._store.write_arrays("c", {"owners": owners, "vectors": vecs})
                entries.append({"name": name, "rows": int(owners.size), "files": files})
                chunks.append({"owners": owners, "vectors": vecs})
            if alive is not None and len(chunks) > MAX_CHUNKS:
                owners = np.concatenate([c["owners"] for c in chunks])
                vecs = np.concatenate([np.asarray(c["vectors"]) for c in chunks])
                keep = owners < alive.size
                keep[keep] = alive[owners[keep]]
                name, files = self._store.write_arrays("c", {"owners": owners[keep], "vectors": vecs[keep]})
                entries = [{"name": name, "rows": int(keep.sum()), "files": files}]
                chunks = [{"owners": owners[keep], "vectors": vecs[keep]}]
            manifest = {**self._manifest, "chunks": entries, "upto": int(upto)}
            self._manifest = self._store.publish(manifest, {e["name"] for e in entries})
            self._set(chunks)
            self._buffer.clear()
