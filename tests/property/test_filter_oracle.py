"""Property: the SQL a filter compiles to selects exactly what a pure-Python oracle selects.

The oracle below is written from the filter semantics, independently of ``vecnest.filter``: it
evaluates the raw ``where`` / ``where_document`` dicts over Python metadata dicts.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from vecnest.filter import parse, to_sql

# ---------------------------------------------------------------------------------------------
# The oracle
# ---------------------------------------------------------------------------------------------

MISSING = object()


def kind(value: object) -> str:
    """JSON type family: bool is not a number; int and float are one family."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "num"
    if isinstance(value, str):
        return "str"
    return "list"


def same(stored: object, wanted: object) -> bool:
    return stored is not MISSING and kind(stored) == kind(wanted) != "list" and stored == wanted


def has_element(stored: object, wanted: object) -> bool:
    return isinstance(stored, list) and any(same(element, wanted) for element in stored)


def check(stored: object, op: str, arg: Any) -> bool:
    if op == "$eq":
        return same(stored, arg)
    if op == "$ne":
        return not same(stored, arg)
    if op in ("$gt", "$gte", "$lt", "$lte"):
        if stored is MISSING or kind(stored) != kind(arg):
            return False
        return {
            "$gt": stored > arg,
            "$gte": stored >= arg,
            "$lt": stored < arg,
            "$lte": stored <= arg,
        }[op]
    if op == "$in":
        return any(same(stored, x) for x in arg)
    if op == "$nin":
        return not any(same(stored, x) for x in arg)
    if op == "$exists":
        return (stored is not MISSING) == arg
    if op == "$contains":
        return has_element(stored, arg)
    if op == "$contains_any":
        return any(has_element(stored, x) for x in arg)
    if op == "$contains_all":
        return isinstance(stored, list) and all(has_element(stored, x) for x in arg)
    raise AssertionError(op)


def oracle_where(where: dict[str, Any], meta: dict[str, Any]) -> bool:
    for key, cond in where.items():
        if key == "$and":
            ok = all(oracle_where(sub, meta) for sub in cond)
        elif key == "$or":
            ok = any(oracle_where(sub, meta) for sub in cond)
        elif key == "$not":
            ok = not oracle_where(cond, meta)
        elif isinstance(cond, dict):
            ok = all(check(meta.get(key, MISSING), op, arg) for op, arg in cond.items())
        else:
            ok = check(meta.get(key, MISSING), "$eq", cond)
        if not ok:
            return False
    return True


def oracle_document(where_document: dict[str, Any], text: str | None) -> bool:
    text = text or ""
    for key, arg in where_document.items():
        if key == "$contains":
            ok = arg in text
        elif key == "$not_contains":
            ok = arg not in text
        elif key == "$and":
            ok = all(oracle_document(sub, text) for sub in arg)
        else:
            ok = any(oracle_document(sub, text) for sub in arg)
        if not ok:
            return False
    return True


# ---------------------------------------------------------------------------------------------
# Strategies: small pools so that values collide (1, 1.0, True; "a" and ["a"]; null and missing)
# ---------------------------------------------------------------------------------------------

FIELDS = ["a", "b", "c.d", "é"]
OPERATORS = ["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$contains"]
OPERATORS += ["$contains_any", "$contains_all"]
Docs = list[tuple[str | None, dict[str, Any]]]

POOL_NUMBERS = [0, 1, 1.0, 2, -1, 1.5, 0.0, -0.0, 2**53 + 1, 2.0**53, 2**63 - 1, -(2**63)]
POOL_STRINGS = ["", "a", "b", "ab", "B", "é", "2025-06-01", "2025-12-31"]
INT64 = st.integers(-(2**63), 2**63 - 1)
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
SHORT_TEXT = st.text("abAé-1\"\\\n😀", max_size=3)
DOC_TEXT = st.text("abA é😀", max_size=8)
NEEDLES = st.text("abA é😀", max_size=2)


