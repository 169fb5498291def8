"""Parsing and validation of ``where`` / ``where_document``: hand-written expectations."""

from __future__ import annotations

import datetime
from enum import IntEnum, StrEnum

import pytest

from vecnest.errors import InvalidFilterError, InvalidInputError
from vecnest.filter import (
    MATCH_ALL,
    And,
    Compare,
    Not,
    Op,
    Or,
    TextContains,
    check_field_name,
    parse,
    parse_where,
    parse_where_document,
)


def test_empty_filters_match_all() -> None:
    assert parse_where(None) is MATCH_ALL
    assert parse_where({}) is MATCH_ALL
    assert parse_where_document(None) is MATCH_ALL
    assert parse_where_document({}) is MATCH_ALL
    assert parse(None, None) is MATCH_ALL
    assert parse() is MATCH_ALL
    assert MATCH_ALL.fields() == frozenset()


def test_shorthand_is_eq() -> None:
    assert parse_where({"lang": "en"}) == Compare("lang", Op.EQ, "en")
    assert parse_where({"lang": None}) == Compare("lang", Op.EQ, None)


def test_several_fields_and_several_ops_are_and() -> None:
    node = parse_where({"year": {"$gte": 2020, "$lt": 2025}, "lang": "en"})
    assert node == And(
        (
            Compare("year", Op.GTE, 2020),
            Compare("year", Op.LT, 2025),
            Compare("lang", Op.EQ, "en"),
        )
    )
    assert node.fields() == {"year", "lang"}


def test_logical_operators() -> None:
    node = parse_where({"$or": [{"a": 1}, {"$not": {"b": {"$exists": True}}}]})
    assert node == Or((Compare("a", Op.EQ, 1), Not(Compare("b", Op.EXISTS, True))))
    assert node.fields() == {"a", "b"}
    assert parse_where({"$and": [{"a": 1}]}) == Compare("a", Op.EQ, 1)
    assert parse_where({"$and": [{"a": 1}, {"$and": [{"b": 2}, {"c": 3}]}]}) == And(
        (Compare("a", Op.EQ, 1), Compare("b", Op.EQ, 2), Compare("c", Op.EQ, 3))
    )
    assert parse_where({"$or": [{}, {"a": 1}]}) is MATCH_ALL
    assert parse_where({"$not": {}}) == Not(MATCH_ALL)


def test_list_operators_become_tuples() -> None:
    assert parse_where({"t": {"$in": ["a", 1, True, None]}}) == Compare("t", Op.IN, ("a", 1, True, None))
    assert parse_where({"t": {"$contains_all": ("x",)}}) == Compare("t", Op.CONTAINS_ALL, ("x",))
    assert parse_where({"t": {"$contains": 2.5}}) == Compare("t", Op.CONTAINS, 2.5)


def test_values_are_normalized_to_builtins() -> None:
    class Color(StrEnum):
        RED = "red"

    class Level(IntEnum):
        HIGH = 3

    node = parse_where({"c": Color.RED, "l": {"$gt": Level.HIGH}})
    assert isinstance(node, And)
    values = [child.value for child in node.children if isinstance(child, Compare)]
    assert values == ["red", 3]
    assert [type(v) for v in values] == [str, int]


def test_field_names_are_literal() -> None:
    assert parse_where({"a.b": 1}) == Compare("a.b", Op.EQ, 1)
    assert parse_where({"a[0] x'y é": 1}).fields() == {"a[0] x'y é"}
    assert parse_where({"price$": 1}).fields() == {"price$"}


def test_where_document() -> None:
    assert parse_where_document({"$contains": "vec"}) == TextContains("vec", negate=False)
    node = parse_where_document({"$or": [{"$contains": "a"}, {"$not_contains": "b"}]})
    assert node == Or((TextContains("a"), TextContains("b", negate=True)))
    assert node.fields() == frozenset()


def test_parse_combines_with_and() -> None:
    node = parse({"a": 1}, {"$contains": "x"})
    assert node == And((Compare("a", Op.EQ, 1), TextContains("x")))
    assert node.fields() == {"a"}
    assert parse({"a": 1}, None) == Compare("a", Op.EQ, 1)


