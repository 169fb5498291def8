"""Request and response bodies of the HTTP API (pydantic lives here, at the edge, only).

Requests are strict (``"5"`` is not taken for ``5``, unknown fields are refused). Fields the engine
validates itself (ids, texts, metadata, vectors, filters, ``k``, the search knobs, paging) are
documented with their types but passed through unchanged (:data:`Engine`), so a client gets
exactly the error, class and message, the embedded call raises.

The search options are not written out by hand: :func:`search_options_model` builds them from
``Collection.search``'s signature for the names in :data:`vecnest.client.wire.SEARCH_OPTIONS`, so
the OpenAPI document, the server and the engine cannot disagree about a knob's type or default.
"""

from __future__ import annotations

import collections.abc
import inspect
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SkipValidation, TypeAdapter, create_model

from vecnest.client.wire import SEARCH_OPTIONS

_STRICT = ConfigDict(strict=True, extra="forbid")

JSON = dict[str, Any]

#: A field documented as ``T`` whose value goes to the engine unvalidated: the engine's check
#: (and message) applies, as in-process. Route code must not assume the type.
Engine = typing.Annotated[typing.Any, SkipValidation]


def engine(tp: Any) -> Any:
    """``tp`` for the OpenAPI document, validated by the engine (see :data:`Engine`)."""
    return typing.Annotated[tp, SkipValidation]


class Strict(BaseModel):
    """Base of every request body: strict types, no unknown fields."""

    model_config = _STRICT


# ------------------------------------------------------------------ requests
class CreateCollection(Strict):
    """``Database.create_collection``. ``model``: a spec this server allows (``"default"``) or
    ``null`` for precomputed vectors (then ``dim`` is required)."""

    name: str
    model: str | None = "default"
    metric: engine(str) = "cosine"
    dim: engine(int | None) = None
    indexed_fields: list[str] = Field(default_factory=list)
    index: str | JSON | None = None
    exist_ok: bool = False


class Write(Strict):
    """``add`` / ``upsert`` / ``update``: one entry per id in each list given."""

    ids: engine(list[str])
    texts: engine(list[str] | None) = None
    metadatas: engine(list[JSON | None] | None) = None
    vectors: engine(list[list[float]] | None) = None


class Delete(Strict):
    """``Collection.delete``: by ids and/or filters."""

    ids: engine(list[str] | None) = None
    where: engine(JSON | None) = None
    where_document: engine(JSON | None) = None


class Get(Strict):
    """``Collection.get``. Without ``limit`` a response holds at most the server's page size and
    says where to continue (``next_offset``)."""

    ids: engine(list[str] | None) = None
    where: engine(JSON | None) = None
    where_document: engine(JSON | None) = None
    limit: engine(int | None) = None
    offset: engine(int) = 0
    include_vectors: bool = False


class DocumentId(Strict):
    """One document id (``col[id]``, ``id in col``)."""

    id: str


class CreateIndex(Strict):
    """``Collection.create_index``: a metadata field to index."""

    field: str


class Optimize(Strict):
    """``Collection.optimize``."""

    rebuild: bool = False


class Evaluate(Strict):
    """Evaluate a collection on a BEIR dataset the server offers (by folder name)."""

    dataset: str
    metrics: list[str] | None = None
    k: int = 100


# ------------------------------------------------------------------ search (built from the engine)
def _wire_type(tp: Any) -> Any:
    """An annotation of ``Collection.search`` as a JSON-able type (``Sequence[X]`` → ``list[X]``;
    anything pydantic cannot describe → ``Any``)."""
    origin = typing.get_origin(tp)
    if origin is collections.abc.Sequence:
        (arg,) = typing.get_args(tp)
        tp = list[_wire_type(arg)]
    elif origin in (typing.Union, getattr(__import__("types"), "UnionType")):
        args = tuple(_wire_type(a) for a in typing.get_args(tp))
        tp = typing.Union[args]  # noqa: UP007 - built at run time
    try:
        TypeAdapter(tp).json_schema()
    except Exception:  # noqa: BLE001 - e.g. an engine object such as a reranker instance
        return Any
    return tp


_EDGE_CHECKED = frozenset({"include", "include_vectors", "explain"})


def search_options_model(method: Any, name: str, query_field: tuple[Any, Any]) -> type[BaseModel]:
    """A strict request model: ``query_field`` plus ``k`` and each name in ``SEARCH_OPTIONS``
    with the type and default of ``method``'s parameter of that name."""
    hints = typing.get_type_hints(method)
    params = inspect.signature(method).parameters
    fields: dict[str, Any] = {"k": (engine(int), params["k"].default)}
    for opt in SEARCH_OPTIONS:
        if opt not in params:
            continue  # (build_search_models checks every name is taken by one of the two)
        default = params[opt].default
        if isinstance(default, tuple):
            default = list(default)
        tp = _wire_type(hints[opt])
        # booleans and the include list are checked here (the engine only tests their truth or
        # iterates them); every other knob is validated by the engine, with its own message
        fields[opt] = (tp if opt in _EDGE_CHECKED else engine(tp), default)
    query_name = "query" if name == "Search" else "queries"
    return create_model(name, __config__=_STRICT, **{query_name: query_field}, **fields)  # type: ignore[call-overload]


def build_search_models() -> tuple[type[BaseModel], type[BaseModel]]:
    """The ``search`` and ``search_batch`` request models of this engine version."""
    from vecnest.collection import Collection

    taken = set(inspect.signature(Collection.search).parameters) | set(inspect.signature(Collection.search_batch).parameters)
    unknown = [opt for opt in SEARCH_OPTIONS if opt not in taken]
    if unknown:
        raise RuntimeError(f"SEARCH_OPTIONS names {unknown}, which neither search method takes")
    one = search_options_model(Collection.search, "Search", (engine(str | list[float]), ...))
    many = search_options_model(
        Collection.search_batch, "SearchBatch", (engine(list[str] | list[list[float]]), ...)
    )
    return one, many


# ------------------------------------------------------------------ responses
class HitOut(BaseModel):
    """One search result."""

    id: str
    score: float
    text: str | None
    metadata: JSON
    vector: list[float] | None = None


class HitsOut(BaseModel):
    """One query's results, best first, and its plan with ``explain``."""

    hits: list[HitOut]
    plan: JSON | None


class BatchOut(BaseModel):
    """One :class:`HitsOut` per query."""

    results: list[HitsOut]


class DocumentOut(BaseModel):
    """A stored document."""

    id: str
    text: str | None
    metadata: JSON
    vector: list[float] | None = None


class DocumentsOut(BaseModel):
    """Documents, and where the next page starts when the server's page size cut the list."""

    documents: list[DocumentOut]
    next_offset: int | None = None


class CollectionOut(BaseModel):
    """A collection's manifest."""

    name: str
    dim: int
    metric: str
    config: JSON


class NamesOut(BaseModel):
    """Collection names, in creation order."""

    collections: list[str]


class CountOut(BaseModel):
    """``len(col)``."""

    count: int


class DeletedOut(BaseModel):
    """How many documents a delete removed."""

    deleted: int


class ContainsOut(BaseModel):
    """``id in col``."""

    contains: bool


class OkOut(BaseModel):
    """A write that returns nothing, acknowledged (committed)."""

    ok: bool = True


class ErrorBody(BaseModel):
    """What went wrong: the vecnest exception class, its message and the HTTP status."""

    type: str
    message: str
    status: int


class ErrorOut(BaseModel):
    """Every 4xx/5xx answer of the API."""

    error: ErrorBody
