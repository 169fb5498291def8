"""SQL compilation: run against an in-memory SQLite table; matched ids computed by hand."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator

import pytest

from vecnest.errors import InvalidFilterError, InvalidInputError
from vecnest.filter import (
    JSON_PATH_TEMPLATE,
    MATCH_ALL,
    Compare,
    Op,
    json_extract_sql,
    json_path,
    parse,
    to_sql,
)

DOCS: list[tuple[str, str | None, dict[str, object]]] = [
    ("d1", "Vector search in SQLite", {"year": 2020, "lang": "en", "tags": ["a", "b"], "score": 1.5, "flag": True}),
    ("d2", "vector databases", {"year": 2021.0, "lang": "de", "tags": ["b", 1], "score": 1, "flag": False}),
    ("d3", "Dates as strings", {"year": "2022-06-01", "lang": None, "tags": "a", "flag": 1}),
    ("d4", None, {"year": 2019, "tags": [], "a.b": "dot", "é": "accent"}),
    ("d5", "empty metadata", {}),
    ("d6", "bool year", {"year": True, "lang": "en", "tags": [True, "c"], "score": 2}),
]
ALL = {doc_id for doc_id, _, _ in DOCS}


@pytest.fixture(scope="module")
def db() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE docs (slot INTEGER PRIMARY KEY, id TEXT, text TEXT, metadata TEXT)")
    conn.executemany(
        "INSERT INTO docs (id, text, metadata) VALUES (?, ?, ?)",
        [(doc_id, text, json.dumps(meta, ensure_ascii=False)) for doc_id, text, meta in DOCS],
    )
    yield conn
    conn.close()


def select(conn: sqlite3.Connection, where: dict | None = None, where_document: dict | None = None) -> set[str]:
    sql, params = to_sql(parse(where, where_document))
    return {row[0] for row in conn.execute(f"SELECT id FROM docs WHERE {sql}", params)}


CASES: list[tuple[dict, set[str]]] = [
    # equality: int == float, bool != number, strings only with strings, lists never equal
    ({"year": 2020}, {"d1"}),
    ({"year": 2021}, {"d2"}),
    ({"year": 2020.0}, {"d1"}),
    ({"year": {"$ne": 2020}}, ALL - {"d1"}),
    ({"flag": True}, {"d1"}),
    ({"flag": 1}, {"d3"}),
    ({"flag": False}, {"d2"}),
    ({"flag": 0}, set()),
    ({"flag": {"$ne": True}}, ALL - {"d1"}),
    ({"tags": "a"}, {"d3"}),
    ({"tags": {"$ne": "a"}}, ALL - {"d3"}),
    ({"a.b": "dot"}, {"d4"}),
    ({"é": "accent"}, {"d4"}),
    # null versus missing
    ({"lang": None}, {"d3"}),
    ({"lang": {"$ne": None}}, ALL - {"d3"}),
    ({"lang": {"$ne": "en"}}, {"d2", "d3", "d4", "d5"}),
    ({"lang": {"$exists": True}}, {"d1", "d2", "d3", "d6"}),
    ({"lang": {"$exists": False}}, {"d4", "d5"}),
    ({"tags": {"$exists": True}}, {"d1", "d2", "d3", "d4", "d6"}),
    # ordering: numbers with numbers, strings with strings, never bools or lists
    ({"year": {"$gte": 2020}}, {"d1", "d2"}),
    ({"year": {"$gt": 2020}}, {"d2"}),
    ({"year": {"$lt": 2020}}, {"d4"}),
    ({"year": {"$lte": 2020.5}}, {"d1", "d4"}),
    ({"year": {"$gt": 0}}, {"d1", "d2", "d4"}),
    ({"year": {"$gte": "2022"}}, {"d3"}),
    ({"year": {"$lt": "2022"}}, set()),
    ({"year": {"$gt": 2019, "$lt": 2021}}, {"d1"}),
    ({"tags": {"$gt": ""}}, {"d3"}),
    ({"score": {"$gt": 1}}, {"d1", "d6"}),
    # membership
    ({"score": {"$in": [1, 2]}}, {"d2", "d6"}),
    ({"flag": {"$in": [True, 1]}}, {"d1", "d3"}),
    ({"flag": {"$nin": [False]}}, ALL - {"d2"}),
    ({"lang": {"$in": ["de", None]}}, {"d2", "d3"}),
    ({"lang": {"$nin": ["en", "de"]}}, {"d3", "d4", "d5"}),
    ({"tags": {"$in": ["a", "b"]}}, {"d3"}),
    # list fields
    ({"tags": {"$contains": "a"}}, {"d1"}),
    ({"tags": {"$contains": "b"}}, {"d1", "d2"}),
    ({"tags": {"$contains": 1}}, {"d2"}),
    ({"tags": {"$contains": 1.0}}, {"d2"}),
    ({"tags": {"$contains": True}}, {"d6"}),
    ({"year": {"$contains": 2020}}, set()),
    ({"tags": {"$contains_any": ["a", "c"]}}, {"d1", "d6"}),
    ({"tags": {"$contains_any": [1, True]}}, {"d2", "d6"}),
    ({"tags": {"$contains_all": ["a", "b"]}}, {"d1"}),
    ({"tags": {"$contains_all": ["b", 1.0]}}, {"d2"}),
    ({"tags": {"$contains_all": ["b", "b"]}}, {"d1", "d2"}),
    ({"tags": {"$contains_all": ["a", "zzz"]}}, set()),
    # logic
    ({"$not": {"year": {"$gt": 2019}}}, {"d3", "d4", "d5", "d6"}),
    ({"$not": {"lang": "en"}}, {"d2", "d3", "d4", "d5"}),
    ({"$not": {"$not": {"lang": "en"}}}, {"d1", "d6"}),
    ({"$not": {"tags": {"$contains": "a"}}}, ALL - {"d1"}),
    ({"$or": [{"lang": "de"}, {"score": {"$gt": 1.5}}]}, {"d2", "d6"}),
    ({"$and": [{"lang": "en"}, {"score": 1.5}]}, {"d1"}),
    ({"lang": "en", "$or": [{"flag": True}, {"year": True}]}, {"d1", "d6"}),
    ({"$not": {}}, set()),
    ({}, ALL),
]


@pytest.mark.parametrize(("where", "expected"), CASES)
def test_where(db: sqlite3.Connection, where: dict, expected: set[str]) -> None:
    assert select(db, where) == expected


@pytest.mark.parametrize(
    ("where_document", "expected"),
    [
        ({"$contains": "vector"}, {"d2"}),
        ({"$contains": "Vector"}, {"d1"}),
        ({"$not_contains": "vector"}, ALL - {"d2"}),
        ({"$contains": ""}, ALL),
        ({"$or": [{"$contains": "Vector"}, {"$contains": "Dates"}]}, {"d1", "d3"}),
        ({"$and": [{"$contains": "a"}, {"$not_contains": "metadata"}]}, {"d1", "d2", "d3", "d6"}),
    ],
)
def test_where_document(db: sqlite3.Connection, where_document: dict, expected: set[str]) -> None:
    assert select(db, None, where_document) == expected


def test_where_and_where_document_combine(db: sqlite3.Connection) -> None:
    assert select(db, {"lang": "en"}, {"$contains": "bool"}) == {"d6"}


@pytest.mark.parametrize("where", [where for where, _ in CASES])
def test_every_leaf_is_zero_or_one_never_null(db: sqlite3.Connection, where: dict) -> None:
    sql, params = to_sql(parse(where, {"$not_contains": "x"}))
    values = {row[0] for row in db.execute(f"SELECT {sql} FROM docs", params)}
    assert values <= {0, 1}


def test_match_all_sql() -> None:
    assert to_sql(MATCH_ALL) == ("1", [])


def test_sql_shape_and_params() -> None:
    sql, params = to_sql(parse({"year": {"$gte": 2020}}))
    assert sql == (
        "(json_extract(metadata, '$.\"year\"') >= ? AND "
        "(json_type(metadata, '$.\"year\"') IS 'integer' OR json_type(metadata, '$.\"year\"') IS 'real'))"
    )
    assert params == [2020]
    sql, params = to_sql(parse(None, {"$contains": "x"}), text_column="d.body")
    assert sql == "(instr(coalesce(d.body, ''), ?) > 0)"
    assert params == ["x"]


def test_in_dedupes_equal_values() -> None:
    _, params = to_sql(Compare("x", Op.IN, (1, 1.0, True, "1", "1")))
    assert params == [1, 1, "1"]  # 1 == 1.0 collapse; True stays (bound as 1 with a json_type guard)


def test_json_path() -> None:
    assert JSON_PATH_TEMPLATE == '$."{field}"'
    assert json_path("year") == '$."year"'
    assert json_path("a.b") == '$."a.b"'
    assert json_extract_sql("year") == "json_extract(metadata, '$.\"year\"')"
    assert json_extract_sql("it's", "d.meta") == "json_extract(d.meta, '$.\"it''s\"')"
    with pytest.raises(InvalidFilterError, match="field name"):
        json_path('a"b')


def test_quote_in_field_name_is_escaped() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE docs (slot INTEGER PRIMARY KEY, id TEXT, text TEXT, metadata TEXT)")
    conn.execute("INSERT INTO docs (id, metadata) VALUES ('q', ?)", [json.dumps({"it's": 1})])
    assert select(conn, {"it's": 1}) == {"q"}
    assert select(conn, {"it's": {"$ne": 1}}) == set()


@pytest.mark.parametrize("column", ["meta data", "m; DROP TABLE docs", "", "value", "json", "1m", "a.b.c"])
def test_bad_column_names(column: str) -> None:
    with pytest.raises(InvalidInputError, match="column name"):
        to_sql(parse({"a": 1}), metadata_column=column)


def test_qualified_column_works(db: sqlite3.Connection) -> None:
    sql, params = to_sql(parse({"tags": {"$contains": "b"}}), metadata_column="d.metadata", text_column="d.text")
    rows = db.execute(f"SELECT d.id FROM docs AS d WHERE {sql}", params).fetchall()
    assert {row[0] for row in rows} == {"d1", "d2"}


@pytest.mark.parametrize(
    "where",
    [
        {"year": 2020},
        {"year": {"$gte": 2020}},
        {"year": {"$lt": "2022"}},
        {"year": {"$in": [2019, 2020]}},
        {"year": 2020, "lang": {"$ne": "en"}},
    ],
)
def test_positive_leaves_can_use_an_expression_index(where: dict) -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE docs (slot INTEGER PRIMARY KEY, id TEXT, text TEXT, metadata TEXT)")
    conn.execute(f"CREATE INDEX idx_year ON docs({json_extract_sql('year')})")
    sql, params = to_sql(parse(where))
    plan = " ".join(row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN SELECT id FROM docs WHERE {sql}", params))
    assert "USING INDEX idx_year" in plan
