"""Columnar evaluation of a filter AST to a boolean mask, in numpy.

The SQL compiler (:mod:`vecnest.filter.sql`) serves ``get``/``delete``; search needs the mask of
matching rows in well under a millisecond, so metadata fields are loaded once per snapshot into
typed columns and filters are evaluated with vectorised comparisons. Semantics are exactly those
of the SQL compiler (checked against the same pure-Python oracle by the property tests):
strict JSON types, ``$ne``/``$nin`` true for missing fields, lists matched only by ``$contains*``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vecnest.filter.ast import And, Compare, Node, Not, Op, Or, Scalar, TextContains, TrueFilter

# kind codes of a value
MISSING, NULL, TRUE, FALSE, NUMBER, TEXT, ARRAY, OBJECT = range(8)
_SQL_KIND = {"null": NULL, "true": TRUE, "false": FALSE, "integer": NUMBER, "real": NUMBER,
             "text": TEXT, "array": ARRAY, "object": OBJECT}


def sql_kind(json_type: str | None) -> int:
    """Kind code for a SQLite ``json_type`` result (``None`` = missing)."""
    return MISSING if json_type is None else _SQL_KIND[json_type]


_EXACT_FLOAT = 2**53  # integers beyond this are not all representable as float64
_FEW_VALUES = 8  # $in lists up to this long are tested value by value


@dataclass(frozen=True)
class Values:
    """Typed values: kind codes, numbers, text codes into a sorted vocabulary.

    Integers are kept exactly (``int64``) beside a float64 copy, so comparisons agree with
    SQLite's, which never rounds an integer: ``2**53 + 1 != 2.0**53``.
    """

    kind: np.ndarray  # (n,) int8
    num: np.ndarray  # (n,) float64, NaN unless kind == NUMBER
    ival: np.ndarray  # (n,) int64, the exact value of integer entries (0 elsewhere)
    is_int: np.ndarray  # (n,) bool
    code: np.ndarray  # (n,) int32, -1 unless kind == TEXT
    vocab: np.ndarray  # (v,) object (Python str), sorted (code point order == SQLite's byte order for UTF-8)

    @classmethod
    def build(cls, kinds: list[int], values: list[object]) -> Values:
        """From per-row kind codes and raw values (number, str or anything else)."""
        n = len(kinds)
        kind = np.asarray(kinds, dtype=np.int8)
        num = np.full(n, np.nan)
        ival = np.zeros(n, dtype=np.int64)
        is_int = np.zeros(n, dtype=bool)
        texts: list[str] = []
        text_rows: list[int] = []
        for i, (k, v) in enumerate(zip(kinds, values, strict=True)):
            if k == NUMBER:
                num[i] = float(v)  # type: ignore[arg-type]
                if isinstance(v, int):
                    ival[i] = v
                    is_int[i] = True
            elif k == TEXT:
                texts.append(v)  # type: ignore[arg-type]
                text_rows.append(i)
        # dictionary-encoded: each distinct string is held once, as the Python str it already
        # is (a fixed-width numpy str array would pad every row to the longest value: one 1 MB
        # value among 300 rows made 1.2 GB and seconds of copying)
        distinct = sorted(set(texts))
        vocab = np.empty(len(distinct), dtype=object)
        vocab[:] = distinct
        code = np.full(n, -1, dtype=np.int32)
        if texts:
            position = {text: i for i, text in enumerate(distinct)}
            code[text_rows] = [position[t] for t in texts]
        return cls(kind, num, ival, is_int, code, vocab)

    def take(self, keep: np.ndarray) -> Values:
        """The rows where the ``(n,) bool`` mask ``keep`` is set (vocabulary unchanged)."""
        return Values(self.kind[keep], self.num[keep], self.ival[keep], self.is_int[keep], self.code[keep], self.vocab)

    @classmethod
    def concat(cls, a: Values, b: Values) -> Values:
        """``a``'s rows then ``b``'s, over the union of their vocabularies (``b``'s new strings
        are inserted into ``a``'s sorted vocabulary: O(vocabulary) work, no re-sort)."""
        vocab, remap_a, remap_b = _merge_vocab(a.vocab, b.vocab)

        def recode(v: Values, remap: np.ndarray | None) -> np.ndarray:
            if remap is None:
                return v.code
            return np.where(v.code >= 0, remap[np.maximum(v.code, 0)], -1).astype(np.int32)

        return cls(
            np.concatenate([a.kind, b.kind]),
            np.concatenate([a.num, b.num]),
            np.concatenate([a.ival, b.ival]),
            np.concatenate([a.is_int, b.is_int]),
            np.concatenate([recode(a, remap_a), recode(b, remap_b)]),
            vocab,
        )

    def __post_init__(self) -> None:
        # derived once per column, so a comparison is one vectorised pass per number kind
        # (an integer field, the common case, indexes every row: no row list, no copy of the
        # values, which an image maps from its file: 16 MiB a field less at 1M rows)
        is_real = (self.kind == NUMBER) & ~self.is_int
        all_int = bool(self.is_int.all())
        object.__setattr__(self, "_int_rows", slice(None) if all_int else np.flatnonzero(self.is_int))
        object.__setattr__(self, "_int_vals", self.ival if all_int else self.ival[self.is_int])
        object.__setattr__(self, "_real_rows", np.flatnonzero(is_real))
        object.__setattr__(self, "_real_vals", self.num[is_real])
        object.__setattr__(self, "_all_int", all_int)

    def _numbers(self, value: int | float, test: str) -> np.ndarray:
        """Exact numeric comparison ``row <test> value`` for every NUMBER row."""
        ints: np.ndarray | None = None
        integral = isinstance(value, int) or float(value).is_integer()
        if integral and -(2**63) <= int(value) < 2**63:
            ints = _OPS[test](self._int_vals, int(value))
        elif test in ("gt", "gte"):  # non-integral v: i > v <=> i >= ceil(v)
            ints = self._int_vals >= math.ceil(value)
        elif test in ("lt", "lte"):
            ints = self._int_vals <= math.floor(value)
        if self._all_int and ints is not None:  # the common case: an integer field
            return ints
        out = np.zeros(len(self.kind), dtype=bool)
        if ints is not None:
            out[self._int_rows] = ints
        if abs(value) < _EXACT_FLOAT or isinstance(value, float):
            out[self._real_rows] = _OPS[test](self._real_vals, float(value))
        else:  # a huge integer against reals: let Python compare float and int exactly
            out[self._real_rows] = [_PY_OPS[test](float(x), value) for x in self._real_vals]
        return out

    def equals(self, value: Scalar) -> np.ndarray:
        """Rows whose value equals ``value`` under strict JSON typing."""
        if value is None:
            return self.kind == NULL
        if isinstance(value, bool):
            return self.kind == (TRUE if value else FALSE)
        if isinstance(value, (int, float)):
            return self._numbers(value, "eq")
        pos = int(np.searchsorted(self.vocab, value))
        if pos < len(self.vocab) and self.vocab[pos] == value:
            return self.code == pos
        return np.zeros(len(self.kind), dtype=bool)

    def one_of(self, values: tuple[Scalar, ...]) -> np.ndarray:
        """Rows equal to any of ``values`` (``$in``): one vectorised pass per value type, so
        a list of 40k values costs a set lookup per row, not 40k passes over the column."""
        if len(values) <= _FEW_VALUES:
            return _any(values, self.equals)
        out = np.zeros(len(self.kind), dtype=bool)
        texts: list[str] = []
        numbers: list[int | float] = []
        rest: list[Scalar] = []
        for v in values:
            if isinstance(v, str):
                texts.append(v)
            elif isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) < _EXACT_FLOAT:
                numbers.append(v)
            else:  # None, booleans, integers beyond float64's exact range: one by one
                rest.append(v)
        if texts and len(self.vocab):
            probe = np.empty(len(texts), dtype=object)
            probe[:] = texts
            pos = np.searchsorted(self.vocab, probe)
            inside = pos < len(self.vocab)
            pos, probe = pos[inside], probe[inside]
            found = pos[self.vocab[pos] == probe]
            out |= np.isin(self.code, found)
        if numbers:
            exact = np.asarray(numbers, dtype=np.float64)  # exact: every |value| < 2**53
            whole = exact[exact == np.floor(exact)].astype(np.int64)
            out[self._int_rows] |= np.isin(self._int_vals, whole)
            out[self._real_rows] |= np.isin(self._real_vals, exact)
        for v in rest:
            out |= self.equals(v)
        return out

    def compare(self, op: Op, value: Scalar) -> np.ndarray:
        """Rows satisfying ``$gt``/``$gte``/``$lt``/``$lte`` against a number or a string."""
        if isinstance(value, str):
            left = int(np.searchsorted(self.vocab, value, side="left"))
            right = int(np.searchsorted(self.vocab, value, side="right"))
            code, is_text = self.code, self.kind == TEXT
            if op is Op.GT:
                return is_text & (code >= right)
            if op is Op.GTE:
                return is_text & (code >= left)
            if op is Op.LT:
                return is_text & (code < left)
            return is_text & (code < right)
        return self._numbers(value, op.value)  # type: ignore[arg-type]


