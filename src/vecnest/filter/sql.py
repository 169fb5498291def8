"""Compile the filter AST to a SQLite ``WHERE`` fragment over a JSON metadata column.

Semantics (the property test's pure-Python oracle implements the same):

* Types are strict, as in JSON: a bool never equals a number (``true != 1``); ints and floats
  compare numerically (``1 == 1.0``); strings compare only with strings (by code point); numbers
  only with numbers. A comparison across types is false, not an error.
* A missing field makes ``$eq $gt $gte $lt $lte $in $contains*`` false and ``$ne $nin`` true.
  ``$exists: true`` holds iff the key is present, even with a JSON ``null`` value.
* ``$eq: None`` matches a key present with ``null``; ``$ne: None`` matches everything else.
* A list-valued field never satisfies ``$eq $gt… $in`` (so ``$ne`` / ``$nin`` hold); lists are
  matched by ``$contains`` (an element equals the value, same type rules), ``$contains_any`` and
  ``$contains_all``. A non-list field never satisfies ``$contains*``.
* ``$not`` is logical negation. Every leaf evaluates to 0 or 1, never SQL ``NULL``, so ``NOT``
  and ``OR`` behave as in two-valued logic.
* ``where_document`` ``$contains`` is a case-sensitive substring test; a ``NULL`` text counts as
  ``""``.

Positive leaves keep a bare ``json_extract(metadata, '$."field"') = ?`` (or ``> ?``, ``IN (…)``)
term in an AND conjunct, so SQLite can use an expression index created on exactly
:func:`json_extract_sql` (``CREATE INDEX … ON docs(json_extract(metadata, '$."year"'))``).

Storage contract (SQLite 3.40 JSON1 behaviour the store must respect):

* serialize metadata with ``json.dumps(..., ensure_ascii=False)``: path labels are matched against
  the key *as written* in the JSON text, so an escaped key (``"\\u00e9"``) is not found by ``$."é"``;
* accept only keys that pass :func:`~vecnest.filter.parse.check_field_name` (no ``"``, ``\\`` or
  control characters — an escaped label can never be addressed);
* reject strings containing NUL: ``json_extract`` cuts them at the NUL, so ``"a\\x00b"`` would
  equal ``"a"`` (filters refuse such values for the same reason);
* reject NaN / infinity and ints outside int64, which JSON1 cannot read back exactly.
"""

from __future__ import annotations

import json
import re

from vecnest.errors import InvalidInputError
from vecnest.filter.ast import (
    And,
    Compare,
    Node,
    Not,
    Op,
    Or,
    Scalar,
    TextContains,
    TrueFilter,
)
from vecnest.filter.parse import check_field_name

__all__ = ["JSON_PATH_TEMPLATE", "json_path", "json_extract_sql", "to_sql"]

JSON_PATH_TEMPLATE = '$."{field}"'
"""The JSON path form used for every field: the name quoted, so dots and brackets are literal."""

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")
# json_each's own column names: an unqualified outer column with one of these names would be
# captured by the table-valued function inside the $contains subquery.
_JSON_EACH_COLUMNS = frozenset({"key", "value", "type", "atom", "id", "parent", "fullkey", "path", "json", "root"})
_RANGE_SQL = {Op.GT: ">", Op.GTE: ">=", Op.LT: "<", Op.LTE: "<="}
#: ``$in`` lists longer than this are sent as one JSON array (see ``_Compiler._one_of``).
_INLINE_LIST_MAX = 64


# ---------------------------------------------------------------------------------------------
# HIGH-LEVEL API
# ---------------------------------------------------------------------------------------------


def json_path(field: str) -> str:
    """Return the SQLite JSON path for a metadata field: ``$."field"``.

    Args:
        field: A metadata field name (validated as in filters).

    Returns:
        The path text, without SQL quoting, e.g. ``'$."year"'`` for ``"year"``.

    Raises:
        InvalidFilterError: The field name is not acceptable.
    """
    return JSON_PATH_TEMPLATE.format(field=check_field_name(field))


