"""A snapshot: what searches need from one committed state of a collection, loaded once per state.

It holds the memory map of the vector segment, the live slots, the approximate index (if built)
with the row count it covers, its calibration, and typed metadata columns loaded lazily the first
time a filter names a field.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vecnest import filter as vfilter
from vecnest.filter.columns import ARRAY, Column, Values, evaluate, sql_kind
from vecnest.index.ann import AnnIndex
from vecnest.index.calibrate import Calibration
from vecnest.index.flat import FlatIndex
from vecnest.records import encode_ids, id_list
from vecnest.search.match import Match, _Budget

#: Memory for the cached masks of recent filters, per snapshot (one byte per slot per mask).
MASK_CACHE_BYTES = 32 * 1024 * 1024
#: Memory for the matching rows of small filters gathered into one contiguous block, per
#: snapshot: a repeated filter's exact scan then reads one block instead of gathering its rows
#: again from all over the segment (74k arXiv titles, 1,343 matching rows: 0.23 ms vs 1.08 ms
#: per query gathered every time).
GATHER_CACHE_BYTES = 64 * 1024 * 1024


@dataclass
class Snapshot:
    """One committed state of a collection (never mutated after load, except caches)."""

    version: int
    generation: int
    stamp: int | None  #: the change count read before the transaction that loaded it (see search.reader)
    table: str
    ids: np.ndarray  # (n_slots,) the id at each slot, as UTF-8 bytes (see IdBuffer: read with records.id_list)
    live_slots: np.ndarray  # (n_live,) int64, sorted
    alive: np.ndarray  # (n_slots,) bool
    flat: FlatIndex
    ann: AnnIndex | None
    built_upto: int  # slots below this are in ``ann``; the rest is the exact delta
    calibration: Calibration | None
    metadata_epoch: int = 0  #: count of in-place metadata rewrites (update() without vectors)
    #: layers ``(live_slots, n_slots, columns)`` of earlier snapshots whose rows are known to be
    #: unchanged here (same segment generation and metadata epoch), newest first: a column is
    #: extended from the newest layer holding it, with the rows appended since, instead of
    #: being read again whole. Layers are carried on while their columns are not extended, so
    #: a column used by every other search only is never read whole again (a writer making a
    #: new snapshot before each search would otherwise cost a full read per filtered search).
    inherited: tuple[Layer, ...] | None = None
    _columns: dict[str, Column] = field(default_factory=dict)
    #: plans of repeated searches that are one plain index call (see ``search.replay.Replay``)
    replays: dict[tuple[Any, ...], Any] = field(default_factory=dict)
    #: why the approximate index is not used although the catalog names one (damaged file)
    index_problem: str | None = None
    #: the ids by slot this snapshot's ``ids`` views (shared with later snapshots)
    id_buffer: IdBuffer | None = None
    #: the lexical searcher of this snapshot, made on first use (see search.lexical_view)
    lexical: Any = None
    #: the compression tiers exact strategies scan (a ``vecnest.compress.TieredIndex``), if any
    tiers: Any = None
    #: why the declared tiers are not used for this snapshot (none built yet, damaged)
    tier_problem: str | None = None
    #: sign sketches of the delta's rows (a ``vecnest.search.sketch.SketchBuffer`` starting at
    #: or below ``built_upto``), shared with the process's other snapshots of this generation
    sketches: Any = None
    #: sign sketches of every slot (a ``SketchBuffer`` starting at slot 0, coded on first use),
    #: shared likewise: what filters ranked by sketches gather theirs from
    all_sketches: Any = None
    #: why ``all_sketches`` is not set although the collection is sketched (past the cap)
    sketch_problem: str | None = None
    _masks: OrderedDict[str, Match] = field(default_factory=OrderedDict)
    _everything: Match | None = None
    _masks_lock: threading.Lock = field(default_factory=threading.Lock)
    _indexed_all_live: bool | None = None
    _gathered: _Budget = field(default_factory=lambda: _Budget(GATHER_CACHE_BYTES))

    def as_base(self) -> Base:
        """This snapshot as the starting point of the next one (with the layers it inherited
        and has not extended yet)."""
        return Base(self.live_slots, self.id_buffer, self.n_slots, self.generation, self.metadata_epoch, self._columns,
                    older=_uncovered(self.inherited or (), set(self._columns)))

    @property
    def n_slots(self) -> int:
        """Rows in the segment (live and dead)."""
        return int(self.alive.shape[0])

    @property
    def n_live(self) -> int:
        """Documents."""
        return int(self.live_slots.shape[0])

    @property
    def indexed_all_live(self) -> bool:
        """Whether no row in the approximate index has been deleted (no deletion bitmap needed)."""
        if self._indexed_all_live is None:
            self._indexed_all_live = bool(self.alive[: self.built_upto].all())
        return self._indexed_all_live

    def match(self, node: vfilter.Node, read: Reader, key: str | None = None) -> Match:
        """The live rows matching ``node`` (see :class:`Match`).

        The masks of recently used filters are kept (least recently used first out, at most
        :data:`MASK_CACHE_BYTES` in all): a snapshot never changes, and applications repeat
        their filters (a tenant, a category, a date window), so a repeated filter costs a
        dictionary lookup instead of a pass over the metadata columns. The key is the filter's
        ``repr``, which tells ``True`` from ``1`` and ``1`` from ``1.0`` (equal in Python, not
        in the filter language).

        Args:
            node: the parsed filter.
            read: see :meth:`filter_mask`.
            key: ``repr(node)`` if the caller has it at hand already.
        """
        if isinstance(node, vfilter.TrueFilter):
            everything = self._everything
            if everything is None:
                everything = self._everything = Match(self.alive, self.n_live)
            return everything
        if key is None:
            key = repr(node)
        with self._masks_lock:  # searches may run in several threads
            hit = self._masks.get(key)
            if hit is not None:
                self._masks.move_to_end(key)
                return hit
        mask = self.filter_mask(node, read)
        mask.flags.writeable = False
        entry = Match(mask, int(np.count_nonzero(mask)), self._gathered)
        with self._masks_lock:
            self._masks[key] = entry
            # a mask (1 byte per slot), its packed bits (1/8) and kept slots (<= 1): 2 bytes per slot
            while len(self._masks) > max(1, MASK_CACHE_BYTES // max(2 * self.n_slots, 1)):
                gone = self._masks.popitem(last=False)[1]
                gone.forget()
                for plan_key, replay in list(self.replays.items()):  # plans holding it go with it
                    if getattr(replay, "match", None) is gone:
                        self.replays.pop(plan_key, None)
        return entry

    def cached_match(self, key: str) -> Match | None:
        """The match of the filter whose ``repr`` is ``key`` if it is cached, else ``None``."""
        with self._masks_lock:
            return self._masks.get(key)

    def filter_mask(self, node: vfilter.Node, read: Reader) -> np.ndarray:
        """``(n_slots,) bool``: live rows matching ``node``, evaluated now (see :meth:`match`).

        Args:
            node: the parsed filter.
            read: opens a read transaction pinned to this snapshot's version (it raises if the
                collection changed since), used to load columns the first time they are needed.
        """
        if isinstance(node, vfilter.TrueFilter):
            return self.alive

        def column(name: str) -> Column:
            if name in self._columns:
                return self._columns[name]
            with read() as conn:
                return self._column(name, conn)

        def text(t: vfilter.TextContains) -> np.ndarray:
            with read() as conn:
                return self._text(t, conn)

        rows = evaluate(node, self.n_live, column, text)
        if self.n_live == self.n_slots:  # no dead slots: row i is slot i
            return rows
        out = np.zeros(self.n_slots, dtype=bool)
        out[self.live_slots[rows]] = True
        return out

    def _positions(self, slots: list[int] | np.ndarray) -> np.ndarray:
        return np.searchsorted(self.live_slots, np.asarray(slots, dtype=np.int64))

    def _column(self, name: str, conn: sqlite3.Connection) -> Column:
        col = self._columns.get(name)
        if col is not None:
            return col
        layers = self.inherited or ()
        col = None
        for parent_live, parent_slots, parent_columns in layers:
            if name not in parent_columns:
                continue
            try:
                base = parent_columns[name]  # (an image's columns are read from disk on first use)
            except (OSError, ValueError, KeyError):  # a damaged or vanished image: not tried again
                self.inherited = tuple(layer for layer in layers if layer[2] is not parent_columns) or None
                layers = ()
                break  # read the column from the catalog instead
            keep = self.alive[parent_live]  # slots only grow: a live old slot was live before
            col = base.extend(keep, self._load_column(name, conn, since=parent_slots))
            if len(col.values.kind) != self.n_live:  # (never expected: a layer newer than this state)
                col = None
            break
        self._columns[name] = col if col is not None else self._load_column(name, conn, since=0)
        if layers and self.inherited:  # let go of the layers whose every column is extended now
            self.inherited = _uncovered(layers, set(self._columns)) or None
        return self._columns[name]

    def _load_column(self, name: str, conn: sqlite3.Connection, *, since: int) -> Column:
        """The column of field ``name`` over the live rows with slot ``>= since``."""
        expr = vfilter.json_extract_sql(name)
        path = expr[expr.index(",") + 1 : -1].strip()  # the quoted JSON path literal
        # the docs table holds exactly the live slots, so row i (by slot) is position i
        rows = conn.execute(
            f"SELECT json_type(metadata, {path}), {expr} FROM {self.table} WHERE slot >= ? ORDER BY slot",
            (since,),
        ).fetchall()
        kinds = [sql_kind(r[0]) for r in rows]
        values = [r[1] for r in rows]
        el_kinds: list[int] = []
        el_values: list[object] = []
        el_slots: list[int] = []
        if ARRAY in kinds:
            for slot, jtype, atom in conn.execute(
                f"SELECT d.slot, j.type, j.atom FROM {self.table} AS d, json_each(d.metadata, {path}) AS j "
                f"WHERE d.slot >= ? AND json_type(d.metadata, {path}) = 'array'",
                (since,),
            ):
                el_slots.append(slot)
                el_kinds.append(sql_kind(jtype))
                el_values.append(atom)
        slots = self.live_slots[np.searchsorted(self.live_slots, since) :]
        el_rows = np.searchsorted(slots, np.asarray(el_slots, dtype=np.int64)) if el_slots else np.empty(0, dtype=np.int64)
        return Column(
            values=Values.build(kinds, values),
            elements=Values.build(el_kinds, el_values),
            element_row=el_rows.astype(np.int64),
        )

    def _text(self, node: vfilter.TextContains, conn: sqlite3.Connection) -> np.ndarray:
        frag, params = vfilter.to_sql(node)  # one definition of the text semantics: SQL's
        rows = conn.execute(f"SELECT slot FROM {self.table} WHERE {frag} ORDER BY slot", params).fetchall()
        hit = np.zeros(self.n_live, dtype=bool)
        if rows:
            hit[self._positions([r[0] for r in rows])] = True
        return hit


Reader = Callable[[], AbstractContextManager[sqlite3.Connection]]


class IdBuffer:
    """The id of every slot of one segment generation, append-only, shared by the successive
    snapshots of a process: a snapshot views its first ``n_slots`` entries, and a later one
    appends the ids of new rows past them (a slot's id never changes within a generation; a
    dead slot keeps its id, which no search returns). A reload after a write then costs the new
    rows, not a copy of every id. Capacity doubles when full (the old array stays with the
    snapshots that view it).

    The ids are UTF-8 bytes in a fixed-width array (``S<width>``: read them with
    :func:`vecnest.records.id_list`), widened when a longer one comes: 1M arXiv chunk ids
    ("0" to "1073825") take 7 MiB where an array of ``str`` objects took 71 MiB (a ``str`` costs
    ~56 bytes and its pointer 8; an id is at most ``MAX_ID_WIDTH`` = 64 bytes, so the array never
    costs more than objects would), and a search's ten ids cost the same to read (one cache miss
    each: 2.0-2.1 µs either way). Ids that do not fit (:func:`encode_ids`) turn the buffer into
    an object array of ``str``, for good."""

    def __init__(self, capacity: int) -> None:
        self._arr: np.ndarray = np.zeros(max(capacity, 16), dtype="S1")
        self._lock = threading.Lock()

    @classmethod
    def scattered(cls, slots: np.ndarray, ids: np.ndarray, n_slots: int) -> IdBuffer:
        """A buffer holding ``ids`` (``str`` objects or UTF-8 bytes) at ``slots`` (an image's live rows)."""
        out = cls(n_slots)
        out._put(slots, ids)
        return out

    def extended(self, n_slots: int, slots: np.ndarray, ids: tuple[str, ...] | list[str]) -> np.ndarray:
        """Record ``ids`` at ``slots`` (all below ``n_slots``) and view the first ``n_slots``."""
        with self._lock:
            if n_slots > len(self._arr):
                size = max(n_slots, 2 * len(self._arr))
                grown = np.zeros(size, self._arr.dtype) if self._arr.dtype.kind == "S" else np.full(size, None, object)
                grown[: len(self._arr)] = self._arr
                self._arr = grown
            if len(slots):
                self._put(slots, ids)
            return self._arr[:n_slots]

    def _put(self, slots: np.ndarray, ids: np.ndarray | tuple[str, ...] | list[str]) -> None:
        arr = self._arr
        encoded = None
        if arr.dtype.kind == "S":
            encoded = ids if isinstance(ids, np.ndarray) and ids.dtype.kind == "S" else encode_ids(ids)
        if encoded is not None:  # fixed-width bytes that fit
            if encoded.dtype.itemsize > arr.dtype.itemsize:  # (a new array: views of the old one keep it)
                arr = arr.astype(encoded.dtype)
            arr[slots] = encoded
        else:
            if arr.dtype.kind == "S":  # (objects from now on: the rows so far decoded; unwritten slots: "", never returned)
                arr = np.array(id_list(arr, slice(None)), dtype=object)
            arr[slots] = id_list(ids, slice(None)) if isinstance(ids, np.ndarray) else ids
        self._arr = arr


@dataclass(frozen=True)
class Base:
    """A committed state a new snapshot starts from instead of reading every row again: the
    previous snapshot of this process, or an image on disk (:mod:`vecnest.search.image`).

    Slots only grow within a segment generation, so the rows below ``n_slots`` are the base's
    live rows minus those deleted since; its columns hold while no metadata was rewritten in
    place (same ``epoch``)."""

    live: np.ndarray  #: (n,) int64 sorted live slots below ``n_slots``
    ids: IdBuffer  #: the ids of (at least) the slots below ``n_slots``
    n_slots: int
    generation: int
    epoch: int
    columns: Mapping[str, Column]
    #: older layers whose columns ``columns`` does not hold (see ``Snapshot.inherited``)
    older: tuple[Layer, ...] = ()
    #: ``live`` is known to be the committed state's live rows (an image written at the
    #: collection's current version): no count of the table is needed to find deletions
    exact: bool = False


#: ``(live_slots, n_slots, columns)``: the columns of a committed state, over its live slots
Layer = tuple[np.ndarray, int, Mapping[str, Column]]


#: at most this many older layers are carried (a column beyond them is read whole again)
MAX_LAYERS = 8


class _Only(Mapping[str, Column]):
    """The columns of ``source`` named in ``names`` (an older layer keeps only what no newer
    layer holds, so a stale copy of a column in use is let go; an image's columns stay lazy)."""

    __slots__ = ("_names", "_source")

    def __init__(self, source: Mapping[str, Column], names: frozenset[str]) -> None:
        self._source = source._source if isinstance(source, _Only) else source
        self._names = names

    def __getitem__(self, name: str) -> Column:
        if name not in self._names:
            raise KeyError(name)
        return self._source[name]

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def _uncovered(layers: tuple[Layer, ...], covered: set[str]) -> tuple[Layer, ...]:
    """The layers holding a column that neither ``covered`` nor a newer layer holds, each
    narrowed to those columns (at most :data:`MAX_LAYERS`)."""
    out: list[Layer] = []
    seen = set(covered)
    for live, n_slots, columns in layers:
        names = frozenset(columns.keys()) - seen
        if names:
            out.append((live, n_slots, columns if names == frozenset(columns.keys()) else _Only(columns, names)))
            seen |= names
            if len(out) == MAX_LAYERS:
                break
    return tuple(out)


def load_live_slots(
    conn: sqlite3.Connection, table: str, n_slots: int, base: Base | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, IdBuffer]:
    """Sorted live slots, the ``(n_slots,) bool`` alive mask, the id of each slot and the
    buffer holding them.

    With a ``base``, only the rows appended since are read whole; deletions among the base's
    rows are found by a count (none for an ``exact`` base with no row appended since), and only
    when it differs by reading the live slots (no ids)."""
    alive = np.zeros(n_slots, dtype=bool)
    since = 0
    old_live = np.empty(0, dtype=np.int64)
    buffer = None
    if base is not None and base.n_slots <= n_slots:
        since = base.n_slots
        buffer = base.ids
    rows = conn.execute(f"SELECT slot, id FROM {table} WHERE slot >= ? ORDER BY slot", (since,)).fetchall()
    if since and base.exact and not rows:  # type: ignore[union-attr]
        old_live = base.live  # type: ignore[union-attr]  # (a COUNT(*) reads ~1 MB of index pages: 15 ms cold at 75k)
    elif since:
        # the rows before ``since``: all rows less the new ones (a whole-table COUNT(*) reads only
        # page headers of the smallest index; one bounded by slot would read every row's page)
        count = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] - len(rows)
        old_live = base.live  # type: ignore[union-attr]
        if count != len(old_live):
            text = conn.execute(
                f"SELECT json_group_array(slot) FROM (SELECT slot FROM {table} WHERE slot < ? ORDER BY slot)", (since,)
            ).fetchone()[0]
            old_live = np.asarray(json.loads(text), dtype=np.int64)
    if buffer is None:
        buffer = IdBuffer(n_slots)
    new = np.empty(0, dtype=np.int64)
    names: tuple[str, ...] = ()
    if rows:
        slots, names = zip(*rows, strict=True)
        new = np.fromiter(slots, dtype=np.int64, count=len(rows))
    live = np.concatenate([old_live, new]) if len(old_live) and len(new) else (new if len(new) else old_live)
    alive[live] = True
    return live, alive, buffer.extended(n_slots, new, names), buffer