def test_nodes_are_frozen_and_hashable() -> None:
    node = parse_where({"t": {"$in": [1, 2]}})
    assert hash(node) == hash(parse_where({"t": {"$in": [1, 2]}}))
    with pytest.raises(AttributeError):
        node.field = "other"  # type: ignore[misc]


def test_error_is_a_value_error_with_status_400() -> None:
    with pytest.raises(InvalidFilterError) as info:
        parse_where({"$gt": 5})
    assert isinstance(info.value, InvalidInputError)
    assert isinstance(info.value, ValueError)
    assert info.value.http_status == 400


@pytest.mark.parametrize(
    ("where", "match"),
    [
        # not a dict
        ([{"a": 1}], r"where: expected a filter dict .* got list"),
        ("year", r"where: expected a filter dict .* got str 'year'"),
        ({"$and": [{"a": 1}, 5]}, r"where\['\$and'\]\[1\]: expected a filter dict .* got int 5"),
        # unknown operators, with suggestions
        ({"year": {"$gtee": 1}}, r"Unknown operator; did you mean '\$gte'\?"),
        ({"year": {"$bogus": 1}}, r"expected an operator valid on field 'year' \(\$eq, \$ne, .*\$contains_all\)"),
        ({"$nor": [{"a": 1}]}, r"valid at the top level of a filter \(\$and, \$or, \$not\).*did you mean '\$or'"),
        ({"year": {"gte": 1}}, r"operator keys starting with '\$'.*got str 'gte'.*Did you mean '\$gte'\?"),
        ({"year": {"month": 5}}, r"nested objects are not supported"),
        # operators at the wrong level
        ({"$gt": 5}, r"expected a field name or one of \$and, \$or, \$not, got str '\$gt'.*under a field"),
        ({"$contains": "x"}, r"use where_document=\{\"\$contains\": ...\}"),
        ({"year": {"$and": [{"a": 1}]}}, r"\$and is a logical operator; put it at the top level"),
        ({"year": {"$not": {"$gt": 1}}}, r"\$not is a logical operator"),
        # $and / $or / $not shapes
        ({"$and": []}, r"where\['\$and'\]: expected a non-empty list of filter dicts, got list \[\]"),
        ({"$or": []}, r"expected a non-empty list of filter dicts"),
        ({"$and": {"a": 1}}, r"where\['\$and'\]: expected a list of filter dicts, got dict"),
        ({"$or": "a"}, r"expected a list of filter dicts, got str"),
        ({"$not": [{"a": 1}]}, r"expected one filter dict, got list.*\{\"\$not\": \{\"\$and\""),
        ({"year": {}}, r"where\['year'\]: expected at least one operator"),
        # field names
        ({"": 1}, r"expected a non-empty field name"),
        ({'a"b': 1}, r"without '\"', '\\' or control characters"),
        ({"a\\b": 1}, r"without '\"', '\\' or control characters"),
        ({"a\nb": 1}, r"control characters.*contains '\\n'"),
        ({"a\x7fb": 1}, r"control characters"),
        ({1: 2}, r"expected a str field name, got int 1"),
        # value types
        ({"year": [2020, 2021]}, r"got list \[2020, 2021\]\. Lists match with \{\"\$in\""),
        ({"year": {"$eq": [1]}}, r"where\['year'\]\['\$eq'\]: expected a scalar .* got list"),
        ({"year": {"$eq": {"a": 1}}}, r"expected a scalar .* got dict"),
        ({"d": datetime.date(2025, 6, 1)}, r"got date .*ISO strings such as '2025-06-01'"),
        ({"year": {"$gt": True}}, r"expected an int, float or str to compare with, got bool True.*no order"),
        ({"year": {"$lte": None}}, r"got NoneType None.*Booleans and null have no order"),
        ({"year": {"$gt": [1]}}, r"expected an int, float or str to compare with, got list"),
        ({"year": {"$in": []}}, r"expected a non-empty list of scalars, got list \[\]"),
        ({"year": {"$in": 2020}}, r"expected a non-empty list of scalars, got int 2020"),
        ({"year": {"$nin": "abc"}}, r"expected a non-empty list of scalars, got str 'abc'"),
        ({"year": {"$in": [1, [2]]}}, r"where\['year'\]\['\$in'\]\[1\]: expected a scalar"),
        ({"tags": {"$contains_any": []}}, r"non-empty list of scalars"),
        ({"tags": {"$contains_all": None}}, r"non-empty list of scalars"),
        ({"tags": {"$contains": ["a", "b"]}}, r"expected one scalar element.*\$contains_all or \$contains_any"),
        ({"a": {"$exists": 1}}, r"expected true or false, got int 1"),
        ({"a": {"$exists": "yes"}}, r"expected true or false"),
        # numbers
        ({"x": float("nan")}, r"expected a finite number, got float nan"),
        ({"x": {"$gt": float("inf")}}, r"expected a finite number, got float inf"),
        ({"x": {"$in": [1, float("-inf")]}}, r"expected a finite number"),
        ({"x": "a\x00b"}, r"where\['x'\]: expected a str without NUL characters"),
        ({"x": {"$in": ["ok", "\x00"]}}, r"\['\$in'\]\[1\]: expected a str without NUL"),
        ({"x": 2**63}, r"expected an int within the signed 64-bit range, got int 9223372036854775808"),
        ({"x": {"$lt": -(2**63) - 1}}, r"signed 64-bit range"),
    ],
)
def test_invalid_where(where: object, match: str) -> None:
    with pytest.raises(InvalidFilterError, match=match):
        parse_where(where)  # type: ignore[arg-type]


