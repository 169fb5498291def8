"""Reading documents for ingestion: BEIR ``corpus.jsonl`` or any JSON Lines file (optionally .gz)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vecnest.errors import InvalidInputError
from vecnest.jsonl import iter_jsonl, open_text


@dataclass(frozen=True)
class JsonlSource:
    """Where documents come from and which fields make the id, the text and the metadata.

    Attributes:
        path: a ``.jsonl`` / ``.jsonl.gz`` file, or a BEIR directory holding ``corpus.jsonl``.
        id_field: field holding the document id (converted to str).
        text_fields: fields joined with one space (empty ones skipped) to form the text; BEIR's
            convention is ``title`` then ``text``.
        metadata_fields: fields kept as metadata; ``None`` keeps every field that is not the
            id or a text field.
    """

    path: Path
    id_field: str = "_id"
    text_fields: tuple[str, ...] = ("title", "text")
    metadata_fields: tuple[str, ...] | None = None

    @property
    def file(self) -> Path:
        """The JSON Lines file to read."""
        if self.path.is_dir():
            corpus = self.path / "corpus.jsonl"
            if not corpus.is_file():
                raise InvalidInputError(
                    f"{self.path} is a directory without corpus.jsonl; pass a JSONL file or a "
                    "BEIR dataset directory (corpus.jsonl, queries.jsonl, qrels/)"
                )
            return corpus
        if not self.path.is_file():
            raise InvalidInputError(f"no such file: {self.path}")
        return self.path

    def count(self) -> int:
        """Number of non-empty lines (documents) in the file."""
        with open_text(self.file) as fh:
            return sum(1 for line in fh if line.strip())

    def batches(self, size: int, limit: int | None = None) -> Iterator[tuple[list[str], list[str], list[dict[str, Any]]]]:
        """Yield ``(ids, texts, metadatas)`` batches of at most ``size`` documents."""
        ids: list[str] = []
        texts: list[str] = []
        metas: list[dict[str, Any]] = []
        for n, (doc_id, text, meta) in enumerate(self._records()):
            if limit is not None and n >= limit:
                break
            ids.append(doc_id)
            texts.append(text)
            metas.append(meta)
            if len(ids) == size:
                yield ids, texts, metas
                ids, texts, metas = [], [], []
        if ids:
            yield ids, texts, metas

    def _records(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        path = self.file
        skip = {self.id_field, *self.text_fields}
        for lineno, obj in iter_jsonl(path):
            if self.id_field not in obj:
                raise InvalidInputError(
                    f"{path}:{lineno}: no id field {self.id_field!r} (fields: "
                    f"{sorted(obj)}); choose it with --id-field"
                )
            text = " ".join(
                str(obj[f]).strip() for f in self.text_fields if obj.get(f)
            ).strip()
            if not text:
                raise InvalidInputError(
                    f"{path}:{lineno}: no text in fields {list(self.text_fields)}; choose "
                    "them with --text-fields"
                )
            keep: Sequence[str] = (
                self.metadata_fields
                if self.metadata_fields is not None
                else [k for k in obj if k not in skip]
            )
            meta = {k: obj[k] for k in keep if k in obj}
            yield str(obj[self.id_field]), text, meta