class Drawer:
    """Draws documents, then filters whose values mostly come from the same field of those documents.

    Values are drawn from small pools so that they collide (1, 1.0, True; "a" and ["a"]; null and
    missing), now and then from all int64 / finite floats / short strings.
    """

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        self.items: dict[str, list[Any]] = {}  # scalar values and list elements, per field
        self.elements: dict[str, list[Any]] = {}  # list elements only, per field

    # -- primitives ---------------------------------------------------------------------------

    def integer(self, low: int, high: int) -> int:
        return self.draw(st.integers(low, high))

    def one_in(self, n: int) -> bool:
        return self.integer(0, n - 1) == 1

    def choice(self, options: list[Any]) -> Any:
        return options[self.integer(0, len(options) - 1)]

    # -- documents ----------------------------------------------------------------------------

    def number(self) -> int | float:
        if self.one_in(5):
            return self.draw(INT64 if self.one_in(2) else FLOATS)
        return self.choice(POOL_NUMBERS)

    def string(self) -> str:
        return self.draw(SHORT_TEXT) if self.one_in(5) else self.choice(POOL_STRINGS)

    def element(self) -> bool | int | float | str:
        family = self.integer(0, 2)
        return self.choice([True, False]) if family == 0 else self.number() if family == 1 else self.string()

    def scalar(self) -> Any:
        return None if self.one_in(5) else self.element()

    def meta_value(self) -> Any:
        if self.one_in(3):
            return [self.element() for _ in range(self.integer(0, 3))]
        return self.scalar()

    def documents(self) -> Docs:
        docs = []
        for _ in range(self.integer(3, 16)):
            text = None if self.one_in(4) else self.draw(DOC_TEXT)
            docs.append((text, {field: self.meta_value() for field in FIELDS if self.integer(0, 2)}))
        for field in FIELDS:
            values = [meta[field] for _, meta in docs if field in meta]
            self.elements[field] = [e for v in values if isinstance(v, list) for e in v]
            self.items[field] = [v for v in values if not isinstance(v, list)] + self.elements[field]
        return docs

    # -- filters ------------------------------------------------------------------------------

    def pick(self, present: list[Any], fallback: Callable[[], Any]) -> Any:
        """Mostly one of ``present``, sometimes a fresh value from ``fallback``."""
        return self.choice(present) if present and not self.one_in(4) else fallback()

    def ordered(self) -> int | float | str:
        return self.number() if self.one_in(2) else self.string()

    def operand(self, field: str, op: str) -> Any:
        if op == "$exists":
            return self.one_in(2)
        if op in ("$gt", "$gte", "$lt", "$lte"):
            return self.pick([v for v in self.items[field] if kind(v) in ("num", "str")], self.ordered)
        pool = self.elements[field] if op.startswith("$contains") else self.items[field]
        if op in ("$eq", "$ne", "$contains"):
            return self.pick(pool, self.scalar)
        size = 1 if self.one_in(5) else self.integer(2, 3)
        return [self.pick(pool, self.scalar) for _ in range(size)]

    def leaf(self) -> dict[str, Any]:
        field = self.choice(FIELDS)
        if self.one_in(4):
            return {field: self.pick(self.items[field], self.scalar)}  # $eq shorthand
        ops = [self.choice(OPERATORS)]
        if self.one_in(3):
            ops.append(self.choice(OPERATORS))
        return {field: {op: self.operand(field, op) for op in ops}}

    def where(self, depth: int) -> dict[str, Any]:
        """A filter with at most ``depth`` levels of ``$and`` / ``$or`` / ``$not``."""
        shape = self.choice(["leaf", "logical", "mixed"]) if depth else "leaf"
        if shape == "leaf":
            return self.leaf()
        if shape == "logical":
            op = self.choice(["$and", "$or", "$not"])
            if op == "$not":
                return {op: self.where(depth - 1)}
            return {op: [self.where(depth - 1) for _ in range(self.integer(1, 3))]}
        merged: dict[str, Any] = {}  # several keys in one dict; may stay {}
        for _ in range(self.integer(0, 3)):
            merged.update(self.where(depth - 1) if self.one_in(3) else self.leaf())
        return merged

    def where_document(self, depth: int) -> dict[str, Any]:
        """A ``where_document`` filter nested at most ``depth`` levels deep."""
        if depth and self.one_in(3):
            op = self.choice(["$and", "$or"])
            return {op: [self.where_document(depth - 1) for _ in range(self.integer(1, 3))]}
        return {self.choice(["$contains", "$not_contains"]): self.draw(NEEDLES)}


