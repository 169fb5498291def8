"""What crosses HTTP: the JSON forms of hits, documents, plans, reports and errors.

The server encodes with these functions and the client decodes with them, so the two speak one
format and the client hands back the very types the embedded API returns (:class:`Hit`,
:class:`Hits`, :class:`Document`, the planner's ``Plan``, :class:`EvalReport`) and raises the very
exception classes. Pure: no HTTP library is imported here.

Search keyword arguments travel by name. :data:`SEARCH_OPTIONS` lists those that go over the wire
besides ``query`` and ``k``; the server validates them against ``Collection.search``'s signature
(types from its annotations) and the client forwards them, so a new search argument is one new
name in this tuple.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from vecnest.errors import VecnestError, error_class
from vecnest.records import Document, Hit, Hits

#: Keyword arguments of ``Collection.search`` / ``search_batch`` sent over HTTP (besides the
#: query and ``k``). Add the name of a new search argument here (e.g. ``"mode"``, ``"rerank"``,
#: ``"min_relevance"``, ``"rescore_multiplier"``, ``"tiers"``) and both edges carry it.
SEARCH_OPTIONS: tuple[str, ...] = (
    "where",
    "where_document",
    "include",
    "include_vectors",
    "ef_search",
    "nprobe",
    "target_recall",
    "strategy",
    "explain",
    "mode",
    "text",  # (search only: the query text beside a vector query)
    "texts",  # (search_batch only)
    "fusion",
    "rerank",
    "min_relevance",
    "rescore_multiplier",
    "tiers",
)

#: Keyword arguments of ``Collection.get`` sent over HTTP.
GET_OPTIONS: tuple[str, ...] = ("ids", "where", "where_document", "limit", "offset", "include_vectors")


# ------------------------------------------------------------------ values
def jsonable(value: Any) -> Any:
    """``value`` with numpy arrays/scalars, tuples and enums turned into plain JSON values."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def _finite(value: Any) -> Any:
    """Non-finite floats as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _unfinite(value: Any) -> Any:
    if value in ("NaN", "Infinity", "-Infinity"):
        return float(value.replace("Infinity", "inf"))
    if isinstance(value, dict):
        return {k: _unfinite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unfinite(v) for v in value]
    return value


def _vector(value: Any) -> np.ndarray | None:
    return None if value is None else np.asarray(value, dtype=np.float32)


# ------------------------------------------------------------------ records
def hit_to_json(hit: Hit) -> dict[str, Any]:
    """One :class:`Hit` as JSON (``vector`` only when the search asked for vectors)."""
    out: dict[str, Any] = {"id": hit.id, "score": hit.score, "text": hit.text, "metadata": hit.metadata}
    if hit.vector is not None:
        out["vector"] = hit.vector.tolist()
    return out


def hits_to_json(hits: Hits) -> dict[str, Any]:
    """One search's results and, with ``explain=True``, its plan."""
    return {"hits": [hit_to_json(h) for h in hits], "plan": plan_to_json(hits.plan)}


def hits_from_json(data: Mapping[str, Any]) -> Hits:
    """Inverse of :func:`hits_to_json`."""
    hits = Hits(
        Hit(h["id"], float(h["score"]), h.get("text"), h.get("metadata") or {}, _vector(h.get("vector")))
        for h in data["hits"]
    )
    if data.get("plan") is not None:
        hits.plan = plan_from_json(data["plan"])
    return hits


def document_to_json(doc: Document) -> dict[str, Any]:
    """One :class:`Document` as JSON."""
    out: dict[str, Any] = {"id": doc.id, "text": doc.text, "metadata": doc.metadata}
    if doc.vector is not None:
        out["vector"] = np.asarray(doc.vector).tolist()
    return out


def document_from_json(data: Mapping[str, Any]) -> Document:
    """Inverse of :func:`document_to_json`."""
    return Document(data["id"], data.get("text"), data.get("metadata") or {}, _vector(data.get("vector")))


# ------------------------------------------------------------------ plans and reports
def plan_to_json(plan: Any) -> dict[str, Any] | None:
    """A search plan (a dataclass) as JSON; non-finite numbers as strings."""
    if plan is None:
        return None
    data = dataclasses.asdict(plan) if dataclasses.is_dataclass(plan) else dict(vars(plan))
    return _finite(jsonable(data))


def plan_from_json(data: Mapping[str, Any]) -> Any:
    """The planner's ``Plan`` rebuilt from :func:`plan_to_json` (same class as embedded)."""
    from vecnest.search.planner import Plan, Strategy

    values = _unfinite(dict(data))
    fields = dataclasses.fields(Plan)
    # a field an older server does not send takes its default (one a newer one adds is dropped)
    defaults = {
        f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        for f in fields
        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    }
    try:
        values["strategy"] = Strategy(values["strategy"])
        return Plan(**{f.name: values[f.name] if f.name in values else defaults[f.name] for f in fields})
    except (KeyError, ValueError, TypeError):  # a server of another version: keep every field
        from types import SimpleNamespace

        return SimpleNamespace(**values)


def report_from_json(data: Mapping[str, Any]) -> Any:
    """An :class:`~vecnest.EvalReport` from its ``to_json()`` form."""
    from vecnest.eval.evaluate import EvalReport

    names = {f.name for f in dataclasses.fields(EvalReport)}
    return EvalReport(**{k: v for k, v in data.items() if k in names})


# ------------------------------------------------------------------ errors
def error_to_json(exc: VecnestError) -> dict[str, Any]:
    """The body of an error response: the exception's class name, message and HTTP status."""
    return {"error": {"type": type(exc).__name__, "message": str(exc), "status": exc.http_status}}


def error_from_json(data: object, status: int) -> VecnestError:
    """The exception an error body describes (the same class the embedded call raises)."""
    body = data.get("error") if isinstance(data, Mapping) else None
    if not isinstance(body, Mapping) or not isinstance(body.get("type"), str):
        from vecnest.errors import ServerUnavailableError

        return ServerUnavailableError(
            f"the server answered HTTP {status} without a vecnest error body ({str(data)[:200]!r}); "
            "is the URL a vecnest server?"
        )
    return error_class(body["type"])(str(body.get("message", "")))


def check_names(given: Sequence[str], allowed: Sequence[str], what: str) -> None:
    """Raise ``TypeError`` as Python does for an unknown keyword argument."""
    for name in given:
        if name not in allowed:
            raise TypeError(f"{what}() got an unexpected keyword argument {name!r}")
