"""Filters written once in a neutral form, translated for each system, evaluated in numpy.

The neutral form is JSON (so the parent can hand it to every worker)::

    ["true"]                                  every row
    ["and", P, P, ...]                        conjunction
    ["eq", field, value]                      scalar equality
    ["gte" | "gt" | "lte" | "lt", field, v]   range (numbers, or ISO date strings)
    ["contains", field, value]                list-valued field holds the value

Attribute columns (one value per indexed row): ``primary_category`` (str), ``categories``
(list of str), ``year``, ``month``, ``n_authors`` (int), ``listing_date`` ("YYYY-MM-DD") and
``date_int`` (the same date as the int YYYYMMDD, for systems whose filters compare only numbers).
"""

from __future__ import annotations

from typing import Any

import numpy as np

Pred = list[Any]

# ---------------------------------------------------------------------------------------------
# HIGH-LEVEL API: the workloads
# ---------------------------------------------------------------------------------------------

#: Filtered workloads: real predicates on real attributes, chosen for their selectivity on the
#: arXiv titles set (measured again on every indexed set and reported).
WORKLOADS: dict[str, dict[str, Any]] = {
    "sel_0.1%": {
        "target": 0.001,
        "pred": ["and", ["contains", "categories", "cs.LG"], ["gte", "n_authors", 30]],
        "text": '"cs.LG" in categories AND n_authors >= 30',
        "kind": "list membership AND integer range",
    },
    "sel_1%": {
        "target": 0.01,
        "pred": ["and", ["contains", "categories", "cs.RO"], ["eq", "year", 2026]],
        "text": '"cs.RO" in categories AND year == 2026',
        "kind": "list membership AND integer equality",
    },
    "sel_2%": {
        "target": 0.02,
        "pred": ["eq", "primary_category", "cs.IT"],
        "text": 'primary_category == "cs.IT"',
        "kind": "string equality",
    },
    "sel_15%": {
        "target": 0.15,
        "pred": ["contains", "categories", "cs.LG"],
        "text": '"cs.LG" in categories',
        "kind": "list membership",
    },
    "sel_50%": {
        "target": 0.50,
        "pred": ["and", ["gte", "listing_date", "2025-07-01"], ["lt", "listing_date", "2026-04-01"]],
        "text": '"2025-07-01" <= listing_date < "2026-04-01"',
        "kind": "date-string range",
    },
    "sel_100%": {
        "target": 1.0,
        "pred": ["gte", "year", 2025],
        "text": "year >= 2025 (true for every row: measures the cost of the filter machinery)",
        "kind": "integer range matching every row",
    },
}

RANGE_OPS = ("gt", "gte", "lt", "lte")
DATE_FIELDS = {"listing_date": "date_int"}


def date_to_int(value: str) -> int:
    """``"2025-07-01"`` → ``20250701``."""
    return int(value.replace("-", ""))


def numeric_dates(pred: Pred) -> Pred:
    """Rewrite ranges/equalities on ISO-date strings as the same test on the ``date_int`` column."""
    op = pred[0]
    if op == "and":
        return ["and", *(numeric_dates(p) for p in pred[1:])]
    if op in (*RANGE_OPS, "eq") and pred[1] in DATE_FIELDS:
        return [op, DATE_FIELDS[pred[1]], date_to_int(pred[2])]
    return list(pred)


def leaves(pred: Pred) -> list[Pred]:
    """The leaf conditions of a conjunction (``[]`` for ``true``)."""
    if pred[0] == "true":
        return []
    if pred[0] == "and":
        return [leaf for p in pred[1:] for leaf in leaves(p)]
    return [pred]


# ---------------------------------------------------------------------------------------------
# translators
# ---------------------------------------------------------------------------------------------


def to_vecnest(pred: Pred) -> dict[str, Any] | None:
    """vecnest ``where`` (Mongo style); ISO dates compare as strings."""
    parts = [_mongo_leaf(leaf, contains="$contains") for leaf in leaves(pred)]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"$and": parts}