def json_extract_sql(field: str, metadata_column: str = "metadata") -> str:
    """Return the exact SQL expression the compiler uses to read ``field``.

    Create expression indexes on this text so the planner can match them, e.g.
    ``CREATE INDEX idx_year ON docs(json_extract(metadata, '$."year"'))``.

    Args:
        field: A metadata field name.
        metadata_column: The column holding the metadata JSON object text.

    Returns:
        ``json_extract(<column>, '<path>')`` with the path as an SQL string literal.

    Raises:
        InvalidFilterError: The field name is not acceptable.
        InvalidInputError: The column name is not a plain (optionally qualified) identifier.
    """
    return f"json_extract({_column(metadata_column)}, {_literal(json_path(field))})"


def to_sql(node: Node, metadata_column: str = "metadata", text_column: str = "text") -> tuple[str, list[object]]:
    """Compile a parsed filter to a ``WHERE`` fragment with ``?`` placeholders.

    Args:
        node: The AST from :func:`~vecnest.filter.parse.parse`.
        metadata_column: Column (optionally ``table.column``) holding the metadata JSON object.
        text_column: Column holding the document text.

    Returns:
        ``(sql, params)``: an expression that is 1 for matching rows and 0 otherwise (never
        ``NULL``), and its parameters in order. ``MATCH_ALL`` compiles to ``("1", [])``.

    Raises:
        InvalidInputError: A column name is not a plain (optionally qualified) identifier.
    """
    compiler = _Compiler(_column(metadata_column), _column(text_column))
    sql = compiler.compile(node)
    return sql, compiler.params


# ---------------------------------------------------------------------------------------------
# LOW-LEVEL: the compiler
# ---------------------------------------------------------------------------------------------


