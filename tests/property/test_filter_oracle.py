"""Property: the SQL a filter compiles to selects exactly what a pure-Python oracle selects.

The oracle below is written from the filter semantics, independently of ``vecnest.filter``: it
evaluates the raw ``where`` / ``where_document`` dicts over Python metadata dicts.
"""

from __future__ import annotations

import json
import sqlite3
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


def mostly(common: st.SearchStrategy[Any], rare: st.SearchStrategy[Any], one_in: int = 5) -> st.SearchStrategy[Any]:
    """Draw from ``rare`` about once in ``one_in`` draws, else from ``common``."""
    return st.integers(0, one_in - 1).flatmap(lambda i: rare if i == 1 else common)


# Mostly small pools that collide (1, 1.0, True; "a" and ["a"]); now and then any int64 / float.
POOL_NUMBERS = st.sampled_from([0, 1, 1.0, 2, -1, 1.5, 0.0, -0.0, 2**53 + 1, 2.0**53, 2**63 - 1, -(2**63)])
RANDOM_NUMBERS = st.one_of(st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False, allow_infinity=False))
NUMBERS = mostly(POOL_NUMBERS, RANDOM_NUMBERS)
STRINGS = mostly(st.sampled_from(["", "a", "b", "ab", "B", "é", "2025-06-01", "2025-12-31"]), st.text("abAé-1", max_size=3))
ELEMENTS = st.one_of(st.booleans(), NUMBERS, STRINGS)
SCALARS = st.one_of(st.none(), ELEMENTS)
META_VALUES = st.one_of(SCALARS, st.lists(ELEMENTS, max_size=3))

def where_filters(depth: int, scalars: st.SearchStrategy[Any], ordered: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Filter dicts nested at most ``depth`` logical levels deep.

    Args:
        depth: How many ``$and`` / ``$or`` / ``$not`` levels may still be opened.
        scalars: Values to compare with (biased towards values present in the documents).
        ordered: Numbers and strings, for ``$gt`` and friends.
    """
    lists = st.lists(scalars, min_size=1, max_size=3)
    op_values = {
        "$eq": scalars,
        "$ne": scalars,
        "$gt": ordered,
        "$gte": ordered,
        "$lt": ordered,
        "$lte": ordered,
        "$in": lists,
        "$nin": lists,
        "$exists": st.booleans(),
        "$contains": scalars,
        "$contains_any": lists,
        "$contains_all": lists,
    }
    operator_dicts = st.lists(st.sampled_from(sorted(op_values)), min_size=1, max_size=2, unique=True).flatmap(
        lambda ops: st.fixed_dictionaries({op: op_values[op] for op in ops})
    )
    conditions = st.one_of(scalars, operator_dicts)
    leaf = st.builds(lambda field, cond: {field: cond}, st.sampled_from(FIELDS), conditions)
    if depth == 0:
        return leaf
    sub = where_filters(depth - 1, scalars, ordered)
    subs = st.lists(sub, min_size=1, max_size=3)
    key_values = {**{field: conditions for field in FIELDS}, "$and": subs, "$or": subs, "$not": sub}
    mixed = st.lists(st.sampled_from(sorted(key_values)), max_size=2, unique=True).flatmap(
        lambda keys: st.fixed_dictionaries({key: key_values[key] for key in keys})
    )
    return st.one_of(
        leaf,
        mixed,
        st.builds(lambda s: {"$and": s}, subs),
        st.builds(lambda s: {"$or": s}, subs),
        st.builds(lambda s: {"$not": s}, sub),
    )


def document_filters(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    """``where_document`` dicts nested at most ``depth`` levels deep."""
    needle = st.text("abA ", max_size=2)
    leaf = st.one_of(st.builds(lambda s: {"$contains": s}, needle), st.builds(lambda s: {"$not_contains": s}, needle))
    if depth == 0:
        return leaf
    subs = st.lists(document_filters(depth - 1), min_size=1, max_size=3)
    return st.one_of(leaf, st.builds(lambda s: {"$and": s}, subs), st.builds(lambda s: {"$or": s}, subs))


DOCUMENTS = st.lists(
    st.tuples(
        st.one_of(st.none(), st.text("abA ", max_size=8)),
        st.dictionaries(st.sampled_from(FIELDS), META_VALUES, max_size=4),
    ),
    min_size=3,
    max_size=16,
)


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[tuple[str | None, dict[str, Any]]], dict | None, dict | None]:
    """Documents, then filters whose values are mostly taken from those documents."""
    docs = draw(DOCUMENTS)
    seen: dict[tuple[str, str], Any] = {}
    for _, meta in docs:
        for value in meta.values():
            for item in value if isinstance(value, list) else [value]:
                seen.setdefault((type(item).__name__, repr(item)), item)
    present = list(seen.values())
    present_ordered = [v for v in present if kind(v) in ("num", "str")]
    scalars = mostly(st.sampled_from(present), SCALARS, one_in=3) if present else SCALARS
    ordered = st.one_of(NUMBERS, STRINGS)
    if present_ordered:
        ordered = mostly(st.sampled_from(present_ordered), ordered, one_in=3)
    where = draw(mostly(where_filters(3, scalars, ordered), st.none(), one_in=8))
    where_document = draw(mostly(st.none(), document_filters(2), one_in=3))
    return docs, where, where_document


# ---------------------------------------------------------------------------------------------
# The property
# ---------------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, derandomize=True)
@given(case=cases())
def test_sql_matches_oracle(case: tuple[list[tuple[str | None, dict[str, Any]]], dict | None, dict | None]) -> None:
    docs, where, where_document = case
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("CREATE TABLE docs (slot INTEGER PRIMARY KEY, id TEXT, text TEXT, metadata TEXT)")
        conn.executemany(
            "INSERT INTO docs (id, text, metadata) VALUES (?, ?, ?)",
            [(f"d{i}", text, json.dumps(meta, ensure_ascii=False)) for i, (text, meta) in enumerate(docs)],
        )
        sql, params = to_sql(parse(where, where_document))
        got = {row[0] for row in conn.execute(f"SELECT id FROM docs WHERE {sql}", params)}
        negated = {row[0] for row in conn.execute(f"SELECT id FROM docs WHERE NOT {sql}", params)}
    finally:
        conn.close()
    expected = {
        f"d{i}"
        for i, (text, meta) in enumerate(docs)
        if oracle_where(where or {}, meta) and oracle_document(where_document or {}, text)
    }
    assert got == expected
    assert negated == {f"d{i}" for i in range(len(docs))} - expected