def to_chroma(pred: Pred) -> dict[str, Any] | None:
    """Chroma ``where``: ``$gt…`` compare numbers only, so dates go through ``date_int``."""
    parts = [_mongo_leaf(leaf, contains="$contains") for leaf in leaves(numeric_dates(pred))]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"$and": parts}


def _mongo_leaf(leaf: Pred, *, contains: str) -> dict[str, Any]:
    op, field, value = leaf
    if op == "contains":
        return {field: {contains: value}}
    return {field: {f"${op}": value}}


_SQL_OPS = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def _sql_literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def to_lance_sql(pred: Pred) -> str | None:
    """LanceDB SQL ``where`` (DataFusion): ``array_has(categories, 'cs.LG') AND n_authors >= 30``."""
    parts = []
    for op, field, value in leaves(pred):
        if op == "contains":
            parts.append(f"array_has({field}, {_sql_literal(value)})")
        else:
            parts.append(f"{field} {_SQL_OPS[op]} {_sql_literal(value)}")
    return " AND ".join(parts) or None


def to_milvus_expr(pred: Pred) -> str:
    """Milvus boolean expression: ``array_contains(categories, "cs.LG") and n_authors >= 30``."""
    parts = []
    for op, field, value in leaves(numeric_dates(pred)):
        lit = f'"{value}"' if isinstance(value, str) else repr(value)
        if op == "contains":
            parts.append(f"array_contains({field}, {lit})")
        else:
            parts.append(f"{field} {'==' if op == 'eq' else _SQL_OPS[op]} {lit}")
    return " and ".join(parts)


def to_qdrant(pred: Pred) -> Any:
    """``qdrant_client.models.Filter`` with ``FieldCondition``s (MatchValue on a list field matches
    any element; ``Range`` is numeric, so dates go through ``date_int``)."""
    from qdrant_client import models

    must = []
    for op, field, value in leaves(numeric_dates(pred)):
        if op in ("contains", "eq"):
            must.append(models.FieldCondition(key=field, match=models.MatchValue(value=value)))
        else:
            must.append(models.FieldCondition(key=field, range=models.Range(**{op: value})))
    return models.Filter(must=must) if must else None


# ---------------------------------------------------------------------------------------------
# LOW-LEVEL: numpy evaluation over attribute columns (ground truth, FAISS / hnswlib selectors)
# ---------------------------------------------------------------------------------------------


class Columns:
    """Attribute columns of the indexed rows, ready for vectorised predicate evaluation.

    Args:
        cols: ``{field: (n,) array}`` for scalar fields; list fields as CSR ``{field: (values,
            indptr)}`` where ``values`` is an ``(nnz,) object/str`` array.
    """

    def __init__(self, n: int, scalars: dict[str, np.ndarray], lists: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        self.n = n
        self.scalars = scalars
        self.lists = lists
        self._postings: dict[str, dict[Any, np.ndarray]] = {}
        for field, (values, indptr) in lists.items():
            rows = np.repeat(np.arange(n), np.diff(indptr))
            post: dict[Any, np.ndarray] = {}
            order = np.argsort(values, kind="stable")
            sv, sr = values[order], rows[order]
            uniq, starts = np.unique(sv, return_index=True)
            ends = [*starts[1:], len(sv)]
            for u, s, e in zip(uniq.tolist(), starts.tolist(), ends, strict=True):
                mask = np.zeros(n, dtype=bool)
                mask[sr[s:e]] = True
                post[u] = mask
            self._postings[field] = post

    def mask(self, pred: Pred) -> np.ndarray:
        """``(n,) bool``: rows satisfying ``pred``."""
        op = pred[0]
        if op == "true":
            return np.ones(self.n, dtype=bool)
        if op == "and":
            out = self.mask(pred[1])
            for p in pred[2:]:
                out &= self.mask(p)
            return out
        _, field, value = pred
        if op == "contains":
            hit = self._postings[field].get(value)
            return hit.copy() if hit is not None else np.zeros(self.n, dtype=bool)
        col = self.scalars[field]
        if op == "eq":
            return col == value
        if op == "gt":
            return col > value
        if op == "gte":
            return col >= value
        if op == "lt":
            return col < value
        if op == "lte":
            return col <= value
        raise ValueError(f"unknown predicate operator {op!r}")
