"""What a collection stores and returns (``Document``, ``Hit``), and validation of input batches.

Validation runs before anything touches the store, so a bad batch is rejected whole.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vecnest.config import MAX_K
from vecnest.errors import DimensionMismatchError, DuplicateIdError, InvalidInputError

JSONScalar = str | int | float | bool | None
Metadata = dict[str, Any]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
#: Longest id accepted, in characters.
MAX_ID_LEN = 512


@dataclass(frozen=True)
class Document:
    """A stored document.

    Attributes:
        id: the caller's identifier.
        text: the document's text (``None`` when only a vector was stored).
        metadata: JSON-like attributes used by filters.
        vector: ``(dim,) float32`` as stored (normalised for cosine), when asked for.
    """

    id: str
    text: str | None
    metadata: Metadata = field(default_factory=dict)
    vector: np.ndarray | None = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class Hit:
    """One search result; ``score`` is higher-is-better (see :class:`vecnest.config.Metric`).

    A plain slotted dataclass (not frozen): a search builds ``k`` of these per query, and a
    frozen dataclass's ``__init__`` costs several times more.
    """

    id: str
    score: float
    text: str | None
    metadata: Metadata = field(default_factory=dict)
    vector: np.ndarray | None = field(default=None, repr=False, compare=False)


class Hits(list[Hit]):
    """The results of one search: a list of :class:`Hit`, best first.

    Attributes:
        plan: how the search was executed (a :class:`vecnest.search.planner.Plan`) when it was
            asked for with ``explain=True``, else ``None``.
    """

    plan: Any = None


_NONES = itertools.repeat(None)


def found(row: list[int], row_scores: list[float]) -> tuple[list[int], list[float]]:
    """One result row without its padding (results are best first; ``-1`` pads a short list)."""
    if row and min(row) < 0:
        n = row.index(-1)
        return row[:n], row_scores[:n]
    return row, row_scores


#: Ids of at most this many UTF-8 bytes are kept in a fixed-width bytes array (see
#: ``search.snapshot.IdBuffer``): at most 64 bytes a slot, never more than a ``str`` object and
#: its pointer cost (~57 bytes and 8 for a one-character id), whatever the longest id is.
MAX_ID_WIDTH = 64


def encode_ids(ids: list[str] | tuple[str, ...] | np.ndarray) -> np.ndarray | None:
    """``ids`` as a fixed-width UTF-8 bytes array, or ``None`` where one does not fit: longer
    than :data:`MAX_ID_WIDTH` bytes, ending in a NUL (which such an array drops) or not
    encodable (a lone surrogate, which ``check_ids`` refuses now but an older store may hold)."""
    try:
        encoded = [x.encode() for x in ids]
    except (UnicodeEncodeError, AttributeError):
        return None
    if not encoded:
        return np.zeros(0, dtype="S1")
    width = max(map(len, encoded))
    if width > MAX_ID_WIDTH or any(b.endswith(b"\x00") for b in encoded):
        return None
    return np.array(encoded, dtype=f"S{max(width, 1)}")


_utf8 = bytes.decode


def id_list(ids: np.ndarray, slots: np.ndarray | list[int]) -> list[str]:
    """The ids at ``slots`` of a snapshot's id array: fixed-width UTF-8 bytes (decoded here) or,
    where the ids did not fit one, ``str`` objects (see ``search.snapshot.IdBuffer``)."""
    got = ids[slots].tolist()
    return list(map(_utf8, got)) if ids.dtype.kind == "S" else got


def row_hits(ids: np.ndarray, slots: np.ndarray, scores: np.ndarray) -> Hits:
    """Hits with ids and scores only from one result row of an index (``(k,)`` arrays over
    the slots of ``ids``): the hot path of repeated searches (indexing ``ids`` with the array
    itself, not a list)."""
    if len(slots) and slots.item(-1) < 0:  # (padding sits at the end of a short row)
        return ids_and_scores(ids, slots.tolist(), scores.tolist())
    return Hits(map(Hit, id_list(ids, slots), scores.tolist(), _NONES))


def ids_and_scores(ids: np.ndarray, row: list[int], row_scores: list[float]) -> Hits:
    """Hits with ids and scores only from one result row."""
    if row and row[-1] < 0:  # (padding sits at the end of a short row)
        row, row_scores = found(row, row_scores)
    return Hits(map(Hit, id_list(ids, row) if row else [], row_scores, _NONES))


def _preview(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _as_list(value: object, what: str, example: str) -> list[Any]:
    if isinstance(value, (str, bytes, dict)) or not isinstance(value, (Sequence, np.ndarray)):
        raise InvalidInputError(
            f"{what} must be a list (one entry per document); got {type(value).__name__} "
            f"{_preview(value)}. Batches are lists even for one document: {example}"
        )
    return list(value)


def check_text(value: str, where: str) -> str:
    """Raise unless ``value`` can be stored as UTF-8 text (no lone surrogate such as
    ``'\\ud800'``, which a broken decoder or ``surrogateescape`` leaves behind)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(
            f"{where} is not valid Unicode text: it holds the lone surrogate "
            f"{value[exc.start]!r} at position {exc.start}, which UTF-8 cannot store. Decode "
            "the source with errors='replace' (or fix its encoding) before passing it"
        ) from None
    return value