def test_int64_bounds_are_accepted() -> None:
    assert parse_where({"x": 2**63 - 1}) == Compare("x", Op.EQ, 2**63 - 1)
    assert parse_where({"x": {"$gte": -(2**63)}}) == Compare("x", Op.GTE, -(2**63))


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        ("text", r"where_document: expected a dict such as \{\"\$contains\": \"text\"\}, got str"),
        ({"$contains": 5}, r"where_document\['\$contains'\]: expected a str to search for, got int 5"),
        ({"$not_contains": None}, r"expected a str to search for"),
        ({"year": 2020}, r"got str 'year'.*put metadata conditions in where"),
        ({"$not": {"$contains": "a"}}, r"got str '\$not'.*\$not_contains"),
        ({"$contain": "a"}, r"Unknown operator; did you mean '\$contains'\?"),
        ({"$gt": "a"}, r"expected an operator valid in where_document"),
        ({"$and": []}, r"non-empty list"),
        ({"$or": {"$contains": "a"}}, r"expected a list of filter dicts"),
        ({"$and": [{"$contains": "a"}, {"lang": "en"}]}, r"where_document\['\$and'\]\[1\]"),
    ],
)
def test_invalid_where_document(doc: object, match: str) -> None:
    with pytest.raises(InvalidFilterError, match=match):
        parse_where_document(doc)  # type: ignore[arg-type]


def test_parse_reports_either_side() -> None:
    with pytest.raises(InvalidFilterError, match=r"^where_document"):
        parse({"a": 1}, {"$bad": "x"})
    with pytest.raises(InvalidFilterError, match=r"^where\["):
        parse({"a": {"$bad": 1}}, {"$contains": "x"})


def test_check_field_name() -> None:
    assert check_field_name("year") == "year"
    with pytest.raises(InvalidFilterError, match=r"not starting with '\$'"):
        check_field_name("$year")


def test_parse_remembers_trees_but_keeps_types_apart() -> None:
    a = parse({"year": {"$gte": 2020}, "flag": True})
    assert parse({"year": {"$gte": 2020}, "flag": True}) is a  # the same input: the same tree
    b = parse({"year": {"$gte": 2020}, "flag": 1})  # True and 1 differ in the language
    assert b is not a and repr(b) != repr(a)
    assert repr(parse({"x": 1.0})) != repr(parse({"x": 1}))
    for _ in range(2):  # a malformed filter raises every time (errors are not remembered)
        with pytest.raises(InvalidFilterError, match=r"\$gte"):
            parse({"year": {"$gte": [1]}})
