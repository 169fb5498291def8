"""Configuration of ``vecnest serve``: frozen dataclasses, no web framework imported."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from vecnest.errors import InvalidInputError


@dataclass(frozen=True)
class Limits:
    """What one request may ask for; each is enforced with a 4xx error naming the limit.

    Attributes:
        max_body_bytes: request body size (413 beyond). 32 MiB carries ~20k 384-d vectors as
            JSON; larger loads should be split in batches.
        max_batch: documents per write and ids per get/delete, queries per batch search. Bounds
            the memory and the time one call holds the write lock.
        max_k: results per query (the engine allows 10,000; a server answers many clients).
        max_page: documents returned by one ``get`` (the client pages through larger reads).
        max_query_chars: characters of a text query (the model reads 256 tokens anyway).
        max_text_chars: characters of one document text.
        max_filter_depth: nesting of a ``where`` / ``where_document`` filter.
        max_filter_nodes: dicts, lists and values in one filter.
        request_timeout: seconds a read may run before the client gets 408 (the thread finishes
            on its own; writes are never cut off, since a started write runs to its commit).
    """

    max_body_bytes: int = 32 * 1024 * 1024
    max_batch: int = 4096
    max_k: int = 1000
    max_page: int = 10_000
    max_query_chars: int = 8192
    max_text_chars: int = 1_000_000
    max_filter_depth: int = 16
    max_filter_nodes: int = 1024
    request_timeout: float = 30.0

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise InvalidInputError(f"Limits.{name} must be a positive number; got {value!r}")


@dataclass(frozen=True)
class ServerConfig:
    """How a server runs.

    Attributes:
        db: the store directory served.
        host: interface to bind; anything but loopback needs API keys.
        port: TCP port (0: pick a free one).
        keys_file: the API keys file (hashed keys, scopes, grants); ``None``: ``<db>/keys.json``.
        limits: per-request limits.
        models: model specs a client may name when creating a collection (besides ``None`` for
            vectors-only). Models load code and weights on the server, so only listed ones.
        datasets_dir: BEIR datasets a client may evaluate a collection on, by folder name.
        reports_dir: evaluation reports shown on ``/ui`` and listed at ``/v1/reports`` (folders
            written by ``vecnest eval --out``); server-side evaluations are saved here too.
        read_threads: threads serving reads and writes at once (writes still commit one at a
            time in the engine).
    """

    db: Path
    host: str = "127.0.0.1"
    port: int = 8000
    keys_file: Path | None = None
    limits: Limits = field(default_factory=Limits)
    models: tuple[str, ...] = ("default",)
    datasets_dir: Path | None = None
    reports_dir: Path | None = None
    read_threads: int = 32

    @property
    def keys_path(self) -> Path:
        """Where the API keys live."""
        return self.keys_file if self.keys_file is not None else self.db / "keys.json"


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