Filters = tuple[dict[str, Any] | None, dict[str, Any] | None]
Case = tuple[Docs, dict[str, Any] | None, dict[str, Any] | None]


def draw_filters(drawer: Drawer) -> Filters:
    """A ``where`` (depth ≤ 3; sometimes None) and a ``where_document`` (depth ≤ 2; often None)."""
    where = None if drawer.one_in(10) else drawer.where(3)
    where_document = drawer.where_document(2) if drawer.one_in(2) else None
    return where, where_document


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """Documents and one filter pair: ``(docs, where, where_document)``."""
    drawer = Drawer(draw)
    docs = drawer.documents()
    return (docs, *draw_filters(drawer))


@st.composite
def batches(draw: st.DrawFn) -> tuple[Docs, list[Filters]]:
    """Documents and three filter pairs to check against them."""
    drawer = Drawer(draw)
    docs = drawer.documents()
    return docs, [draw_filters(drawer) for _ in range(3)]


# ---------------------------------------------------------------------------------------------
# The property
# ---------------------------------------------------------------------------------------------


def pieces(where: dict[str, Any]) -> list[dict[str, Any]]:
    """Every sub-filter of a filter dict (single-key pieces and nested operands), so no leaf is masked."""
    found = []
    for key, value in where.items():
        found.append({key: value})
        if key in ("$and", "$or"):
            for sub in value:
                found.extend([sub, *pieces(sub)])
        elif key == "$not":
            found.extend([value, *pieces(value)])
    return found


def run_sql(conn: sqlite3.Connection, where: dict[str, Any] | None, where_document: dict[str, Any] | None) -> set[str]:
    """Ids the compiled filter selects from ``docs``; also checks ``NOT filter`` selects the rest."""
    sql, params = to_sql(parse(where, where_document))
    selected = {row[0] for row in conn.execute(f"SELECT id FROM docs WHERE {sql}", params)}
    rejected = {row[0] for row in conn.execute(f"SELECT id FROM docs WHERE NOT ({sql})", params)}
    everything = {row[0] for row in conn.execute("SELECT id FROM docs")}
    assert selected | rejected == everything, "a row neither matched nor failed: SQL NULL leaked"
    assert not selected & rejected
    return selected


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(batch=batches())
def test_sql_matches_oracle(batch: tuple[Docs, list[Filters]]) -> None:
    docs, filters = batch
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE docs (slot INTEGER PRIMARY KEY, id TEXT, text TEXT, metadata TEXT)")
    conn.executemany(
        "INSERT INTO docs (id, text, metadata) VALUES (?, ?, ?)",
        [(f"d{i}", text, json.dumps(meta, ensure_ascii=False)) for i, (text, meta) in enumerate(docs)],
    )
    try:
        for where, where_document in filters:
            checks = [(where, where_document)]
            checks += [(piece, None) for piece in pieces(where or {})]
            checks += [(None, piece) for piece in pieces(where_document or {})]
            for sub_where, sub_document in checks:
                expected = {
                    f"d{i}"
                    for i, (text, meta) in enumerate(docs)
                    if oracle_where(sub_where or {}, meta) and oracle_document(sub_document or {}, text)
                }
                assert run_sql(conn, sub_where, sub_document) == expected, (sub_where, sub_document)
    finally:
        conn.close()
