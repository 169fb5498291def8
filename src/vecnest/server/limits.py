"""Enforcing :class:`~vecnest.server.config.Limits`: request-shape checks and a body-size guard.

The checks look only at sizes and shapes (how many ids, how deep a filter); what the values mean
is the engine's business, so a request that passes here still meets every engine validation.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from vecnest.client.wire import error_to_json
from vecnest.errors import LimitExceededError, PayloadTooLargeError
from vecnest.server.config import Limits

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _over(what: str, got: int, limit: int, flag: str, fix: str) -> LimitExceededError:
    return LimitExceededError(
        f"{what} is {got:,}, over this server's limit of {limit:,}; {fix} (the operator sets the "
        f"limit with vecnest serve {flag})"
    )


def check_batch(n: int | None, limits: Limits, what: str = "documents in one request") -> None:
    """Raise :class:`LimitExceededError` for more than ``max_batch`` items."""
    if n is not None and n > limits.max_batch:
        raise _over(f"the number of {what}", n, limits.max_batch, "--max-batch", "split the batch")


def check_k(k: object, limits: Limits) -> None:
    """Raise for a ``k`` above ``max_k`` (the engine validates type and lower bound)."""
    if isinstance(k, int) and not isinstance(k, bool) and k > limits.max_k:
        raise _over("k", k, limits.max_k, "--max-k", "ask for fewer results or page with get()")


def check_query(query: object, limits: Limits) -> None:
    """Raise for a text query longer than ``max_query_chars``."""
    if isinstance(query, str) and len(query) > limits.max_query_chars:
        raise _over(
            "the query length in characters", len(query), limits.max_query_chars,
            "--max-query-chars", "shorten the query (the model reads its first 256 tokens)",
        )


def check_texts(texts: object, limits: Limits) -> None:
    """Raise for a document text longer than ``max_text_chars``."""
    if isinstance(texts, list):
        longest = max((len(t) for t in texts if isinstance(t, str)), default=0)
        if longest > limits.max_text_chars:
            raise _over(
                "the longest document text in characters", longest, limits.max_text_chars,
                "--max-text-chars", "split long documents into passages",
            )


def check_page(limit: object, limits: Limits) -> None:
    """Raise for a ``get`` page larger than ``max_page``."""
    if isinstance(limit, int) and not isinstance(limit, bool) and limit > limits.max_page:
        raise _over("limit", limit, limits.max_page, "--max-page", "page with limit= and offset=")


def filter_shape(value: object) -> tuple[int, int]:
    """``(depth, nodes)`` of a JSON value: nesting of dicts/lists, and dicts + lists + values."""
    depth, nodes = 0, 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        nodes += 1
        if isinstance(item, dict):
            depth = max(depth, level)
            stack.extend((v, level + 1) for v in item.values())
            nodes += len(item)  # keys
        elif isinstance(item, list):
            depth = max(depth, level)
            stack.extend((v, level + 1) for v in item)
    return depth, nodes


def check_filter(value: object, limits: Limits, name: str) -> None:
    """Raise for a filter nested deeper than ``max_filter_depth`` or larger than
    ``max_filter_nodes``."""
    if value is None:
        return
    depth, nodes = filter_shape(value)
    if depth > limits.max_filter_depth:
        raise _over(f"the nesting depth of {name}", depth, limits.max_filter_depth,
                    "--max-filter-depth", "flatten the filter")
    if nodes > limits.max_filter_nodes:
        raise _over(f"the size of {name} (keys, values, lists and dicts)", nodes,
                    limits.max_filter_nodes, "--max-filter-nodes",
                    "use $in with fewer values or split the request")


class BodySizeLimit:
    """ASGI middleware: reject request bodies over ``max_bytes`` with 413 before the application
    sees them: at once when ``Content-Length`` says so, else by reading the streamed chunks up to
    the limit (the body is then replayed to the application)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(send, int(declared))
            return
        messages: list[Message] = []
        seen = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                await self._reject(send, seen)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _reject(self, send: Send, size: int) -> None:
        exc = PayloadTooLargeError(
            f"the request body is {size:,} bytes (or more), over this server's limit of "
            f"{self.max_bytes:,}; send smaller batches (the operator sets the limit with "
            "vecnest serve --max-body-bytes)"
        )
        body = json.dumps(error_to_json(exc)).encode()
        await send({
            "type": "http.response.start",
            "status": exc.http_status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close")],
        })
        await send({"type": "http.response.body", "body": body})
