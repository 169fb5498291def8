"""The ASGI application: routes, API keys, limits, JSON errors, offline docs and the web page.

``create_app(config)`` opens the store and returns a FastAPI app; run it with uvicorn (``vecnest
serve`` does) or call it in-process (tests). Every error leaves as ``{"error": {"type": <vecnest
exception class>, "message": ..., "status": ...}}`` with that status, so the HTTP client raises
the same class the embedded call would.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from vecnest._deps import require

require("fastapi", "server", "vecnest serve")

from fastapi import Depends, FastAPI, Request  # noqa: E402
from fastapi.exceptions import RequestValidationError  # noqa: E402
from fastapi.openapi.docs import get_swagger_ui_html  # noqa: E402
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse  # noqa: E402
from fastapi.security import APIKeyHeader, HTTPBearer  # noqa: E402
from fastapi.staticfiles import StaticFiles  # noqa: E402
from starlette.exceptions import HTTPException as StarletteHTTPException  # noqa: E402

import vecnest  # noqa: E402
from vecnest.client.wire import error_to_json  # noqa: E402
from vecnest.errors import (  # noqa: E402
    AuthenticationError,
    InvalidInputError,
    NotFoundError,
    VecnestError,
)
from vecnest.server.config import ServerConfig  # noqa: E402
from vecnest.server.limits import BodySizeLimit  # noqa: E402
from vecnest.server.routes import build_router  # noqa: E402
from vecnest.server.service import Service  # noqa: E402

log = logging.getLogger("vecnest.server")

_OPEN_PATHS = ("/v1/health",)


def _error(exc: VecnestError, status: int | None = None) -> JSONResponse:
    body = error_to_json(exc)
    if status is not None:
        body["error"]["status"] = status
    return JSONResponse(body, status_code=status or exc.http_status)


def _describe(errors: list[dict[str, Any]]) -> str:
    parts = []
    for err in errors[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "the body"
        if err.get("type") == "json_invalid":
            detail = (err.get("ctx") or {}).get("error", "")
            parts.append(f"the request body is not valid JSON ({detail})")
            continue
        got = repr(err.get("input"))
        got = got if len(got) <= 60 else got[:57] + "..."
        parts.append(f"{loc}: {err.get('msg')} (got {got})")
    more = f"; and {len(errors) - 5} more" if len(errors) > 5 else ""
    return "; ".join(parts) + more + ". The request schemas are at /docs and /openapi.json"


class _Auth:
    """ASGI middleware: authenticate every ``/v1`` request (but health) before its body is read;
    the key's :class:`~vecnest.server.auth.Principal` goes to ``request.state.principal``."""

    def __init__(self, app: Any, service: Service) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/") or scope["path"] in _OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        key = None
        auth = headers.get(b"authorization", b"").decode("latin-1")
        if auth.lower().startswith("bearer "):
            key = auth[7:].strip()
        elif b"x-api-key" in headers:
            key = headers[b"x-api-key"].decode("latin-1").strip()
        try:
            principal = self.service.keys.authenticate(key)
        except VecnestError as exc:
            response = _error(exc)
            if isinstance(exc, AuthenticationError):
                response.headers["WWW-Authenticate"] = "Bearer"
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


def create_app(config: ServerConfig, db: vecnest.Database | None = None) -> FastAPI:
    """The server application for ``config``.

    Args:
        config: what to serve and how (see :class:`ServerConfig`).
        db: an open store to serve (the caller closes it); by default ``config.db`` is opened
            here and closed when the application shuts down (after in-flight requests finish).
    """
    owned = db is None
    store = vecnest.open(config.db) if db is None else db
    service = Service(store, config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:  # uvicorn ends the lifespan after in-flight requests have finished
            store.close()

    app = FastAPI(
        title="vecnest",
        version=vecnest.__version__,
        summary="Embedded semantic search over HTTP: the vecnest Python API, one endpoint each.",
        description=(
            "Every operation of `vecnest.Database` / `Collection`. Errors carry the vecnest "
            "exception class (`error.type`) and the HTTP status. Send an API key as "
            "`Authorization: Bearer <key>` when the server has keys. The web page is at "
            "[/ui](/ui)."
        ),
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.service = service
    bearer = HTTPBearer(auto_error=False, description="an API key from `vecnest keys add`")
    header = APIKeyHeader(name="X-API-Key", auto_error=False, description="the same key, as a header")
    app.include_router(build_router(service), dependencies=[Depends(bearer), Depends(header)])

    @app.exception_handler(VecnestError)
    async def vecnest_error(request: Request, exc: VecnestError) -> JSONResponse:
        return _error(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(InvalidInputError(_describe(list(exc.errors()))))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return _error(NotFoundError(f"no endpoint {request.method} {request.url.path}; see /docs"))
        return _error(InvalidInputError(f"{request.method} {request.url.path}: {exc.detail}"), exc.status_code)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error in %s %s", request.method, request.url.path, exc_info=exc)
        return _error(VecnestError(f"internal server error ({type(exc).__name__}); see the server log"))

    _mount_pages(app)
    app.add_middleware(_Auth, service=service)
    app.add_middleware(BodySizeLimit, max_bytes=config.limits.max_body_bytes)
    return app


def _mount_pages(app: FastAPI) -> None:
    """``/docs`` (Swagger UI from package files, no CDN) and ``/ui`` (the search page)."""
    docs_assets = Path(require("fastapi_offline", "server", "offline API docs").__file__).parent / "static"
    app.mount("/static/docs", StaticFiles(directory=docs_assets), name="docs-assets")
    ui_assets = resources.files("vecnest.server") / "ui"
    app.mount("/ui", StaticFiles(directory=str(ui_assets), html=True), name="ui")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="vecnest API",
            swagger_js_url="/static/docs/swagger-ui-bundle.js",
            swagger_css_url="/static/docs/swagger-ui.css",
            swagger_favicon_url="/static/docs/favicon.png",
        )

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/ui/")