def load_snapshot(
    conn: sqlite3.Connection,
    *,
    table: str,
    version: int,
    generation: int,
    stamp: int | None,
    vectors: np.ndarray,
    l2: bool,
    ann: AnnIndex | None,
    built_upto: int,
    calibration: Calibration | None,
    metadata_epoch: int,
    base: Base | None,
    segment_path: Path | None = None,
) -> Snapshot:
    """The snapshot of a collection's committed state, read in the transaction ``conn``.

    Args:
        vectors: the segment's ``(n_slots, dim)`` map at this version.
        segment_path: the segment's file (one-off passes read it instead of the map: see
            :meth:`FlatIndex.scan`).
        ann: the approximate index of this version (``None``: none); ``built_upto`` slots in it.
        metadata_epoch: the collection's count of in-place metadata rewrites.
        base: a state to start from (see :class:`Base`): ignored unless of the same segment
            generation and no larger; its columns are extended, not read again, only if no
            metadata was rewritten in place since.
    """
    n_slots = vectors.shape[0]
    if base is not None and (base.generation != generation or base.n_slots > n_slots):
        base = None
    inherited = None
    if base is not None and base.epoch == metadata_epoch:
        inherited = ((base.live, base.n_slots, base.columns), *base.older)
    live, alive, ids, buffer = load_live_slots(conn, table, n_slots, base)
    return Snapshot(
        version=version,
        generation=generation,
        stamp=stamp,
        table=table,
        ids=ids,
        live_slots=live,
        alive=alive,
        flat=FlatIndex(vectors, None if len(live) == n_slots else alive, l2=l2, path=segment_path),
        ann=ann,
        built_upto=built_upto if ann is not None else 0,
        calibration=calibration if ann is not None else None,
        metadata_epoch=metadata_epoch,
        inherited=inherited,
        id_buffer=buffer,
    )