def _kind(value: Scalar) -> str:
    """The JSON type family of a filter value: null, true, false, num or text."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return "num" if isinstance(value, int | float) else "text"


class _Compiler:
    """Walks the AST once, collecting parameters in placeholder order."""

    def __init__(self, metadata_column: str, text_column: str) -> None:
        self.meta = metadata_column
        self.text = text_column
        self.params: list[object] = []

    def compile(self, node: Node) -> str:
        """Return the SQL for ``node``, appending its parameters."""
        match node:
            case TrueFilter():
                return "1"
            case And(children):
                return "(" + " AND ".join(self.compile(child) for child in children) + ")"
            case Or(children):
                return "(" + " OR ".join(self.compile(child) for child in children) + ")"
            case Not(child):
                return f"(NOT {self.compile(child)})"
            case TextContains(substring, negate):
                self.params.append(substring)
                return f"(instr(coalesce({self.text}, ''), ?) {'=' if negate else '>'} 0)"
            case Compare():
                return self._compare(node)
        raise TypeError(f"not a filter node: {node!r}")  # unreachable for parsed trees

    def _compare(self, node: Compare) -> str:
        path = _literal(json_path(node.field))
        value_sql = f"json_extract({self.meta}, {path})"
        type_sql = f"json_type({self.meta}, {path})"
        op = node.op
        values = node.value if isinstance(node.value, tuple) else (node.value,)
        if op is Op.EXISTS:
            return f"({type_sql} IS NOT NULL)" if values[0] else f"({type_sql} IS NULL)"
        if op in (Op.EQ, Op.NE, Op.IN, Op.NIN):
            sql = self._in(value_sql, type_sql, values)
        elif op in _RANGE_SQL:
            self.params.append(values[0])
            sql = f"({value_sql} {_RANGE_SQL[op]} ? AND {_type_is(type_sql, _kind(values[0]))})"
        elif op in (Op.CONTAINS, Op.CONTAINS_ANY):
            sql = self._contains_any(path, type_sql, values)
        else:  # CONTAINS_ALL: one EXISTS per distinct element
            parts = [self._contains_any(path, type_sql, (item,)) for item in _distinct(values)]
            sql = parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"
        return f"(NOT {sql})" if op in (Op.NE, Op.NIN) else sql

    def _in(self, value_sql: str, type_sql: str, values: tuple[Scalar, ...]) -> str:
        """Field equals one of ``values`` (same JSON type family); 0/1 even for missing fields."""
        parts = []
        for kind, group in _group(values):
            if kind == "null":
                parts.append(f"({type_sql} IS 'null')")
                continue
            # true/false read back from json_extract as 1/0; the bare term stays index-friendly.
            params = [int(v) if isinstance(v, bool) else v for v in group]
            test = self._one_of(params)
            parts.append(f"({value_sql} {test} AND {_type_is(type_sql, kind)})")
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"

    def _one_of(self, params: list[Scalar]) -> str:
        """``= ?``, ``IN (?, …)``, or for long lists one JSON array parameter read by
        ``json_each`` (SQLite caps bound parameters per statement, and builds the same
        ephemeral lookup table for both forms). Values of one kind only (see :func:`_group`):
        a JSON text reads back as TEXT, a number as INTEGER or REAL, as stored."""
        if len(params) == 1:
            self.params.append(params[0])
            return "= ?"
        if len(params) <= _INLINE_LIST_MAX:
            self.params.extend(params)
            return "IN (" + ", ".join("?" * len(params)) + ")"
        self.params.append(json.dumps(params, ensure_ascii=False, allow_nan=False))
        return "IN (SELECT value FROM json_each(?))"

    def _contains_any(self, path: str, type_sql: str, values: tuple[Scalar, ...]) -> str:
        """Field is a JSON array with an element equal to one of ``values``."""
        parts = []
        for kind, group in _group(values):
            if kind in ("null", "true", "false"):
                parts.append(f"_je.type = '{kind}'")
                continue
            test = self._one_of(group)
            types = "_je.type = 'text'" if kind == "text" else "_je.type IN ('integer', 'real')"
            parts.append(f"({types} AND _je.value {test})")
        element = parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"
        return (
            f"({type_sql} IS 'array' AND EXISTS "
            f"(SELECT 1 FROM json_each({self.meta}, {path}) AS _je WHERE {element}))"
        )


def _type_is(type_sql: str, kind: str) -> str:
    """``json_type`` test for a kind, written with ``IS`` so a missing key gives 0, not NULL."""
    if kind == "num":
        return f"({type_sql} IS 'integer' OR {type_sql} IS 'real')"
    return f"{type_sql} IS '{kind}'"


def _distinct(values: tuple[Scalar, ...]) -> list[Scalar]:
    """Drop values equal under filter semantics (same kind and ``==``), keeping the first."""
    seen: dict[tuple[str, Scalar], Scalar] = {}  # (kind, value) hashes as it compares: 1 == 1.0
    for value in values:
        seen.setdefault((_kind(value), value), value)
    return list(seen.values())


def _group(values: tuple[Scalar, ...]) -> list[tuple[str, list[Scalar]]]:
    """Distinct values grouped by kind, in first-seen order of the kinds."""
    groups: dict[str, list[Scalar]] = {}
    for value in _distinct(values):
        groups.setdefault(_kind(value), []).append(value)
    return list(groups.items())


def _column(name: str) -> str:
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise InvalidInputError(
            f"expected a column name such as 'metadata' or 'd.metadata', got {name!r}. "
            "Pass a plain SQL identifier, optionally qualified by its table."
        )
    if name.lower() in _JSON_EACH_COLUMNS:
        raise InvalidInputError(
            f"column name {name!r} clashes with a json_each column. Qualify it, e.g. 'd.{name}'."
        )
    return name


def _literal(text: str) -> str:
    """An SQL string literal (single quotes doubled)."""
    return "'" + text.replace("'", "''") + "'"
