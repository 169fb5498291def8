"""Engine configuration: closed choices as ``StrEnum`` and frozen dataclasses."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from vecnest.errors import InvalidInputError

#: Largest ``k`` a search accepts; beyond this, page through ``Collection.get`` instead.
MAX_K = 10_000

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class Metric(StrEnum):
    """How a query and a stored vector are compared. Scores are always "higher is better"."""

    COSINE = "cosine"  #: cosine similarity; vectors are L2-normalised on write, score in [-1, 1]
    DOT = "dot"  #: raw inner product; for models trained with un-normalised dot scores
    L2 = "l2"  #: score = -squared Euclidean distance


def parse_metric(metric: str | Metric) -> Metric:
    """Return ``metric`` as a :class:`Metric`, or raise a clear error."""
    try:
        return Metric(metric)
    except ValueError:
        raise InvalidInputError(
            f"metric must be one of {[m.value for m in Metric]}; got {metric!r}. "
            "Use 'cosine' for sentence-embedding models unless their card says otherwise."
        ) from None


def check_collection_name(name: object) -> str:
    """Validate a collection name: 1–128 chars of letters, digits, '.', '_' or '-'."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InvalidInputError(
            "collection name must be 1-128 characters of letters, digits, '.', '_' or '-', "
            f"starting with a letter or digit; got {name!r}"
        )
    return name


@dataclass(frozen=True)
class CollectionConfig:
    """Everything that defines a collection; saved as its manifest in the catalog.

    Attributes:
        name: the collection's name inside its store.
        dim: vector dimension; every stored and query vector has exactly this many components.
        metric: how vectors are compared (see :class:`Metric`).
        encoder: fingerprint of the encoder that produced the vectors (model name, backend,
            weights checksum, pooling, prompts), or ``None`` for a vectors-only collection.
            Opening the collection with a different encoder is an error, because mixing
            embedding spaces silently ruins search quality.
        indexed_fields: metadata fields with a SQLite expression index; filters on them are
            answered from the index instead of a scan. Costs write time and disk.
        format_version: on-disk format version that wrote this collection.
        created_by: vecnest version that created it.
    """

    name: str
    dim: int
    metric: Metric = Metric.COSINE
    encoder: dict[str, Any] | None = None
    indexed_fields: tuple[str, ...] = field(default_factory=tuple)
    format_version: int = 1
    created_by: str = ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict (the manifest form)."""
        out = asdict(self)
        out["metric"] = self.metric.value
        out["indexed_fields"] = list(self.indexed_fields)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CollectionConfig:
        """Inverse of :meth:`to_json`."""
        return cls(
            name=data["name"],
            dim=int(data["dim"]),
            metric=Metric(data["metric"]),
            encoder=data.get("encoder"),
            indexed_fields=tuple(data.get("indexed_fields", ())),
            format_version=int(data.get("format_version", 1)),
            created_by=data.get("created_by", ""),
        )