def check_id(doc_id: object, where: str = "id") -> str:
    """Validate one id: a non-empty ``str`` of at most 512 characters, valid UTF-8, no NUL."""
    if not isinstance(doc_id, str):
        raise InvalidInputError(
            f"{where} must be a str; got {type(doc_id).__name__} {_preview(doc_id)}. "
            f"Convert ids with str(), e.g. ids=[str(x) for x in my_ids]"
        )
    if not doc_id or len(doc_id) > MAX_ID_LEN:
        raise InvalidInputError(f"{where} must be 1-{MAX_ID_LEN} characters; got {len(doc_id)} characters")
    if "\x00" in doc_id:
        raise InvalidInputError(
            f"{where} = {_preview(doc_id)} contains a NUL character (\\x00); SQLite's lookups "
            "would cut the id there and match another document. Remove or replace it"
        )
    return check_text(doc_id, where)


def check_ids(ids: object, *, allow_existing_dupes: bool = False) -> list[str]:
    """Validate a batch of ids: a list of unique, non-empty strings (see :func:`check_id`)."""
    items = _as_list(ids, "ids", "ids=['doc-1']")
    if not items:
        raise InvalidInputError("ids is empty; pass at least one id")
    seen: set[str] = set()
    for i, doc_id in enumerate(items):
        check_id(doc_id, f"ids[{i}]")
        if doc_id in seen and not allow_existing_dupes:
            raise DuplicateIdError(
                f"id {doc_id!r} appears more than once in this batch (again at position {i}); "
                "ids within one call must be unique"
            )
        seen.add(doc_id)
    return items


def check_texts(texts: object, n: int) -> list[str]:
    """Validate a batch of texts: ``n`` non-empty strings."""
    items = _as_list(texts, "texts", "texts=['some text']")
    if len(items) != n:
        raise InvalidInputError(f"expected {n} texts (one per id); got {len(items)}")
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise InvalidInputError(
                f"texts[{i}] must be a str; got {type(text).__name__} {_preview(text)}"
            )
        if not text.strip():
            raise InvalidInputError(
                f"texts[{i}] is empty or whitespace; every document needs some text to embed "
                "(drop the document, or pass vectors= for it)"
            )
        check_text(text, f"texts[{i}]")
    return items


def _check_value(value: object, where: str) -> object:
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidInputError(
                f"{where} contains a NUL character (\\x00), which SQLite's JSON functions cut strings at; "
                "remove it or encode the value"
            )
        return check_text(value, where)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise InvalidInputError(f"{where} = {value} does not fit in a signed 64-bit integer")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(f"{where} = {value}: NaN and infinity are not valid metadata")
        return value
    raise InvalidInputError(
        f"{where} has type {type(value).__name__} ({_preview(value)}); metadata values must be "
        "str, int, float, bool, None, or a list of str/int/float/bool"
    )


