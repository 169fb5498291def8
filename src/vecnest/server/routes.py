"""The ``/v1`` routes: every operation of the Python API, one endpoint each.

Each route checks the request's key against the collection it names, applies the size limits,
and hands the arguments to the public API on a worker thread; results leave through the wire
encoders of :mod:`vecnest.client.wire`, the same ones the client decodes with.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse

import vecnest
from vecnest.client import wire
from vecnest.config import IndexConfig
from vecnest.errors import InvalidInputError
from vecnest.eval.evaluate import DEFAULT_METRICS
from vecnest.server import limits as lim
from vecnest.server import reports, schemas
from vecnest.server.auth import Principal
from vecnest.server.service import Service

SearchBody, SearchBatchBody = schemas.build_search_models()

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": schemas.ErrorOut, "description": text}
    for code, text in (
        (400, "invalid input (InvalidInputError and subclasses)"),
        (401, "missing or unknown API key (AuthenticationError)"),
        (403, "the key lacks the scope or the collection grant (AccessDeniedError)"),
        (404, "no such collection or document (NotFoundError)"),
        (408, "a read ran past the per-request timeout (RequestTimeoutError)"),
        (409, "conflict: duplicate id, existing collection, model mismatch"),
        (413, "request body over the size limit (PayloadTooLargeError)"),
        (422, "over a limit: batch size, k, query length, filter size (LimitExceededError)"),
        (423, "another process holds the store's write lock (StorageLockedError)"),
    )
}


def _json(data: Any) -> JSONResponse:
    return JSONResponse(data)


def _principal(request: Request) -> Principal:
    return request.state.principal  # set by the auth middleware in app.py


def _no_surrogates(value: Any, what: str) -> None:
    """Refuse strings that are not valid Unicode (lone surrogates from ``\\ud800`` escapes):
    they cannot be stored as UTF-8."""
    if value is None:
        return
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(
            f"{what} contains a lone surrogate ({exc.object[exc.start:exc.end]!r} escaped as "
            "\\ud800-\\udfff), which is not valid Unicode text; send UTF-8 text"
        ) from None


def _vectors(value: Any) -> Any:
    """JSON numbers as float32 rows (what the client's arrays were); anything else unchanged,
    for the engine to reject with its own message."""
    if not isinstance(value, list):
        return value
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # out-of-range numbers become inf: the engine rejects them
            return np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError, OverflowError):
        return value


def _size(value: Any) -> int | None:
    return len(value) if isinstance(value, list) else None


def build_router(service: Service) -> APIRouter:
    """The API router bound to one :class:`Service`."""
    router = APIRouter(prefix="/v1", responses=_ERRORS)
    limits = service.limits

    def grant(request: Request, name: str | None, *, write: bool) -> None:
        _principal(request).require(name, write)

    # ------------------------------------------------------------------ store
    @router.get("/health", tags=["store"], summary="Liveness and version (no key needed)")
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": vecnest.__version__}

    @router.get("/info", tags=["store"], summary="Database.info(): store path, bytes, collections")
    async def info(request: Request) -> dict[str, Any]:
        grant(request, None, write=False)
        data = await service.read(service.db.info)
        principal = _principal(request)
        data["collections"] = [c for c in data["collections"] if principal.allows(c["name"])]
        return data

    @router.get("/collections", tags=["collections"], response_model=schemas.NamesOut,
                summary="Database.list_collections() (those the key is granted)")
    async def list_collections(request: Request) -> Any:
        grant(request, None, write=False)
        names = await service.read(service.db.list_collections)
        principal = _principal(request)
        return _json({"collections": [n for n in names if principal.allows(n)]})

    @router.post("/collections", tags=["collections"], response_model=schemas.CollectionOut,
                 summary="Database.create_collection()")
    async def create_collection(request: Request, body: schemas.CreateCollection) -> Any:
        _no_surrogates(body.name, "name")
        grant(request, body.name, write=True)
        if body.model is not None and body.model not in service.config.models:
            raise InvalidInputError(
                f"model {body.model!r} is not offered by this server (it offers "
                f"{list(service.config.models)}, or null for precomputed vectors); the operator "
                "allows more with vecnest serve --model"
            )
        index = _index(body.index)
        lim.check_batch(len(body.indexed_fields), limits, "indexed fields")

        def create() -> vecnest.Collection:
            col = service.db.create_collection(
                body.name, body.model, metric=body.metric, dim=body.dim,
                indexed_fields=tuple(body.indexed_fields), index=index, exist_ok=body.exist_ok,
            )
            service.forget(body.name)
            return col

        col = await service.write(create)
        return _json(_collection_json(col))

    @router.get("/collections/{name}", tags=["collections"], response_model=schemas.CollectionOut,
                summary="Database.get_collection(); model= is checked against the recorded one")
    async def get_collection(request: Request, name: str, model: str | None = Query(None)) -> Any:
        grant(request, name, write=False)
        if model is not None:
            if model not in service.config.models:
                raise InvalidInputError(f"model {model!r} is not offered by this server; it offers {list(service.config.models)}")
            await service.read(service.db.get_collection, name, model)  # raises ModelMismatchError
            service.forget(name)
        col = await service.read(service.on_collection(name, lambda c: c))
        return _json(_collection_json(col))

    @router.delete("/collections/{name}", tags=["collections"], response_model=schemas.OkOut,
                   summary="Database.drop_collection()")
    async def drop_collection(request: Request, name: str) -> Any:
        grant(request, name, write=True)
        try:
            await service.write(service.db.drop_collection, name)
        finally:
            service.forget(name)
        return _json({"ok": True})

    # ------------------------------------------------------------------ documents
    @router.get("/collections/{name}/count", tags=["documents"], response_model=schemas.CountOut,
                summary="Collection.count()")
    async def count(request: Request, name: str) -> Any:
        grant(request, name, write=False)
        return _json({"count": await service.read(service.on_collection(name, lambda c: c.count()))})

    def _writer(verb: str, summary: str) -> None:
        @router.post(f"/collections/{{name}}/{verb}", tags=["documents"], response_model=schemas.OkOut,
                     summary=summary, name=verb)
        async def write(request: Request, name: str, body: schemas.Write) -> Any:
            grant(request, name, write=True)
            lim.check_batch(_size(body.ids), limits)
            lim.check_texts(body.texts, limits)
            for field in ("ids", "texts", "metadatas"):
                _no_surrogates(getattr(body, field), field)
            vectors = _vectors(body.vectors)
            await service.write(service.on_collection(
                name, lambda c: getattr(c, verb)(body.ids, body.texts, body.metadatas, vectors)
            ))
            return _json({"ok": True})

    _writer("add", "Collection.add(): new ids only (409 for an existing id)")
    _writer("upsert", "Collection.upsert(): insert or replace whole")
    _writer("update", "Collection.update(): change what is given of existing documents")

    @router.post("/collections/{name}/delete", tags=["documents"], response_model=schemas.DeletedOut,
                 summary="Collection.delete() by ids and/or filters")
    async def delete(request: Request, name: str, body: schemas.Delete) -> Any:
        grant(request, name, write=True)
        lim.check_batch(_size(body.ids), limits, "ids")
        lim.check_filter(body.where, limits, "where")
        lim.check_filter(body.where_document, limits, "where_document")
        _no_surrogates([body.ids, body.where, body.where_document], "the request")
        deleted = await service.write(service.on_collection(
            name, lambda c: c.delete(body.ids, body.where, body.where_document)
        ))
        return _json({"deleted": deleted})

    @router.post("/collections/{name}/get", tags=["documents"], response_model=schemas.DocumentsOut,
                 summary="Collection.get() by ids and/or filters, paged")
    async def get(request: Request, name: str, body: schemas.Get) -> Any:
        grant(request, name, write=False)
        lim.check_batch(_size(body.ids), limits, "ids")
        lim.check_filter(body.where, limits, "where")
        lim.check_filter(body.where_document, limits, "where_document")
        lim.check_page(body.limit, limits)
        _no_surrogates([body.ids, body.where, body.where_document], "the request")
        page = limits.max_page
        limit = page + 1 if body.limit is None else body.limit

        def run(col: vecnest.Collection) -> dict[str, Any]:
            docs = col.get(body.ids, body.where, body.where_document, limit=limit,
                           offset=body.offset, include_vectors=body.include_vectors)
            more = body.limit is None and len(docs) > page
            return {
                "documents": [wire.document_to_json(d) for d in docs[:page]],
                "next_offset": body.offset + page if more else None,
            }

        return _json(await service.read(service.on_collection(name, run)))

    @router.post("/collections/{name}/item", tags=["documents"], response_model=schemas.DocumentOut,
                 summary="col[id]: one document (404 if absent)")
    async def item(request: Request, name: str, body: schemas.DocumentId) -> Any:
        grant(request, name, write=False)
        _no_surrogates(body.id, "id")
        doc = await service.read(service.on_collection(name, lambda c: c[body.id]))
        return _json(wire.document_to_json(doc))

    @router.post("/collections/{name}/contains", tags=["documents"], response_model=schemas.ContainsOut,
                 summary="id in col")
    async def contains(request: Request, name: str, body: schemas.DocumentId) -> Any:
        grant(request, name, write=False)
        _no_surrogates(body.id, "id")
        found = await service.read(service.on_collection(name, lambda c: body.id in c))
        return _json({"contains": found})

    # ------------------------------------------------------------------ search
    def _options(body: Any) -> dict[str, Any]:
        opts = {name: getattr(body, name) for name in wire.SEARCH_OPTIONS if name in type(body).model_fields}
        lim.check_k(body.k, limits)
        lim.check_filter(opts.get("where"), limits, "where")
        lim.check_filter(opts.get("where_document"), limits, "where_document")
        _no_surrogates([opts.get("where"), opts.get("where_document")], "the filter")
        return opts

    def _query(query: Any) -> Any:
        if isinstance(query, str):
            lim.check_query(query, limits)
            _no_surrogates(query, "query")
            return query
        return _vectors(query)

    @router.post("/collections/{name}/search", tags=["search"], response_model=schemas.HitsOut,
                 summary="Collection.search(): one text or vector query")
    async def search(request: Request, name: str, body: SearchBody) -> Any:  # type: ignore[valid-type]
        grant(request, name, write=False)
        opts = _options(body)
        query = _query(body.query)  # type: ignore[attr-defined]
        hits = await service.read(service.on_collection(name, lambda c: c.search(query, body.k, **opts)))
        return _json(wire.hits_to_json(hits))

    @router.post("/collections/{name}/search_batch", tags=["search"], response_model=schemas.BatchOut,
                 summary="Collection.search_batch(): many text or vector queries")
    async def search_batch(request: Request, name: str, body: SearchBatchBody) -> Any:  # type: ignore[valid-type]
        grant(request, name, write=False)
        queries = body.queries  # type: ignore[attr-defined]
        lim.check_batch(_size(queries), limits, "queries")
        opts = _options(body)
        if isinstance(queries, list) and any(isinstance(q, str) for q in queries):
            for q in queries:
                _query(q)
            batch: Any = queries
        else:
            batch = _vectors(queries)
        results = await service.read(service.on_collection(name, lambda c: c.search_batch(batch, body.k, **opts)))
        return _json({"results": [wire.hits_to_json(h) for h in results]})

    # ------------------------------------------------------------------ maintenance
    @router.post("/collections/{name}/indexes", tags=["maintenance"], response_model=schemas.OkOut,
                 summary="Collection.create_index(field)")
    async def create_index(request: Request, name: str, body: schemas.CreateIndex) -> Any:
        grant(request, name, write=True)
        _no_surrogates(body.field, "field")
        await service.write(service.on_collection(name, lambda c: c.create_index(body.field)))
        return _json({"ok": True})

    @router.post("/collections/{name}/optimize", tags=["maintenance"],
                 summary="Collection.optimize(): merge fresh rows into the index")
    async def optimize(request: Request, name: str, body: schemas.Optimize) -> dict[str, Any]:
        grant(request, name, write=True)
        done = await service.write(service.on_collection(name, lambda c: c.optimize(rebuild=body.rebuild)))
        return wire.jsonable(done)

    @router.get("/collections/{name}/stats", tags=["maintenance"],
                summary="Count, manifest, bytes on disk and index bytes by component")
    async def stats(request: Request, name: str) -> dict[str, Any]:
        grant(request, name, write=False)

        def run(col: vecnest.Collection) -> dict[str, Any]:
            # Collection.stats() (what the server process measures), with the manifest
            return {**col.stats(), "name": col.name, "count": col.count(), "config": col.config.to_json()}

        return wire.jsonable(await service.read(service.on_collection(name, run)))

    # ------------------------------------------------------------------ evaluation
    @router.post("/collections/{name}/evaluate", tags=["evaluation"],
                 summary="vecnest.evaluate() on a BEIR dataset the server offers")
    async def evaluate(request: Request, name: str, body: schemas.Evaluate) -> dict[str, Any]:
        grant(request, name, write=False)
        path = reports.dataset_path(service.config.datasets_dir, body.dataset)
        metrics = body.metrics or list(DEFAULT_METRICS)

        def run(col: vecnest.Collection) -> dict[str, Any]:
            report = vecnest.evaluate(col, path, metrics, k=body.k, cache_dir=None)
            reports.save(service.config.reports_dir, name, report)
            return report.to_json()

        return wire.jsonable(await service.write(service.on_collection(name, run)))

    @router.get("/reports", tags=["evaluation"], summary="Evaluation reports (newest first) with their plots")
    async def list_reports(request: Request) -> dict[str, Any]:
        grant(request, None, write=False)
        return {"reports": await service.read(reports.listing, service.config.reports_dir)}

    @router.get("/reports/{report}/{file}", tags=["evaluation"], summary="A report's plot or table",
                response_class=FileResponse)
    async def report_file(request: Request, report: str, file: str) -> FileResponse:
        grant(request, None, write=False)
        path: Path = await service.read(reports.file_path, service.config.reports_dir, report, file)
        return FileResponse(path)

    return router


def _index(spec: str | dict[str, Any] | None) -> str | IndexConfig | None:
    if not isinstance(spec, dict):
        return spec
    try:
        return IndexConfig(**spec)
    except TypeError as exc:
        raise InvalidInputError(
            f"index must be a kind ('hnsw', 'ivf', 'ivf_pq', 'exact') or the fields of an "
            f"IndexConfig; got {sorted(spec)} ({exc})"
        ) from None


def _collection_json(col: vecnest.Collection) -> dict[str, Any]:
    return {"name": col.name, "dim": col.dim, "metric": col.metric.value, "config": col.config.to_json()}

