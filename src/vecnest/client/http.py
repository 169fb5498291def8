"""``vecnest.Client``: a vecnest server used exactly like an embedded store.

``Client`` mirrors :class:`vecnest.Database` and :class:`RemoteCollection` mirrors
:class:`vecnest.Collection`: the same method names, arguments and return types (:class:`Hit`,
:class:`Hits`, :class:`Document`, ``EvalReport``), and the same exception classes, rebuilt from
the server's error body. One test suite runs every operation against both and compares them.

What differs, by nature: a remote collection has no local ``encoder`` (the server embeds text
with the collection's model), encoders cannot travel (``model`` is a spec string or ``None``),
progress callbacks are not called, and an unreachable server raises
:class:`~vecnest.errors.ServerUnavailableError`.
"""

from __future__ import annotations

import dataclasses
import json
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from vecnest._deps import require
from vecnest.client import wire
from vecnest.config import CollectionConfig, IndexConfig, Metric
from vecnest.errors import InvalidInputError, NotFoundError, ServerUnavailableError
from vecnest.records import Document, Hits, Metadata

_UNSET: Any = object()


def _default(value: Any) -> Any:
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        raise InvalidInputError(f"a {type(value).__name__} cannot be sent as JSON; use a list")
    raise InvalidInputError(
        f"{type(value).__name__} {value!r:.60} cannot be sent to the server as JSON; send str, "
        "int, float, bool, None, lists and dicts"
    )


