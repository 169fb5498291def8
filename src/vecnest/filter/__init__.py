"""The filter language: ``where`` / ``where_document`` dicts → validated AST → SQLite SQL.

Example:
    >>> from vecnest.filter import parse, to_sql
    >>> sql, params = to_sql(parse({"year": {"$gte": 2020}}))
    >>> params
    [2020]
"""

from __future__ import annotations

from vecnest.filter.ast import (
    MATCH_ALL,
    And,
    Compare,
    Node,
    Not,
    Op,
    Or,
    TextContains,
    TrueFilter,
)
from vecnest.filter.parse import MAX_DEPTH, check_field_name, parse, parse_where, parse_where_document
from vecnest.filter.sql import JSON_PATH_TEMPLATE, json_extract_sql, json_path, to_sql

__all__ = [
    "parse",
    "parse_where",
    "parse_where_document",
    "to_sql",
    "json_path",
    "json_extract_sql",
    "JSON_PATH_TEMPLATE",
    "check_field_name",
    "Node",
    "Op",
    "Compare",
    "And",
    "Or",
    "Not",
    "TextContains",
    "TrueFilter",
    "MATCH_ALL",
    "MAX_DEPTH",
]
