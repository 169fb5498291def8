"""Parse and validate ``where`` / ``where_document`` dicts into the filter AST.

Grammar (Mongo / Chroma style)::

    where     := {}                                   # matches everything
               | {key: cond, key: cond, ...}          # several keys = AND
    key       := field name | "$and" | "$or" | "$not"
    "$and"    -> non-empty list of where dicts;  "$or" likewise;  "$not" -> one where dict
    cond      := scalar                               # shorthand for {"$eq": scalar}
               | {"$op": value, ...}                  # several operators = AND

    where_document := {"$contains": str} | {"$not_contains": str}
                    | {"$and": [where_document, ...]} | {"$or": [where_document, ...]}

Every problem raises :class:`~vecnest.errors.InvalidFilterError` whose message names the place in
the filter (``where['$and'][1]['year']``), what was expected, what arrived and how to fix it.
"""

from __future__ import annotations

import difflib
import math
import threading
from collections.abc import Iterable, Mapping
from typing import NoReturn

from vecnest.errors import InvalidFilterError
from vecnest.filter.ast import (
    LIST_OPS,
    MATCH_ALL,
    RANGE_OPS,
    And,
    Compare,
    Node,
    Not,
    Op,
    Or,
    Scalar,
    TextContains,
    TrueFilter,
    Value,
)

__all__ = ["parse", "parse_where", "parse_where_document", "check_field_name"]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

_FIELD_OPS: dict[str, Op] = {op.token: op for op in Op}
_LOGICAL_OPS = ("$and", "$or", "$not")
_DOC_OPS = ("$contains", "$not_contains", "$and", "$or")
_SCALARS = "a scalar (str, int, float, bool or None)"
#: Deepest nesting of dicts and lists a filter may have. Real filters are a few levels deep;
#: without a bound a deep (or self-referencing) filter would exhaust Python's recursion limit
#: or SQLite's parser stack (which overflows near 100 nested ``$or``/``$not``).
MAX_DEPTH = 32


# ---------------------------------------------------------------------------------------------
# HIGH-LEVEL API
# ---------------------------------------------------------------------------------------------


def parse_where(where: Mapping[str, object] | None) -> Node:
    """Parse a metadata filter.

    Args:
        where: A filter dict such as ``{"year": {"$gte": 2020}, "lang": "en"}``, or ``None``.

    Returns:
        The validated AST; :data:`~vecnest.filter.ast.MATCH_ALL` for ``None`` or ``{}``.

    Raises:
        InvalidFilterError: The filter is malformed; the message says where and how to fix it.
    """
    if where is None:
        return MATCH_ALL
    _check_depth(where, "where")
    return _parse_filter(where, "where")


def parse_where_document(where_document: Mapping[str, object] | None) -> Node:
    """Parse a document-text filter.

    Args:
        where_document: A dict such as ``{"$contains": "vector"}``, or ``None``.

    Returns:
        The validated AST; :data:`~vecnest.filter.ast.MATCH_ALL` for ``None`` or ``{}``.

    Raises:
        InvalidFilterError: The filter is malformed.
    """
    if where_document is None:
        return MATCH_ALL
    _check_depth(where_document, "where_document")
    return _parse_document(where_document, "where_document")


def parse(
    where: Mapping[str, object] | None = None,
    where_document: Mapping[str, object] | None = None,
) -> Node:
    """Parse both filters and combine them with AND.

    Args:
        where: The metadata filter, or ``None``.
        where_document: The document-text filter, or ``None``.

    Returns:
        One AST that holds when both filters hold.

    Raises:
        InvalidFilterError: Either filter is malformed.
    """
    if where is None and where_document is None:
        return MATCH_ALL
    # applications repeat their filters: remember the last trees built, keyed by the inputs'
    # repr (which tells True from 1 and 1 from 1.0, as the filter language does)
    try:
        key = (repr(where), repr(where_document))
    except RecursionError:  # nested far beyond MAX_DEPTH
        key = None
    node = _PARSED.get(key) if key is not None else None
    if node is None:  # (parse_where / parse_where_document refuse deep filters first)
        node = _and([parse_where(where), parse_where_document(where_document)])
        with _PARSED_LOCK:
            if len(_PARSED) >= _PARSED_MAX:
                _PARSED.pop(next(iter(_PARSED)))
            _PARSED[key] = node
    return node


_PARSED: dict[tuple[str, str], Node] = {}
_PARSED_MAX = 256
_PARSED_LOCK = threading.Lock()


