"""The filter AST: what ``where`` / ``where_document`` dicts parse into.

Nodes are frozen, hashable dataclasses. A tree is built only by :mod:`vecnest.filter.parse`, which
validates every value, so the compilers (:mod:`vecnest.filter.sql`) may trust what they are given.

Every node answers :meth:`Node.fields` — the metadata field names it reads — so a planner can check
which expression indexes a filter could use before compiling it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias

__all__ = [
    "Scalar",
    "Value",
    "Op",
    "Node",
    "Compare",
    "And",
    "Or",
    "Not",
    "TextContains",
    "TrueFilter",
    "MATCH_ALL",
]

Scalar: TypeAlias = str | int | float | bool | None
"""A single metadata value a filter compares with (``bool`` is never equal to a number)."""

Value: TypeAlias = Scalar | tuple[Scalar, ...]
"""What a :class:`Compare` holds: a scalar, or a tuple for the list operators."""


class Op(StrEnum):
    """A field operator; the filter language spells it with a leading ``$`` (``$gte``)."""

    EQ = "eq"
    NE = "ne"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    IN = "in"
    NIN = "nin"
    EXISTS = "exists"
    CONTAINS = "contains"
    CONTAINS_ANY = "contains_any"
    CONTAINS_ALL = "contains_all"

    @property
    def token(self) -> str:
        """The operator as written in a filter dict, e.g. ``"$gte"``."""
        return "$" + self.value


RANGE_OPS: frozenset[Op] = frozenset({Op.GT, Op.GTE, Op.LT, Op.LTE})
"""Operators that order values; they take a number or a string."""

LIST_OPS: frozenset[Op] = frozenset({Op.IN, Op.NIN, Op.CONTAINS_ANY, Op.CONTAINS_ALL})
"""Operators whose value is a non-empty tuple of scalars."""


class Node:
    """Base of every filter node."""

    __slots__ = ()

    def fields(self) -> frozenset[str]:
        """Return the metadata field names this filter reads.

        Returns:
            The set of field names (empty for text-only or match-all filters).
        """
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Compare(Node):
    """One field condition, e.g. ``{"year": {"$gte": 2020}}``.

    Attributes:
        field: The metadata key, matched literally (a dot is part of the name).
        op: The operator.
        value: A scalar for ``eq ne gt gte lt lte contains``; ``bool`` for ``exists``; a non-empty
            tuple of scalars for ``in nin contains_any contains_all``.
    """

    field: str
    op: Op
    value: Value

    def fields(self) -> frozenset[str]:
        """Return ``{field}``."""
        return frozenset({self.field})


@dataclass(frozen=True, slots=True)
class And(Node):
    """All children hold.

    Attributes:
        children: Two or more sub-filters.
    """

    children: tuple[Node, ...]

    def fields(self) -> frozenset[str]:
        """Return the union of the children's fields."""
        return frozenset().union(*(child.fields() for child in self.children))


@dataclass(frozen=True, slots=True)
class Or(Node):
    """At least one child holds.

    Attributes:
        children: Two or more sub-filters.
    """

    children: tuple[Node, ...]

    def fields(self) -> frozenset[str]:
        """Return the union of the children's fields."""
        return frozenset().union(*(child.fields() for child in self.children))


@dataclass(frozen=True, slots=True)
class Not(Node):
    """Logical negation: a row matches when ``child`` does not (missing fields included).

    Attributes:
        child: The negated sub-filter.
    """

    child: Node

    def fields(self) -> frozenset[str]:
        """Return the child's fields."""
        return self.child.fields()


@dataclass(frozen=True, slots=True)
class TextContains(Node):
    """A ``where_document`` condition: case-sensitive substring test on the document text.

    Attributes:
        substring: The text to look for (``""`` is found in every text).
        negate: ``True`` for ``$not_contains``.
    """

    substring: str
    negate: bool = False

    def fields(self) -> frozenset[str]:
        """Return the empty set: the document text is not a metadata field."""
        return frozenset()


@dataclass(frozen=True, slots=True)
class TrueFilter(Node):
    """The empty filter: every row matches. Use the :data:`MATCH_ALL` instance."""

    def fields(self) -> frozenset[str]:
        """Return the empty set."""
        return frozenset()


MATCH_ALL = TrueFilter()
"""The filter that matches every row (what ``None`` and ``{}`` parse to)."""