class Client:
    """A vecnest server, used like :class:`vecnest.Database`.

    Args:
        url: the server's base URL, e.g. ``"http://127.0.0.1:8000"``.
        api_key: sent as ``Authorization: Bearer <key>`` (needed when the server has keys).
        timeout: seconds to wait for an answer (embedding large batches takes a while).
        transport: an ``httpx`` transport.
        http: an ``httpx.Client`` to send requests through instead of a new one (tests pass
            starlette's ``TestClient`` to call an application in-process).

    Example:
        >>> import vecnest
        >>> client = vecnest.Client("http://127.0.0.1:8000")        # doctest: +SKIP
        >>> col = client.get_or_create_collection("papers")          # doctest: +SKIP
        >>> col.search("protein folding", k=5)                       # doctest: +SKIP
    """

    def __init__(
        self,
        url: str = "http://127.0.0.1:8000",
        *,
        api_key: str | None = None,
        timeout: float = 120.0,
        transport: Any = None,
        http: Any = None,
    ) -> None:
        httpx = require("httpx", "client", "vecnest.Client")
        self._httpx = httpx
        self.url = url.rstrip("/")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        if http is not None:
            http.headers.update(headers)
            self._http = http
        else:
            if transport is None:
                # without TCP_NODELAY a request's body waits for the ACK of its headers: Nagle's
                # algorithm against delayed ACKs adds ~40 ms to every POST
                transport = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
            self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=transport)

    # ------------------------------------------------------------------ transport
    def request(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        """One API call: JSON in, JSON out; an error answer raises its vecnest exception."""
        content = None
        if body is not None:
            content = json.dumps(body, default=_default, allow_nan=True, ensure_ascii=False).encode(
                "utf-8", "surrogatepass"
            )
        try:
            response = self._http.request(method, f"/v1{path}", content=content, params=params)
        except self._httpx.HTTPError as exc:
            raise ServerUnavailableError(
                f"could not reach the vecnest server at {self.url} ({type(exc).__name__}: {exc}); "
                "is vecnest serve running there?"
            ) from None
        try:
            data = response.json()
        except ValueError:
            data = response.text
        if response.is_success and not isinstance(data, str):
            return data
        raise wire.error_from_json(data, response.status_code)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # a client dropped without close(): release its sockets quietly
        http = getattr(self, "_http", None)
        if http is not None:
            try:
                http.close()
            except Exception:  # noqa: BLE001, S110 - interpreter shutdown or a half-built client
                pass

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    # ------------------------------------------------------------------ store
    def health(self) -> dict[str, str]:
        """``{"status": "ok", "version": ...}`` when the server is up."""
        return self.request("GET", "/health")

    def info(self) -> dict[str, Any]:
        """:meth:`vecnest.Database.info` (collections the key is granted)."""
        return self.request("GET", "/info")

    def list_collections(self) -> list[str]:
        """:meth:`vecnest.Database.list_collections`."""
        return self.request("GET", "/collections")["collections"]

    def create_collection(
        self,
        name: str,
        model: Any = "default",
        *,
        metric: str = "cosine",
        dim: int | None = None,
        indexed_fields: tuple[str, ...] | list[str] = (),
        index: str | IndexConfig | None = None,
        exist_ok: bool = False,
    ) -> RemoteCollection:
        """:meth:`vecnest.Database.create_collection`; ``model`` is a spec the server offers or
        ``None`` (an encoder object cannot travel)."""
        body = {
            "name": name,
            "model": _model_spec(model),
            "metric": metric,
            "dim": dim,
            "indexed_fields": list(indexed_fields) if isinstance(indexed_fields, (list, tuple)) else indexed_fields,
            "index": _index_json(index),
            "exist_ok": exist_ok,
        }
        return RemoteCollection(self, self.request("POST", "/collections", body))

    def get_collection(self, name: str, model: Any = _UNSET) -> RemoteCollection:
        """:meth:`vecnest.Database.get_collection`; a ``model`` spec is checked against the
        recorded one (:class:`~vecnest.errors.ModelMismatchError`)."""
        params = None if model is _UNSET or model is None else {"model": _model_spec(model)}
        return RemoteCollection(self, self.request("GET", f"/collections/{_segment(name)}", params=params))

    def get_or_create_collection(self, name: str, model: Any = "default", **kwargs: Any) -> RemoteCollection:
        """:meth:`vecnest.Database.get_or_create_collection`."""
        return self.create_collection(name, model, exist_ok=True, **kwargs)

    def drop_collection(self, name: str) -> None:
        """:meth:`vecnest.Database.drop_collection`."""
        self.request("DELETE", f"/collections/{_segment(name)}")

    # ------------------------------------------------------------------ evaluation
    def evaluate(
        self, collection: str, dataset: str, metrics: Sequence[str] | None = None, *, k: int = 100
    ) -> Any:
        """:func:`vecnest.evaluate` of ``collection`` on a dataset the server offers (by name);
        returns an ``EvalReport``."""
        body = {"dataset": dataset, "metrics": list(metrics) if metrics is not None else None, "k": k}
        return wire.report_from_json(self.request("POST", f"/collections/{_segment(collection)}/evaluate", body))

    def reports(self) -> list[dict[str, Any]]:
        """The server's evaluation reports, newest first."""
        return self.request("GET", "/reports")["reports"]


class RemoteCollection:
    """A collection on a vecnest server, used like :class:`vecnest.Collection`.

    Behaves like a container: ``len(col)``, ``"id" in col``, ``col["id"]``.
    """

    def __init__(self, client: Client, data: dict[str, Any]) -> None:
        self._client = client
        self._config = CollectionConfig.from_json(data["config"])
        self._path = f"/collections/{_segment(self._config.name)}"

    @property
    def name(self) -> str:
        """The collection's name."""
        return self._config.name

    @property
    def config(self) -> CollectionConfig:
        """The collection's manifest (as the server reported it when this handle was made)."""
        return self._config

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return self._config.dim

    @property
    def metric(self) -> Metric:
        """Similarity metric."""
        return self._config.metric

    @property
    def encoder(self) -> None:
        """Always ``None``: the server embeds text with the collection's model."""
        return None

    def __repr__(self) -> str:
        model = self._config.encoder["name"] if self._config.encoder else None
        return f"RemoteCollection(name={self.name!r}, url={self._client.url!r}, model={model!r})"

    def _call(self, verb: str, body: Any = None, method: str = "POST") -> Any:
        return self._client.request(method, f"{self._path}/{verb}", body)

    # ------------------------------------------------------------------ container protocol
    def count(self) -> int:
        """Number of documents stored."""
        return self._call("count", method="GET")["count"]

    def __len__(self) -> int:
        return self.count()

    def __contains__(self, doc_id: object) -> bool:
        if not isinstance(doc_id, str):
            return False
        return self._call("contains", {"id": doc_id})["contains"]

    def __getitem__(self, doc_id: str) -> Document:
        return wire.document_from_json(self._call("item", {"id": doc_id}))

    # ------------------------------------------------------------------ writes
    def _write(self, verb: str, ids: Any, texts: Any, metadatas: Any, vectors: Any) -> None:
        self._call(verb, {"ids": ids, "texts": texts, "metadatas": metadatas, "vectors": vectors})

    def add(
        self,
        ids: Sequence[str],
        texts: Sequence[str] | None = None,
        metadatas: Sequence[Metadata | None] | None = None,
        vectors: np.ndarray | None = None,
        *,
        progress: Any = None,
    ) -> None:
        """:meth:`vecnest.Collection.add`; returns once the server has committed."""
        self._write("add", ids, texts, metadatas, vectors)

    def upsert(
        self,
        ids: Sequence[str],
        texts: Sequence[str] | None = None,
        metadatas: Sequence[Metadata | None] | None = None,
        vectors: np.ndarray | None = None,
        *,
        progress: Any = None,
    ) -> None:
        """:meth:`vecnest.Collection.upsert`."""
        self._write("upsert", ids, texts, metadatas, vectors)

    def update(
        self,
        ids: Sequence[str],
        texts: Sequence[str] | None = None,
        metadatas: Sequence[Metadata | None] | None = None,
        vectors: np.ndarray | None = None,
    ) -> None:
        """:meth:`vecnest.Collection.update`."""
        self._write("update", ids, texts, metadatas, vectors)

    def delete(
        self,
        ids: Sequence[str] | None = None,
        where: dict[str, Any] | None = None,
        where_document: dict[str, Any] | None = None,
    ) -> int:
        """:meth:`vecnest.Collection.delete`; the number deleted."""
        return self._call("delete", {"ids": ids, "where": where, "where_document": where_document})["deleted"]

    # ------------------------------------------------------------------ reads
    def get(
        self,
        ids: Sequence[str] | None = None,
        where: dict[str, Any] | None = None,
        where_document: dict[str, Any] | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
        include_vectors: bool = False,
    ) -> list[Document]:
        """:meth:`vecnest.Collection.get`; without ``limit`` the server's pages are followed."""
        body = {"ids": ids, "where": where, "where_document": where_document, "limit": limit,
                "offset": offset, "include_vectors": include_vectors}
        docs: list[Document] = []
        while True:
            data = self._call("get", body)
            docs.extend(wire.document_from_json(d) for d in data["documents"])
            if data.get("next_offset") is None:
                return docs
            body["offset"] = data["next_offset"]

    def search(self, query: str | np.ndarray, k: int = 10, **options: Any) -> Hits:
        """:meth:`vecnest.Collection.search`: the same keyword arguments
        (:data:`vecnest.client.wire.SEARCH_OPTIONS`), the same :class:`Hits`."""
        wire.check_names(options, wire.SEARCH_OPTIONS, "Collection.search")
        return wire.hits_from_json(self._call("search", {"query": query, "k": k, **options}))

    def search_batch(self, queries: Sequence[str] | np.ndarray, k: int = 10, **options: Any) -> list[Hits]:
        """:meth:`vecnest.Collection.search_batch`: one :class:`Hits` per query."""
        wire.check_names(options, wire.SEARCH_OPTIONS, "Collection.search_batch")
        data = self._call("search_batch", {"queries": queries, "k": k, **options})
        return [wire.hits_from_json(h) for h in data["results"]]

    # ------------------------------------------------------------------ index and maintenance
    def create_index(self, field: str) -> None:
        """:meth:`vecnest.Collection.create_index`."""
        self._call("indexes", {"field": field})
        if field not in self._config.indexed_fields:
            from dataclasses import replace

            self._config = replace(self._config, indexed_fields=(*self._config.indexed_fields, field))

    def optimize(self, *, rebuild: bool = False) -> dict[str, Any]:
        """:meth:`vecnest.Collection.optimize`."""
        return self._call("optimize", {"rebuild": rebuild})

    @contextmanager
    def bulk(self) -> Iterator[RemoteCollection]:
        """Accepted for symmetry with :meth:`vecnest.Collection.bulk`; the server merges its
        index as its own writes require (each write is still atomic and durable)."""
        yield self

    def stats(self) -> dict[str, Any]:
        """:meth:`vecnest.Collection.stats` as the server process measures it (bytes per vector
        by component, RAM resident vs disk), with the count and the manifest."""
        return self._call("stats", method="GET")

    def disk_bytes(self) -> dict[str, int | None]:
        """:meth:`vecnest.Collection.disk_bytes`."""
        return self.stats()["disk_bytes"]

    def index_bytes(self) -> dict[str, int]:
        """:meth:`vecnest.Collection.index_bytes`."""
        return self.stats()["index_bytes"]


def _index_json(index: Any) -> Any:
    if not isinstance(index, IndexConfig):
        return index
    data = dataclasses.asdict(index)
    data["kind"] = getattr(index.kind, "value", index.kind)
    return data


def _model_spec(model: Any) -> str | None:
    if model is None or isinstance(model, str):
        return model
    raise InvalidInputError(
        f"a remote collection's model must be a spec string the server offers (e.g. 'default') "
        f"or None; got {type(model).__name__}. Encoder objects run in-process only"
    )


def _segment(name: object) -> str:
    """A collection name as one URL path segment (anything else could not name a collection)."""
    from urllib.parse import quote

    if not isinstance(name, str):
        raise InvalidInputError(f"collection name must be a str; got {type(name).__name__} {name!r:.60}")
    if name in ("", ".", "..") or "/" in name:
        raise NotFoundError(f"no collection named {name!r} on the server")
    return quote(name, safe="")