def check_field_name(name: object, where: str = "field name") -> str:
    """Validate a metadata field name as used in filters (and in JSON paths).

    A name is any non-empty string that does not start with ``$`` and holds no ``"``, no ``\\``
    and no control character. Dots are ordinary characters (no nested paths). The backslash is
    refused because SQLite (before 3.45) matches JSON path labels against the *escaped* key text.

    Args:
        name: The candidate name.
        where: Where the name appeared, for the error message.

    Returns:
        The name, as a plain ``str``.

    Raises:
        InvalidFilterError: The name is not acceptable.
    """
    if not isinstance(name, str):
        _fail(where, "a str field name", name, 'Write field names as strings, e.g. {"year": 2020}.')
    if not name:
        _fail(where, "a non-empty field name", name, "Name the metadata field to filter on.")
    if name.startswith("$"):
        _fail(where, "a field name not starting with '$'", name, "Names with '$' are operators.")
    bad = [ch for ch in name if ch in '"\\' or ord(ch) < 32 or 127 <= ord(ch) < 160]
    if bad:
        _fail(
            where,
            "a field name without '\"', '\\' or control characters",
            name,
            f"Rename the metadata field; it contains {bad[0]!r}.",
        )
    return _text(name, where)


# ---------------------------------------------------------------------------------------------
# where
# ---------------------------------------------------------------------------------------------


def _parse_filter(obj: object, loc: str) -> Node:
    if not isinstance(obj, Mapping):
        _fail(loc, 'a filter dict such as {"year": {"$gte": 2020}}', obj, "Wrap conditions in a dict.")
    nodes: list[Node] = []
    for key, value in obj.items():
        here = f"{loc}[{key!r}]"
        if not isinstance(key, str):
            check_field_name(key, here)
        if key in ("$and", "$or"):
            children = [_parse_filter(item, f"{here}[{i}]") for i, item in enumerate(_items(value, here))]
            nodes.append(_and(children) if key == "$and" else _or(children))
        elif key == "$not":
            if not isinstance(value, Mapping):
                _fail(here, "one filter dict", value, 'To negate several, use {"$not": {"$and": [...]}}.')
            nodes.append(Not(_parse_filter(value, here)))
        elif key in _FIELD_OPS:
            hint = f'Put it under a field: {{"field": {{"{key}": ...}}}}.'
            if key == "$contains":
                hint += ' To search the document text, use where_document={"$contains": ...}.'
            _fail(loc, "a field name or one of $and, $or, $not", key, hint)
        elif key.startswith("$"):
            _unknown_operator(loc, key, _LOGICAL_OPS, "at the top level of a filter")
        else:
            nodes.append(_parse_field(check_field_name(key, loc), value, here))
    return _and(nodes)


def _parse_field(field: str, cond: object, loc: str) -> Node:
    if not isinstance(cond, Mapping):
        if isinstance(cond, list | tuple):
            _fail(
                loc,
                f"{_SCALARS} or an operator dict",
                cond,
                'Lists match with {"$in": [...]} (any of these values) or '
                '{"$contains_all": [...]} / {"$contains_any": [...]} (list-valued fields).',
            )
        return Compare(field, Op.EQ, _scalar(cond, loc, f"{_SCALARS} (or an operator dict)"))
    if not cond:
        _fail(loc, 'at least one operator, e.g. {"$gte": 2020}', cond, "Add an operator.")
    nodes: list[Node] = []
    for key, value in cond.items():
        here = f"{loc}[{key!r}]"
        if not isinstance(key, str) or not key.startswith("$"):
            close = difflib.get_close_matches(f"${key}", list(_FIELD_OPS), n=1)
            fix = f"Did you mean {close[0]!r}?" if close else "Use an operator such as '$eq' or '$in'."
            _fail(loc, "operator keys starting with '$' (nested objects are not supported)", key, fix)
        if key in _LOGICAL_OPS:
            _fail(
                loc,
                f"a field operator ({_op_list(_FIELD_OPS)})",
                key,
                f'{key} is a logical operator; put it at the top level: {{"{key}": [{{"{field}": ...}}]}}.',
            )
        if key not in _FIELD_OPS:
            _unknown_operator(loc, key, list(_FIELD_OPS), f"on field {field!r}")
        op = _FIELD_OPS[key]
        nodes.append(Compare(field, op, _op_value(op, value, here)))
    return _and(nodes)


def _op_value(op: Op, value: object, loc: str) -> Value:
    if op is Op.EXISTS:
        if not isinstance(value, bool):
            _fail(loc, "true or false", value, 'Write {"$exists": true}.')
        return value
    if op in LIST_OPS:
        if isinstance(value, str) or not isinstance(value, list | tuple) or not value:
            _fail(loc, "a non-empty list of scalars", value, f'Write {{"{op.token}": [...]}}.')
        return tuple(_scalar(item, f"{loc}[{i}]", _SCALARS) for i, item in enumerate(value))
    if op in RANGE_OPS:
        if value is None or isinstance(value, bool):
            fix = "Booleans and null have no order; use $eq, $ne or $exists."
            _fail(loc, "an int, float or str to compare with", value, fix)
        return _scalar(value, loc, "an int, float or str to compare with")
    if op is Op.CONTAINS and isinstance(value, list | tuple):
        _fail(loc, "one scalar element", value, "For several elements use $contains_all or $contains_any.")
    return _scalar(value, loc, _SCALARS)


