"""Bad input and bad keys against a real ``vecnest serve`` with API keys: each request gets the
right 4xx with a vecnest error body, and the store is unchanged (checksum of its contents)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

import vecnest
from tests.integration.server_checks import store_digest
from tests.integration.server_proc import ServerProcess

LIMITS = ["--max-body-bytes", "200000", "--max-batch", "100", "--max-k", "50",
          "--max-query-chars", "500", "--max-filter-depth", "4", "--max-filter-nodes", "40"]


def _keys(db: Path, *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "vecnest.cli.main", "keys", "add", "--db", str(db), *args],
                         check=True, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    db = tmp_path_factory.mktemp("badinput") / "store"
    with vecnest.open(db) as store:
        for name in ("papers", "secret"):
            col = store.create_collection(name, None, dim=4)
            col.add(["a", "b"], ["alpha", "beta"], [{"y": 1}, {"y": 2}], np.eye(4, dtype=np.float32)[:2])
    keys = {
        "admin": _keys(db, "--name", "admin", "--scope", "write"),
        "reader": _keys(db, "--name", "reader", "--scope", "read", "--collections", "papers"),
        "writer": _keys(db, "--name", "writer", "--scope", "write", "--collections", "pap*"),
        "revoked": _keys(db, "--name", "old", "--scope", "write"),
    }
    key_id = keys["revoked"].split("_")[1]
    subprocess.run([sys.executable, "-m", "vecnest.cli.main", "keys", "revoke", "--db", str(db), key_id], check=True,
                   capture_output=True)
    with ServerProcess(db, LIMITS) as proc:
        yield proc, keys


def _h(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


VEC = [0.5, 0.5, 0.5, 0.5]
CASES: list[tuple[str, str, str, object, str | None, int, str]] = [
    # label, method, path, body (bytes = raw), key, status, error type
    ("malformed json", "POST", "/v1/collections/papers/add", b'{"ids": ["x"], "vectors": [[1,2', "writer", 400, "InvalidInputError"),
    ("not json at all", "POST", "/v1/collections/papers/search", b"\x00\xff\xfe garbage", "reader", 400, "InvalidInputError"),
    ("body is a list", "POST", "/v1/collections/papers/add", [1, 2, 3], "writer", 400, "InvalidInputError"),
    ("ids not a list", "POST", "/v1/collections/papers/add", {"ids": 5, "vectors": [VEC]}, "writer", 400, "InvalidInputError"),
    ("id not a string", "POST", "/v1/collections/papers/add", {"ids": [7], "vectors": [VEC]}, "writer", 400, "InvalidInputError"),
    ("vector of strings", "POST", "/v1/collections/papers/add", {"ids": ["x"], "vectors": [["a", "b", "c", "d"]]}, "writer", 400, "InvalidInputError"),
    ("ragged vectors", "POST", "/v1/collections/papers/add", {"ids": ["x", "y"], "vectors": [VEC, [1.0]]}, "writer", 400, "InvalidInputError"),
    ("wrong dimension", "POST", "/v1/collections/papers/add", {"ids": ["x"], "vectors": [[1.0, 2.0]]}, "writer", 400, "DimensionMismatchError"),
    ("NaN vector", "POST", "/v1/collections/papers/add", b'{"ids": ["x"], "vectors": [[NaN, 1, 1, 1]]}', "writer", 400, "InvalidInputError"),
    ("Infinity vector", "POST", "/v1/collections/papers/upsert", b'{"ids": ["a"], "vectors": [[Infinity, 1, 1, 1]]}', "writer", 400, "InvalidInputError"),
    ("1e999 vector", "POST", "/v1/collections/papers/add", b'{"ids": ["x"], "vectors": [[1e999, 1, 1, 1]]}', "writer", 400, "InvalidInputError"),
    ("NaN query", "POST", "/v1/collections/papers/search", b'{"query": [NaN, 0, 0, 0]}', "reader", 400, "InvalidInputError"),
    ("k as string", "POST", "/v1/collections/papers/search", {"query": VEC, "k": "5"}, "reader", 400, "InvalidInputError"),
    ("unknown field", "POST", "/v1/collections/papers/search", {"query": VEC, "kk": 5}, "reader", 400, "InvalidInputError"),
    ("bad filter", "POST", "/v1/collections/papers/delete", {"where": {"y": {"$regex": "."}}}, "writer", 400, "InvalidFilterError"),
    ("metadata nested", "POST", "/v1/collections/papers/add", {"ids": ["x"], "vectors": [VEC], "metadatas": [{"a": {"b": 1}}]}, "writer", 400, "InvalidInputError"),
    ("lone surrogate text", "POST", "/v1/collections/papers/add", b'{"ids": ["x"], "texts": ["bad \\ud800 text"], "vectors": [[1,1,1,1]]}', "writer", 400, "InvalidInputError"),
    ("lone surrogate id", "POST", "/v1/collections/papers/upsert", b'{"ids": ["\\udfff"], "vectors": [[1,1,1,1]]}', "writer", 400, "InvalidInputError"),
    ("lone surrogate metadata", "POST", "/v1/collections/papers/update", b'{"ids": ["a"], "metadatas": [{"k": "\\ud83d"}]}', "writer", 400, "InvalidInputError"),
    ("lone surrogate filter", "POST", "/v1/collections/papers/delete", b'{"where": {"k": "\\ud83d"}}', "writer", 400, "InvalidInputError"),
    ("NUL in metadata", "POST", "/v1/collections/papers/add", {"ids": ["x"], "vectors": [VEC], "metadatas": [{"k": "a\u0000b"}]}, "writer", 400, "InvalidInputError"),
    ("NUL in collection name", "POST", "/v1/collections", {"name": "pap\u0000ers", "model": None, "dim": 4}, "admin", 400, "InvalidInputError"),
    ("traversal name create", "POST", "/v1/collections", {"name": "../../etc", "model": None, "dim": 4}, "admin", 400, "InvalidInputError"),
    ("traversal name path", "POST", "/v1/collections/..%2F..%2Fetc/add", {"ids": ["x"], "vectors": [VEC]}, "admin", 404, "NotFoundError"),
    ("dot-dot segment", "GET", "/v1/collections/%2E%2E/count", None, "admin", 400, "InvalidInputError"),
    ("encoded NUL name", "GET", "/v1/collections/%00/count", None, "admin", 400, "InvalidInputError"),
    ("report traversal", "GET", "/v1/reports/..%2F..%2F/eval.json", None, "admin", 404, "NotFoundError"),
    ("model not offered", "POST", "/v1/collections", {"name": "evil", "model": "sentence-transformers:/etc/passwd"}, "admin", 400, "InvalidInputError"),
    ("too many ids", "POST", "/v1/collections/papers/add", {"ids": [f"i{i}" for i in range(101)], "vectors": [VEC] * 101}, "writer", 422, "LimitExceededError"),
    ("k over limit", "POST", "/v1/collections/papers/search", {"query": VEC, "k": 51}, "reader", 422, "LimitExceededError"),
    ("query too long", "POST", "/v1/collections/papers/search", {"query": "x" * 501}, "reader", 422, "LimitExceededError"),
    ("filter too deep", "POST", "/v1/collections/papers/search", {"query": VEC, "where": {"$not": {"$not": {"$not": {"$not": {"y": 1}}}}}}, "reader", 422, "LimitExceededError"),
    ("filter too big", "POST", "/v1/collections/papers/search", {"query": VEC, "where": {"y": {"$in": list(range(50))}}}, "reader", 422, "LimitExceededError"),
    ("page too big", "POST", "/v1/collections/papers/get", {"limit": 100_000}, "reader", 422, "LimitExceededError"),
    ("huge payload declared", "POST", "/v1/collections/papers/add", {"ids": ["x"], "vectors": [VEC], "texts": ["y" * 300_000]}, "writer", 413, "PayloadTooLargeError"),
    ("no key", "GET", "/v1/collections", None, None, 401, "AuthenticationError"),
    ("no key write", "POST", "/v1/collections/papers/add", {"ids": ["x"], "vectors": [VEC]}, None, 401, "AuthenticationError"),
    ("wrong key", "POST", "/v1/collections/papers/search", {"query": VEC}, "vn_deadbeef_notthekey", 401, "AuthenticationError"),
    ("malformed key", "GET", "/v1/info", None, "hunter2", 401, "AuthenticationError"),
    ("revoked key", "POST", "/v1/collections/papers/add", {"ids": ["x"], "vectors": [VEC]}, "revoked", 401, "AuthenticationError"),
    ("read-only key writes", "POST", "/v1/collections/papers/add", {"ids": ["x"], "vectors": [VEC]}, "reader", 403, "AccessDeniedError"),
    ("read-only key deletes", "POST", "/v1/collections/papers/delete", {"ids": ["a"]}, "reader", 403, "AccessDeniedError"),
    ("read-only key drops", "DELETE", "/v1/collections/papers", None, "reader", 403, "AccessDeniedError"),
    ("read-only key creates", "POST", "/v1/collections", {"name": "papers2", "model": None, "dim": 4}, "reader", 403, "AccessDeniedError"),
    ("key for another collection reads", "POST", "/v1/collections/secret/get", {}, "reader", 403, "AccessDeniedError"),
    ("key for another collection writes", "POST", "/v1/collections/secret/upsert", {"ids": ["a"], "vectors": [VEC]}, "writer", 403, "AccessDeniedError"),
    ("key for another collection drops", "DELETE", "/v1/collections/secret", None, "writer", 403, "AccessDeniedError"),
    ("key for another collection creates", "POST", "/v1/collections", {"name": "other", "model": None, "dim": 4}, "writer", 403, "AccessDeniedError"),
    ("method not allowed", "PUT", "/v1/collections/papers/add", {"ids": ["x"]}, "writer", 405, "InvalidInputError"),
    ("no such endpoint", "POST", "/v1/collections/papers/explode", {}, "writer", 404, "NotFoundError"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_request_is_refused_and_changes_nothing(setup: tuple[ServerProcess, dict[str, str]], case: tuple) -> None:
    server, keys = setup
    label, method, path, body, key_name, status, error_type = case
    key = keys.get(key_name, key_name) if key_name else None
    before = store_digest(server.db)
    kwargs: dict = {"headers": {**_h(key), "Content-Type": "application/json"}}
    if isinstance(body, bytes):
        kwargs["content"] = body
    elif body is not None:
        kwargs["content"] = json.dumps(body).encode()
    response = httpx.request(method, server.url + path, timeout=30, **kwargs)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == error_type and error["status"] == status, error
    assert len(error["message"]) > 20
    if key:
        assert key not in response.text  # a key is never echoed
    assert store_digest(server.db) == before, f"{label} changed the store"


def test_streamed_body_over_limit_is_cut_off(setup: tuple[ServerProcess, dict[str, str]]) -> None:
    """No Content-Length (chunked): the server counts the bytes and stops at the limit."""
    server, keys = setup
    before = store_digest(server.db)

    def chunks() -> Iterator[bytes]:
        yield b'{"ids": ["x"], "vectors": [[1,1,1,1]], "texts": ["'
        for _ in range(100):
            yield b"z" * 10_000
        yield b'"]}'

    response = httpx.post(server.url + "/v1/collections/papers/add", content=chunks(),
                          headers={**_h(keys["writer"]), "Content-Type": "application/json"}, timeout=30)
    assert response.status_code == 413 and response.json()["error"]["type"] == "PayloadTooLargeError"
    assert store_digest(server.db) == before


def test_grants_filter_listing_and_allow_granted_work(setup: tuple[ServerProcess, dict[str, str]]) -> None:
    server, keys = setup
    reader = vecnest.Client(server.url, api_key=keys["reader"])
    assert reader.list_collections() == ["papers"]
    assert [c["name"] for c in reader.info()["collections"]] == ["papers"]
    assert reader.get_collection("papers").count() == 2
    with pytest.raises(vecnest.AccessDeniedError, match="not granted collection 'secret'"):
        reader.get_collection("secret")
    with pytest.raises(vecnest.AuthenticationError, match="requires an API key"):
        vecnest.Client(server.url).list_collections()
    writer = vecnest.Client(server.url, api_key=keys["writer"])
    col = writer.get_collection("papers")
    col.upsert(["w1"], vectors=np.ones((1, 4), np.float32))
    assert "w1" in col and col.delete(ids=["w1"]) == 1
    assert vecnest.Client(server.url, api_key=keys["admin"]).list_collections() == ["papers", "secret"]
    assert not any(k in "".join(server.output) for k in keys.values())  # never logged


def test_no_key_refuses_non_loopback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "vecnest.cli.main", "serve", "--db", str(tmp_path / "s"), "--host", "0.0.0.0", "--port", "0"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert "refusing to serve on 0.0.0.0: no API key is configured" in proc.stderr