def check_metadata(metadata: object, where: str = "metadata") -> Metadata:
    """Validate one metadata dict and return a normalised copy (numpy scalars become Python)."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise InvalidInputError(
            f"{where} must be a dict of field -> value; got {type(metadata).__name__} "
            f"{_preview(metadata)}"
        )
    out: Metadata = {}
    for key, value in metadata.items():
        if (
            not isinstance(key, str)
            or not key
            or key.startswith("$")
            or any(ch in '"\\' or ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in key)
        ):
            raise InvalidInputError(
                f"{where} has key {key!r}; keys must be non-empty strings that do not start "
                "with '$' and contain no '\"', no backslash and no control character (the "
                "filter language could not address them)"
            )
        check_text(key, f"{where} key {key!r}")
        path = f"{where}[{key!r}]"
        if isinstance(value, (list, tuple, np.ndarray)):
            items = []
            for j, item in enumerate(value):
                checked = _check_value(item, f"{path}[{j}]")
                if checked is None:
                    raise InvalidInputError(f"{path}[{j}] is None; lists may not contain None")
                items.append(checked)
            out[key] = items
        else:
            out[key] = _check_value(value, path)
    return out


def check_metadatas(metadatas: object, n: int) -> list[Metadata]:
    """Validate a batch of ``n`` metadata dicts (``None`` entries mean empty metadata)."""
    items = _as_list(metadatas, "metadatas", "metadatas=[{'year': 2025}]")
    if len(items) != n:
        raise InvalidInputError(f"expected {n} metadata dicts (one per id); got {len(items)}")
    return [check_metadata(m, f"metadatas[{i}]") for i, m in enumerate(items)]


def check_vectors(vectors: object, n: int | None, dim: int) -> np.ndarray:
    """Validate vectors and return them as a C-contiguous ``(n, dim) float32`` array.

    Real numbers only: a complex array is refused (casting would silently drop the imaginary
    part), as are object arrays of non-numbers and strings."""
    try:
        raw = vectors if isinstance(vectors, np.ndarray) else np.asarray(vectors)
        kind = raw.dtype.kind
        if kind in "biuf":
            arr = np.asarray(raw, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"vectors must be a numeric array of shape (n, {dim}); could not convert: {exc}"
        ) from None
    if kind not in "biuf":
        what = {"c": "complex numbers", "U": "strings", "S": "bytes", "O": "Python objects",
                "M": "datetimes", "m": "timedeltas"}.get(kind, f"dtype kind {kind!r}")
        raise InvalidInputError(
            f"vectors must be real numbers (float or int) of shape (n, {dim}); got {what}. "
            "Pass the real embedding (np.real(v) if its imaginary part is known to be 0); "
            "a complex value is never truncated silently"
        )
    if arr.ndim == 1 and n is None:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise InvalidInputError(
            f"vectors must be 2-D of shape (n, {dim}); got shape {arr.shape}"
        )
    if arr.shape[1] != dim:
        raise DimensionMismatchError(
            f"vectors must have dimension {dim} (the collection's); got {arr.shape[1]}. "
            "Check that the vectors come from the same model as the collection"
        )
    if n is not None and arr.shape[0] != n:
        raise InvalidInputError(f"expected {n} vectors (one per id); got {arr.shape[0]}")
    # a float64 sum of float32 values cannot overflow, so it is finite iff every component is
    if not np.isfinite(arr.sum(dtype=np.float64)):
        bad = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
        raise InvalidInputError(
            f"vectors[{bad}] contains NaN or infinity; every component must be finite"
        )
    return np.ascontiguousarray(arr)


def dump_metadata(metadata: Metadata) -> str:
    """Serialise validated metadata for the catalog (compact JSON, no NaN)."""
    return json.dumps(metadata, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def check_include(include: Sequence[str]) -> tuple[str, ...]:
    """Validate a search's ``include=`` (document fields to return with each hit)."""
    if isinstance(include, str):
        include = (include,)
    if not isinstance(include, (list, tuple, set, frozenset)):
        raise InvalidInputError(
            f"include must be a list of field names ('text', 'metadata'); got "
            f"{type(include).__name__} {_preview(include)}. Use include=() for ids and scores only"
        )
    bad = [f for f in include if f not in ("text", "metadata")]
    if bad:
        raise InvalidInputError(
            f"include may name 'text' and 'metadata'; got {bad!r}. Use include=() for ids and "
            "scores only, include_vectors=True for vectors"
        )
    return tuple(include)


def check_k(k: object) -> int:
    """Validate a search's ``k``."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise InvalidInputError(f"k must be an int between 1 and {MAX_K}; got {k!r}")
    if not 1 <= int(k) <= MAX_K:
        raise InvalidInputError(
            f"k must be between 1 and {MAX_K}; got {k}. To read many documents, page through "
            "get(where=..., limit=..., offset=...)"
        )
    return int(k)
