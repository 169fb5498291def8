"""Running a server: start-up checks, the listening socket, uvicorn, graceful shutdown.

On SIGTERM or Ctrl-C uvicorn stops accepting connections, lets every in-flight request finish
(a write that started commits and is answered), then the application closes the store. A write
is acknowledged only after its commit, so nothing acknowledged is ever lost, even to SIGKILL.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from vecnest._deps import require
from vecnest.errors import InvalidInputError
from vecnest.server.auth import KeyStore
from vecnest.server.config import ServerConfig, is_loopback


def check_binding(config: ServerConfig) -> str:
    """Refuse to expose a store without API keys; returns the start-up line about auth.

    Raises:
        InvalidInputError: ``config.host`` is not loopback and no key is configured.
    """
    keys = KeyStore(config.keys_path).active()
    if keys:
        return f"API keys: {keys} active in {config.keys_path}; every /v1 request needs one"
    if not is_loopback(config.host):
        raise InvalidInputError(
            f"refusing to serve on {config.host}: no API key is configured ({config.keys_path} "
            "has none), so anyone who can reach the port could read and write the store. Create "
            "a key with vecnest keys add --db ... --name NAME --scope write, or bind 127.0.0.1"
        )
    return (
        f"no API keys configured ({config.keys_path}): serving WITHOUT authentication, on "
        f"loopback ({config.host}) only"
    )


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket (``port=0``: a free port, read it back with ``getsockname``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # accepted connections inherit it: a response's body never waits for the ACK of its headers
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise InvalidInputError(f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port") from None
    sock.listen(2048)
    return sock


def serve(
    config: ServerConfig,
    *,
    access_log: bool = False,
    announce: Callable[[str], None] = print,
) -> None:
    """Serve ``config.db`` until SIGTERM / SIGINT (blocking).

    Args:
        config: what and where to serve.
        access_log: log one line per request (method, path, status; never headers or keys).
        announce: receives the start-up lines (auth mode, URL).
    """
    uvicorn = require("uvicorn", "server", "vecnest serve")
    auth_line = check_binding(config)
    from vecnest.server.app import create_app

    app = create_app(config)
    sock = bind(config.host, config.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    announce(auth_line)
    announce(f"vecnest serve: {config.db} on http://{shown}:{port} (API /v1, docs /docs, page /ui)")
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="info" if access_log else "warning",
            access_log=access_log,
            timeout_graceful_shutdown=None,  # wait for every in-flight request
            lifespan="on",
        )
    )
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