def _merge_vocab(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The sorted union of two sorted, distinct vocabularies, and where each one's entries
    landed in it (``None``: unchanged positions)."""
    if not len(b):
        return a, None, None
    if not len(a):
        return b, None, None
    pos = np.searchsorted(a, b)
    present = np.zeros(len(b), dtype=bool)
    inside = pos < len(a)
    present[inside] = a[pos[inside]] == b[inside]
    new_pos = pos[~present]  # sorted, as b is: the j-th new entry lands at new_pos[j] + j
    if not len(new_pos):
        return a, None, pos.astype(np.int32)
    vocab = np.insert(a, new_pos, b[~present])
    remap_a = (np.arange(len(a)) + np.searchsorted(new_pos, np.arange(len(a)), side="right")).astype(np.int32)
    remap_b = np.empty(len(b), dtype=np.int32)
    remap_b[present] = remap_a[pos[present]]
    remap_b[~present] = new_pos + np.arange(len(new_pos))
    return vocab, remap_a, remap_b


_OPS = {
    "eq": np.equal, "gt": np.greater, "gte": np.greater_equal, "lt": np.less, "lte": np.less_equal,
}
_PY_OPS = {
    "eq": lambda a, b: a == b, "gt": lambda a, b: a > b, "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b,
}


@dataclass(frozen=True)
class Column:
    """One metadata field over ``n`` rows: its values, and the elements of list values."""

    values: Values
    elements: Values  # one entry per list element
    element_row: np.ndarray  # (e,) int64: row of each element

    def __post_init__(self) -> None:
        # posting lists of the string elements: the rows holding each vocabulary entry, so that
        # membership costs O(matches) instead of a pass over every element
        codes = self.elements.code
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(self.elements.vocab) + 1))
        rows = self.element_row[order]
        if len(self.values.kind) < 2**31:  # (half the memory: 7 MiB less for 1.7M elements)
            rows = rows.astype(np.int32)
        object.__setattr__(self, "_postings", (rows, bounds))

    def extend(self, keep: np.ndarray, fresh: Column) -> Column:
        """This column's rows where ``keep`` is set, then ``fresh``'s rows: the column of a later
        snapshot of the same rows, some deleted and some appended (rows never change in place)."""
        if not len(fresh.values.kind) and bool(keep.all()):
            return self  # nothing deleted, nothing appended
        kept_elements = keep[self.element_row]
        position = np.cumsum(keep) - 1  # old row -> row among the kept ones
        n_kept = int(keep.sum())
        return Column(
            values=Values.concat(self.values.take(keep), fresh.values),
            elements=Values.concat(self.elements.take(kept_elements), fresh.elements),
            element_row=np.concatenate(
                [position[self.element_row[kept_elements]], fresh.element_row + n_kept]
            ).astype(np.int64),
        )

    def contains(self, value: Scalar) -> np.ndarray:
        """Rows whose list value has an element equal to ``value``."""
        out = np.zeros(len(self.values.kind), dtype=bool)
        if isinstance(value, str):
            rows, bounds = self._postings
            vocab = self.elements.vocab
            pos = int(np.searchsorted(vocab, value))
            if pos < len(vocab) and vocab[pos] == value:
                out[rows[bounds[pos] : bounds[pos + 1]]] = True
            return out
        out[self.element_row[self.elements.equals(value)]] = True
        return out


ColumnSource = Callable[[str], Column]
TextSource = Callable[[TextContains], np.ndarray]


def evaluate(node: Node, n: int, column: ColumnSource, text: TextSource) -> np.ndarray:
    """Evaluate a parsed filter to a ``(n,) bool`` mask over the rows.

    Args:
        node: a parsed filter.
        n: number of rows.
        column: returns the :class:`Column` of a field (loaded lazily and cached by the caller).
        text: returns the mask of a ``where_document`` condition.
    """
    if isinstance(node, TrueFilter):
        return np.ones(n, dtype=bool)
    if isinstance(node, And):
        out = evaluate(node.children[0], n, column, text)
        for child in node.children[1:]:
            out &= evaluate(child, n, column, text)
        return out
    if isinstance(node, Or):
        out = evaluate(node.children[0], n, column, text)
        for child in node.children[1:]:
            out |= evaluate(child, n, column, text)
        return out
    if isinstance(node, Not):
        return ~evaluate(node.child, n, column, text)
    if isinstance(node, TextContains):
        return text(node)
    if isinstance(node, Compare):
        return _compare(node, column(node.field))
    raise TypeError(f"unknown filter node {node!r}")


def _any(values: tuple[Scalar, ...], test: Callable[[Scalar], np.ndarray]) -> np.ndarray:
    out = test(values[0])
    for v in values[1:]:
        out = out | test(v)
    return out


def _compare(node: Compare, col: Column) -> np.ndarray:
    op, value, vals = node.op, node.value, col.values
    if op is Op.EQ:
        return vals.equals(value)  # type: ignore[arg-type]
    if op is Op.NE:
        return ~vals.equals(value)  # type: ignore[arg-type]
    if op in (Op.GT, Op.GTE, Op.LT, Op.LTE):
        return vals.compare(op, value)  # type: ignore[arg-type]
    if op is Op.IN:
        return vals.one_of(value)  # type: ignore[arg-type]
    if op is Op.NIN:
        return ~vals.one_of(value)  # type: ignore[arg-type]
    if op is Op.EXISTS:
        present = vals.kind != MISSING
        return present if value else ~present
    if op is Op.CONTAINS:
        return col.contains(value)  # type: ignore[arg-type]
    if op is Op.CONTAINS_ANY:
        return _any(value, col.contains)  # type: ignore[arg-type]
    if op is Op.CONTAINS_ALL:
        out = col.contains(value[0])  # type: ignore[index]
        for v in value[1:]:  # type: ignore[index]
            out &= col.contains(v)
        return out
    raise TypeError(f"unknown operator {op!r}")
