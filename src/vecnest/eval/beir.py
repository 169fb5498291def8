"""Reading retrieval datasets in BEIR layout: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vecnest.errors import InvalidInputError
from vecnest.jsonl import iter_jsonl


class DatasetError(InvalidInputError):
    """A dataset directory is missing a file or holds a malformed line."""


@dataclass(frozen=True)
class BeirDataset:
    """A BEIR-format dataset in memory.

    Attributes:
        name: the directory's name.
        doc_ids: corpus ids in file order.
        doc_texts: ``(title + " " + text).strip()`` per document (BEIR's convention).
        doc_metadata: the remaining fields of each corpus line.
        queries: query id → text, only the queries that have judgements (if qrels exist).
        qrels: query id → {doc id: relevance grade}.
    """

    name: str
    doc_ids: list[str]
    doc_texts: list[str]
    doc_metadata: list[dict[str, Any]] = field(repr=False)
    queries: dict[str, str] = field(repr=False)
    qrels: dict[str, dict[str, int]] = field(repr=False)

    def corpus_hash(self) -> str:
        """SHA-256 over ids and texts: the key for cached embeddings of this corpus."""
        h = hashlib.sha256()
        for doc_id, text in zip(self.doc_ids, self.doc_texts, strict=True):
            h.update(doc_id.encode())
            h.update(b"\x00")
            h.update(text.encode())
            h.update(b"\x01")
        return h.hexdigest()


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    for lineno, obj in iter_jsonl(path, DatasetError):
        if "_id" not in obj:
            raise DatasetError(f"{path}:{lineno}: expected a JSON object with an '_id' field")
        rows.append(obj)
    return rows


def load_beir(path: str | Path, split: str = "test", *, require_qrels: bool = True) -> BeirDataset:
    """Load a BEIR dataset directory.

    Args:
        path: directory with ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv``.
        split: which qrels file to read.
        require_qrels: raise if queries or qrels are missing (set ``False`` for a bare corpus).

    Raises:
        DatasetError: a file is missing or malformed; the message names the file and line.
    """
    root = Path(path)
    if not root.is_dir():
        raise DatasetError(f"dataset path {root} is not a directory; pass a BEIR dataset directory")
    corpus_path = root / "corpus.jsonl"
    if not corpus_path.is_file():
        raise DatasetError(f"{root} has no corpus.jsonl; a BEIR dataset needs corpus.jsonl, queries.jsonl, qrels/{split}.tsv")
    corpus = _read_jsonl(corpus_path)
    doc_ids, texts, metas = [], [], []
    seen: set[str] = set()
    for lineno, row in enumerate(corpus, 1):
        doc_id = str(row["_id"])
        if doc_id in seen:
            raise DatasetError(f"{corpus_path}: duplicate _id {doc_id!r}")
        seen.add(doc_id)
        text = f"{row.get('title') or ''} {row.get('text') or ''}".strip()
        if not text:
            raise DatasetError(f"{corpus_path}: document {doc_id!r} (line {lineno}) has no title or text")
        doc_ids.append(doc_id)
        texts.append(text)
        metas.append({k: v for k, v in row.items() if k not in ("_id", "title", "text")})
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    queries_path, qrels_path = root / "queries.jsonl", root / "qrels" / f"{split}.tsv"
    if require_qrels:
        for p in (queries_path, qrels_path):
            if not p.is_file():
                raise DatasetError(f"{root} has no {p.relative_to(root)}; it is needed for evaluation")
    if queries_path.is_file():
        queries = {str(r["_id"]): str(r.get("text", "")) for r in _read_jsonl(queries_path)}
    if qrels_path.is_file():
        qrels = _read_qrels(qrels_path)
        unknown_q = [q for q in qrels if q not in queries]
        if unknown_q:
            raise DatasetError(f"{qrels_path}: query id {unknown_q[0]!r} is not in queries.jsonl")
        for q, judged in qrels.items():
            missing = [d for d in judged if d not in seen]
            if missing:
                raise DatasetError(f"{qrels_path}: query {q!r} judges doc {missing[0]!r}, which is not in corpus.jsonl")
        queries = {q: queries[q] for q in queries if q in qrels}
    return BeirDataset(root.name, doc_ids, texts, metas, queries, qrels)


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t")
        header = next(reader, None)
        if header is None:
            raise DatasetError(f"{path} is empty; expected a header 'query-id<TAB>corpus-id<TAB>score'")
        if header[:1] != ["query-id"]:  # headerless file: treat the first row as data
            reader = iter([header, *reader])
        for lineno, row in enumerate(reader, 2):
            if not row:
                continue
            if len(row) < 3:
                raise DatasetError(f"{path}:{lineno}: expected 3 tab-separated columns, got {row!r}")
            try:
                grade = int(row[2])
            except ValueError:
                raise DatasetError(f"{path}:{lineno}: score {row[2]!r} is not an integer") from None
            qrels.setdefault(row[0], {})[row[1]] = grade
    return qrels