def _scalar(value: object, loc: str, expected: str) -> Scalar:
    """Validate one scalar and normalize subclasses (IntEnum, StrEnum) to the builtin type."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            _fail(loc, "an int within the signed 64-bit range", value, "Store and compare it as a float or str.")
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            _fail(loc, "a finite number", value, "NaN and infinity cannot be stored or compared.")
        return float(value)
    if isinstance(value, str):
        if "\x00" in value:
            # SQLite's json_extract cuts a decoded string at NUL, so such values cannot match exactly.
            _fail(loc, "a str without NUL characters", value, "Remove the '\\x00' characters.")
        return _text(value, loc)
    hint = "Convert dates to ISO strings such as '2025-06-01'." if hasattr(value, "isoformat") else ""
    _fail(loc, expected, value, hint or "Convert the value to one of these types.")


# ---------------------------------------------------------------------------------------------
# where_document
# ---------------------------------------------------------------------------------------------


def _parse_document(obj: object, loc: str) -> Node:
    if not isinstance(obj, Mapping):
        _fail(loc, 'a dict such as {"$contains": "text"}', obj, "Wrap the condition in a dict.")
    nodes: list[Node] = []
    for key, value in obj.items():
        here = f"{loc}[{key!r}]"
        if key in ("$contains", "$not_contains"):
            if not isinstance(value, str):
                _fail(here, "a str to search for", value, f'Write {{"{key}": "some text"}}.')
            nodes.append(TextContains(_text(value, here), negate=key == "$not_contains"))
        elif key in ("$and", "$or"):
            children = [_parse_document(item, f"{here}[{i}]") for i, item in enumerate(_items(value, here))]
            nodes.append(_and(children) if key == "$and" else _or(children))
        elif not isinstance(key, str) or not key.startswith("$"):
            _fail(
                loc,
                f"one of {', '.join(_DOC_OPS)}",
                key,
                "where_document filters the document text only; put metadata conditions in where.",
            )
        elif key == "$not":
            _fail(loc, f"one of {', '.join(_DOC_OPS)}", key, 'Use {"$not_contains": "text"}.')
        else:
            _unknown_operator(loc, key, _DOC_OPS, "in where_document")
    return _and(nodes)


# ---------------------------------------------------------------------------------------------
# LOW-LEVEL helpers
# ---------------------------------------------------------------------------------------------


def _check_depth(obj: object, loc: str) -> None:
    """Refuse filters nested deeper than :data:`MAX_DEPTH` (walked without recursion, so a
    self-referencing dict is refused too)."""
    stack: list[tuple[object, int]] = [(obj, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Iterable[object] = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth >= MAX_DEPTH:
            raise InvalidFilterError(
                f"{loc}: expected a filter nested at most {MAX_DEPTH} levels deep (dicts and lists), "
                f"got a deeper one. Flatten it: {{\"$and\": [...]}} and {{\"$or\": [...]}} take any "
                'number of conditions, and {"$in": [...]} replaces a long $or of equalities.'
            )
        stack.extend((child, depth + 1) for child in children)


def _text(value: str, loc: str) -> str:
    """``value`` as a plain str, unless it cannot be encoded as UTF-8 (a lone surrogate)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        _fail(loc, "valid Unicode text", value, f"It holds a lone surrogate at position {exc.start}; fix its decoding.")
    return str(value)


def _items(value: object, loc: str) -> list[object]:
    """The operands of ``$and`` / ``$or``: a non-empty list."""
    if not isinstance(value, list | tuple):
        _fail(loc, "a list of filter dicts", value, 'Write {"$and": [{...}, {...}]}.')
    if not value:
        _fail(loc, "a non-empty list of filter dicts", value, "Drop the empty operator or add conditions.")
    return list(value)


def _and(nodes: Iterable[Node]) -> Node:
    """AND of ``nodes``: flattens nested ANDs, drops match-all, collapses a single child."""
    flat: list[Node] = []
    for node in nodes:
        if isinstance(node, And):
            flat.extend(node.children)
        elif not isinstance(node, TrueFilter):
            flat.append(node)
    if not flat:
        return MATCH_ALL
    return flat[0] if len(flat) == 1 else And(tuple(flat))


def _or(nodes: Iterable[Node]) -> Node:
    """OR of ``nodes``: match-all absorbs everything; a single child stands alone."""
    flat: list[Node] = []
    for node in nodes:
        if isinstance(node, TrueFilter):
            return MATCH_ALL
        flat.extend(node.children if isinstance(node, Or) else (node,))
    return flat[0] if len(flat) == 1 else Or(tuple(flat))


def _op_list(ops: Iterable[str]) -> str:
    return ", ".join(ops)


def _unknown_operator(loc: str, key: str, valid: Iterable[str], context: str) -> NoReturn:
    valid = list(valid)
    close = difflib.get_close_matches(key, valid + [k for k in _FIELD_OPS if k not in valid], n=1)
    hint = f"; did you mean {close[0]!r}?" if close else "."
    _fail(loc, f"an operator valid {context} ({_op_list(valid)})", key, f"Unknown operator{hint}")


def _describe(value: object) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def _fail(loc: str, expected: str, got: object, fix: str) -> NoReturn:
    raise InvalidFilterError(f"{loc}: expected {expected}, got {_describe(got)}. {fix}".rstrip())
