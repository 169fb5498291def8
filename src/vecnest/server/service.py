"""The engine behind the routes: one open :class:`~vecnest.Database`, collection handles, and
how blocking engine calls run (worker threads, read timeouts), through the public API only.

Reads are never serialised here: each runs on its own worker thread and the engine decides what,
if anything, must wait. Writes also run on worker threads; the engine commits one at a time.
A read past ``Limits.request_timeout`` answers 408 while its thread finishes on its own; a
write is never cut off, so an answered write is a committed write and a timed-out client can
read its outcome back.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread

import vecnest
from vecnest.errors import CollectionNotFoundError, RequestTimeoutError
from vecnest.index import pace
from vecnest.server.auth import KeyStore
from vecnest.server.config import ServerConfig

T = TypeVar("T")


class Service:
    """State shared by every request of one server process."""

    def __init__(self, db: vecnest.Database, config: ServerConfig) -> None:
        self.db = db
        self.config = config
        self.limits = config.limits
        self.keys = KeyStore(config.keys_path)
        self._handles: dict[str, vecnest.Collection] = {}
        self._handles_lock = threading.Lock()
        self._limiter: anyio.CapacityLimiter | None = None

    @property
    def limiter(self) -> anyio.CapacityLimiter:
        """Worker threads for engine calls (created inside the event loop)."""
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.config.read_threads)
        return self._limiter

    # ------------------------------------------------------------------ collections
    def collection(self, name: str) -> vecnest.Collection:
        """The server's handle on collection ``name`` (with its recorded model), cached.

        The server keeps its own handles so that a client asking to check a model never changes
        the encoder other clients' requests use.
        """
        col = self._handles.get(name)
        if col is None:
            col = self.db.get_collection(name)
            with self._handles_lock:
                col = self._handles.setdefault(name, col)
        return col

    def forget(self, name: str) -> None:
        """Drop the cached handle (the collection was dropped or re-created)."""
        with self._handles_lock:
            self._handles.pop(name, None)

    def on_collection(self, name: str, fn: Callable[[vecnest.Collection], T]) -> Callable[[], T]:
        """A thunk running ``fn`` on the collection; a handle found dropped is forgotten and the
        call retried once with a fresh handle (another process may have re-created it)."""

        def run() -> T:
            try:
                return fn(self.collection(name))
            except CollectionNotFoundError:
                self.forget(name)
                return fn(self.collection(name))

        return run

    # ------------------------------------------------------------------ running engine calls
    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking read on a worker thread, answering 408 past the request timeout."""
        timeout = self.limits.request_timeout
        try:
            with anyio.fail_after(timeout):
                return await anyio.to_thread.run_sync(
                    functools.partial(fn, *args), abandon_on_cancel=True, limiter=self.limiter
                )
        except TimeoutError:
            raise RequestTimeoutError(
                f"the request took longer than this server's timeout of {timeout:g} s; narrow it "
                "(smaller k, a tighter filter, fewer queries) or ask the operator to raise "
                "vecnest serve --timeout"
            ) from None

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking write on a worker thread to its end (never cancelled). A write the
        engine would hold because it outran the index merges (see :mod:`vecnest.index.pace`)
        is answered after that hold, waited out here without keeping a worker thread (reads
        share the threads)."""

        def call() -> tuple[T, float]:
            with pace.deferred() as hold:
                out = fn(*args)
            return out, hold.seconds

        out, hold = await anyio.to_thread.run_sync(call, limiter=self.limiter)
        if hold > 0:
            await anyio.sleep(hold)
        return out
