"""Snapshot images: what a search needs of one committed state (live slots, ids, metadata
columns), saved as one file so a new process searches within milliseconds of opening the store.

Without an image, a process's first search reads every row's id from the catalog and, for each
field a filter names, extracts that field from every row's JSON (75k rows: ~60 ms for the ids,
~140 ms per field). An image holds them as arrays, written by the maintenance worker after
writes; a snapshot then starts from the image instead of from nothing, exactly as it starts from
the previous snapshot in a process that already has one:

* rows appended after the image (``slot >= n_slots``) are read from the catalog;
* rows of the image deleted since are found by one count (``slot < n_slots``) and, only when it
  differs, by one aggregate read of the live slots;
* columns are reused only if no document's metadata was rewritten in place since (the metadata
  epoch) and the segment generation is the same.

The image is derived data: never trusted for anything the catalog does not confirm, rebuilt when
stale, bypassed (with a log line) when unreadable. Files are array archives (:mod:`vecnest.store.arrays`: mapped,
never pickled; strings as UTF-8 bytes).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vecnest.filter.columns import Column, Values
from vecnest.records import MAX_ID_WIDTH
from vecnest.store.arrays import read_arrays, write_arrays

#: Collections smaller than this load fast enough from the catalog: no image is kept.
IMAGE_MIN_ROWS = 2_000
#: An image is rewritten once the collection has this many more slots than it covers, or this
#: fraction of its rows died, relative to its size.
REFRESH_FRACTION = 0.2
#: At most this many metadata fields are kept as columns in an image.
MAX_FIELDS = 32
_FORMAT = 1


@dataclass(frozen=True)
class ImageState:
    """The catalog's record of a collection's image (table ``image_state``)."""

    file: str
    version: int
    generation: int
    epoch: int
    n_slots: int
    n_live: int
    fields: tuple[str, ...]


def read_image_state(conn: sqlite3.Connection, cid: int) -> ImageState | None:
    """The image recorded for collection ``cid`` (``None``: none, or a store without the table)."""
    try:
        row = conn.execute(
            "SELECT file, version, generation, epoch, n_slots, n_live, fields FROM image_state WHERE cid = ?", (cid,)
        ).fetchone()
    except sqlite3.OperationalError:
        return None
    if row is None:
        return None
    return ImageState(row[0], int(row[1]), int(row[2]), int(row[3]), int(row[4]), int(row[5]), tuple(json.loads(row[6])))


@dataclass(frozen=True)
class Image:
    """A loaded image: the live slots below ``n_slots``, their ids, and columns over them."""

    live: np.ndarray  #: (n_live,) int64, sorted
    ids: np.ndarray  #: (n_live,) object: the id of each live slot
    n_slots: int
    columns: Mapping[str, Column]


# ---------------------------------------------------------------------- encoding
def _strings(prefix: str, items: np.ndarray | list[str]) -> dict[str, np.ndarray]:
    """Strings as one UTF-8 blob: NUL-separated when none contains a NUL (split in C on
    load), else with their lengths; a fixed-width UTF-8 bytes array (a snapshot's ids) with
    their lengths, cut from the array without a ``str`` per item."""
    if isinstance(items, np.ndarray) and items.dtype.kind == "S":
        n, width = len(items), items.dtype.itemsize
        lengths = np.char.str_len(items).astype(np.int64) if n else np.zeros(0, dtype=np.int64)
        raw = np.ascontiguousarray(items).view(np.uint8).reshape(n, width)
        return {f"{prefix}.len": lengths, f"{prefix}.utf8": raw[np.arange(width) < lengths[:, None]]}
    items = [str(s) for s in items]
    if not any("\x00" in s for s in items):
        blob = "\x00".join(items).encode("utf-8", "surrogatepass")
        return {f"{prefix}.n": np.asarray([len(items)], dtype=np.int64), f"{prefix}.utf8": np.frombuffer(blob, dtype=np.uint8)}
    encoded = [s.encode("utf-8", "surrogatepass") for s in items]
    lengths = np.fromiter((len(b) for b in encoded), dtype=np.int64, count=len(encoded))
    return {f"{prefix}.len": lengths, f"{prefix}.utf8": np.frombuffer(b"".join(encoded), dtype=np.uint8)}


def _unstrings(data: Any, prefix: str) -> list[str]:
    blob = data[f"{prefix}.utf8"].tobytes()
    if f"{prefix}.n" in data:
        n = int(data[f"{prefix}.n"][0])
        return blob.decode("utf-8", "surrogatepass").split("\x00") if n else []
    lengths = data[f"{prefix}.len"]
    ends = np.cumsum(lengths).tolist()
    starts = [0, *ends[:-1]] if ends else []
    return [blob[a:b].decode("utf-8", "surrogatepass") for a, b in zip(starts, ends, strict=True)]


def _id_array(data: Any, prefix: str) -> np.ndarray:
    """The ids as the fixed-width UTF-8 bytes array a snapshot keeps them in, split from the
    blob in C (see ``search.snapshot.IdBuffer``), else (longer ids, NULs in them, an older
    store's lone surrogate) as ``str`` objects. Raises ``ValueError`` for lengths that do not
    describe the blob (a damaged image: the caller bypasses it)."""
    raw = data[f"{prefix}.utf8"]
    blob = raw.tobytes()
    try:
        blob.decode()  # (strict: what id_list decodes must decode)
    except UnicodeDecodeError:
        return np.asarray(_unstrings(data, prefix), dtype=object)
    if f"{prefix}.n" in data:
        if not int(data[f"{prefix}.n"][0]):
            return np.zeros(0, dtype="S1")
        parts = blob.split(b"\x00")
        width = max(map(len, parts))
        if width <= MAX_ID_WIDTH:
            return np.array(parts, dtype=f"S{max(width, 1)}")
        return np.asarray([p.decode() for p in parts], dtype=object)
    lengths = np.asarray(data[f"{prefix}.len"], dtype=np.int64)
    ends = np.cumsum(lengths)
    if (lengths < 0).any() or int(ends[-1] if len(ends) else 0) != len(raw):
        raise ValueError(f"image {prefix} lengths do not add up to the {len(raw)} bytes stored")
    width = max(int(lengths.max(initial=0)), 1)
    last = ends[lengths > 0] - 1  # (a fixed-width array drops an id's trailing NULs)
    if width <= MAX_ID_WIDTH and not (raw[last] == 0).any():
        out = np.zeros((len(lengths), width), dtype=np.uint8)
        out[np.arange(width) < lengths[:, None]] = raw
        return out.view(f"S{width}").reshape(-1)
    return np.asarray(_unstrings(data, prefix), dtype=object)


def _values(prefix: str, v: Values) -> dict[str, np.ndarray]:
    out = {f"{prefix}.kind": v.kind, f"{prefix}.num": v.num, f"{prefix}.ival": v.ival,
           f"{prefix}.is_int": v.is_int, f"{prefix}.code": v.code}
    out.update(_strings(f"{prefix}.vocab", v.vocab))
    return out


def _unvalues(data: Any, prefix: str) -> Values:
    vocab = np.asarray(_unstrings(data, f"{prefix}.vocab"), dtype=str)
    return Values(
        data[f"{prefix}.kind"], data[f"{prefix}.num"], data[f"{prefix}.ival"],
        data[f"{prefix}.is_int"], data[f"{prefix}.code"], vocab,
    )


def save_image(path: Path, live: np.ndarray, ids: np.ndarray, n_slots: int, columns: dict[str, Column]) -> None:
    """Write an image to ``path`` (a temporary name; the caller publishes it)."""
    arrays: dict[str, np.ndarray] = {
        "format": np.asarray([_FORMAT, n_slots], dtype=np.int64),
        "live": np.asarray(live, dtype=np.int64),
        "fields": np.frombuffer(json.dumps(sorted(columns)).encode(), dtype=np.uint8),
    }
    arrays.update(_strings("ids", ids))
    for i, name in enumerate(sorted(columns)):
        col = columns[name]
        arrays.update(_values(f"c{i}.values", col.values))
        arrays.update(_values(f"c{i}.elements", col.elements))
        arrays[f"c{i}.element_row"] = col.element_row
    write_arrays(path, arrays)


class LazyColumns(Mapping[str, Column]):
    """An image's columns, each read from the file the first time a filter names its field
    (a search that filters on one field pays for that field only)."""

    def __init__(self, path: Path, fields: list[str], n_rows: int) -> None:
        self._path = path
        self._index = {name: i for i, name in enumerate(fields)}
        self._n_rows = n_rows
        self._loaded: dict[str, Column] = {}
        self._lock = threading.Lock()

    def __getitem__(self, name: str) -> Column:
        col = self._loaded.get(name)
        if col is not None:
            return col
        i = self._index[name]  # KeyError for a field the image does not hold
        with self._lock:
            data = read_arrays(self._path)
            col = Column(
                values=_unvalues(data, f"c{i}.values"),
                elements=_unvalues(data, f"c{i}.elements"),
                element_row=data[f"c{i}.element_row"],
            )
        if len(col.values.kind) != self._n_rows:
            raise ValueError(f"image column {name!r} has {len(col.values.kind)} rows, expected {self._n_rows}")
        self._loaded[name] = col
        return col

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)


def load_image(path: Path) -> Image:
    """Read an image's live slots and ids now, its columns when first used (raises
    ``OSError``/``ValueError``/``KeyError``/``BadZipFile`` if it is damaged)."""
    data = read_arrays(path)
    fmt, n_slots = (int(x) for x in data["format"])
    if fmt != _FORMAT:
        raise ValueError(f"image format {fmt}, expected {_FORMAT}")
    fields = json.loads(data["fields"].tobytes())
    live = data["live"]
    ids = _id_array(data, "ids")
    if len(ids) != len(live):
        raise ValueError("image ids and live slots differ in length")
    return Image(live=live, ids=ids, n_slots=n_slots, columns=LazyColumns(path, fields, len(live)))  # type: ignore[arg-type]


def image_readable(path: Path) -> str | None:
    """``None`` if the image file and every column in it load, else why not (for ``check``)."""
    try:
        image = load_image(path)
        for name in image.columns:
            image.columns[name]
    except (OSError, ValueError, KeyError) as exc:
        return str(exc)[:200]
    return None


def fields_to_keep(conn: sqlite3.Connection, table: str, wanted: set[str]) -> list[str]:
    """The fields an image should hold: ``wanted`` (declared, already imaged, or loaded by this
    process's searches) and the most common top-level keys of a sample of documents."""
    common = conn.execute(
        f"SELECT j.key, COUNT(*) AS n FROM (SELECT metadata FROM {table} ORDER BY slot DESC LIMIT 1000) AS d, "
        "json_each(d.metadata) AS j GROUP BY j.key ORDER BY n DESC, j.key LIMIT ?",
        (MAX_FIELDS,),
    ).fetchall()
    out = sorted(wanted)[:MAX_FIELDS]
    for key, _ in common:
        if len(out) >= MAX_FIELDS:
            break
        if key not in out and isinstance(key, str):
            out.append(key)
    return out

