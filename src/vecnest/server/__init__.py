"""``vecnest serve``: the engine over HTTP (extra ``server``: FastAPI + uvicorn).

Modules: :mod:`~vecnest.server.config` (what to serve, limits), :mod:`~vecnest.server.auth` (API
keys), :mod:`~vecnest.server.limits`, :mod:`~vecnest.server.schemas` (request/response bodies),
:mod:`~vecnest.server.service` (the open store, worker threads), :mod:`~vecnest.server.routes`
(``/v1``), :mod:`~vecnest.server.reports`, :mod:`~vecnest.server.app` (the ASGI app, docs, web
page) and :mod:`~vecnest.server.run` (uvicorn, start-up checks, graceful shutdown). Importing this
package imports no web framework.
"""

from __future__ import annotations

from vecnest.server.config import Limits, ServerConfig

__all__ = ["Limits", "ServerConfig"]
