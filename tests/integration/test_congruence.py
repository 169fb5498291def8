"""One protocol, two backends: every operation runs on an embedded store and on a real
``vecnest serve`` (uvicorn over TCP on loopback) through ``vecnest.Client``, and the results
and the errors (class and message) must be identical.

Each scenario is a function of a "database" (``vecnest.Database`` or ``vecnest.Client``) that
returns a trace: what each step returned, or the error it raised. Scores are compared exactly:
both sides run the same engine on the same float32 vectors (JSON carries float32 values exactly).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import vecnest
from vecnest.client import RemoteCollection
from tests.integration.server_proc import ServerProcess

#: Steps whose error message (never its class) differs by nature, and why.
MESSAGE_MAY_DIFFER = {
    "use dropped": "a remote handle is a name: the server cannot tell 'dropped' from 'never existed'",
}
PAGE = 50  # the server's page size here, so get() without a limit pages (120 docs)
DIM = 8


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    db = tmp_path_factory.mktemp("congruence") / "server-store"
    with ServerProcess(db, ["--max-page", str(PAGE)]) as proc:
        yield proc


def _norm(value: Any, root: str) -> Any:
    """A comparable form of a result: records as tuples, plans without timings, paths cut."""
    if isinstance(value, vecnest.Hits):
        plan = None
        if value.plan is not None:
            plan = {k: v for k, v in dataclasses.asdict(value.plan).items() if k != "timings_ms"}
            plan["stages"] = sorted(value.plan.timings_ms)
        return ("Hits", [_norm(h, root) for h in value], plan)
    if isinstance(value, vecnest.Hit):
        vec = None if value.vector is None else value.vector.tolist()
        return ("Hit", value.id, value.score, value.text, value.metadata, vec)
    if isinstance(value, vecnest.Document):
        vec = None if value.vector is None else np.asarray(value.vector).tolist()
        return ("Document", value.id, value.text, value.metadata, vec)
    if isinstance(value, (vecnest.Collection, RemoteCollection)):
        return ("Collection", value.name, value.dim, value.metric, value.config.to_json())
    if isinstance(value, list):
        return [_norm(v, root) for v in value]
    if isinstance(value, dict):
        return {k: _norm(v, root) for k, v in value.items() if k not in ("path", "build_seconds", "total_seconds")}
    if isinstance(value, str):
        return value.replace(root, "<store>")
    return value


def _trace(db: Any, scenario: Callable[[Any, Callable[..., None]], None], root: str) -> list[Any]:
    out: list[Any] = []

    def step(label: str, fn: Callable[[], Any]) -> None:
        try:
            out.append((label, "ok", _norm(fn(), root)))
        except vecnest.VecnestError as exc:
            out.append((label, type(exc).__name__, str(exc).replace(root, "<store>")))
        except TypeError as exc:  # Python's own argument errors
            out.append((label, "TypeError", str(exc)))

    scenario(db, step)
    return out


def _run_both(scenario: Callable[[Any, Callable[..., None]], None], server: ServerProcess, tmp_path: Path) -> list[Any]:
    local_root = tmp_path / "embedded-store"
    with vecnest.open(local_root) as db:
        embedded = _trace(db, scenario, str(local_root))
    with vecnest.Client(server.url) as client:
        for name in client.list_collections():  # the server's store starts empty, as the embedded one
            client.drop_collection(name)
        remote = _trace(client, scenario, str(server.db))
    for a, b in zip(embedded, remote, strict=True):
        if a[0] in MESSAGE_MAY_DIFFER:
            a, b = a[:2], b[:2]
        assert a == b, f"embedded and HTTP differ at step {a[0]!r}:\n  embedded: {a}\n  http:     {b}"
    return embedded


def _vectors(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)


# ------------------------------------------------------------------ scenarios
def _crud(db: Any, step: Callable[..., None], name: str, metric: str) -> None:
    vecs = _vectors(120, 1)
    ids = [f"d{i:03d}" for i in range(120)]
    metas = [{"year": 2000 + i % 25, "tag": ["a", "b", "c"][i % 3], "cats": [f"c{i % 4}", "all"], "score": i / 7}
             for i in range(120)]
    texts = [f"document number {i}" for i in range(120)]
    step("create", lambda: db.create_collection(name, None, dim=DIM, metric=metric, indexed_fields=["year"]))
    step("create again", lambda: db.create_collection(name, None, dim=DIM))
    step("create exist_ok", lambda: db.create_collection(name, None, dim=DIM, exist_ok=True))
    col = db.get_collection(name)
    step("add", lambda: col.add(ids, texts, metas, vecs))
    step("count", col.count)
    step("len", lambda: len(col))
    step("contains", lambda: ("d005" in col, "nope" in col, 5 in col))
    step("getitem", lambda: col["d007"])
    step("getitem missing", lambda: col["nope"])
    step("get ids", lambda: col.get(ids=["d010", "d003", "nope", "d003"]))
    step("get where", lambda: col.get(where={"year": {"$gte": 2020}, "tag": "b"}))
    step("get all pages", lambda: col.get())
    step("get limit offset", lambda: col.get(where={"cats": {"$contains": "c1"}}, limit=7, offset=3))
    step("get vectors", lambda: col.get(ids=["d001", "d002"], include_vectors=True))
    step("get doc filter", lambda: col.get(where_document={"$contains": "number 1"}))
    q = vecs[17] + 0.1
    step("search", lambda: col.search(q, k=5))
    step("search filtered explain", lambda: col.search(q, k=10, where={"$or": [{"tag": "a"}, {"year": {"$lt": 2005}}]}, explain=True))
    step("search ids only", lambda: col.search(q, k=3, include=()))
    step("search metadata only vectors", lambda: col.search(q, k=3, include=["metadata"], include_vectors=True))
    step("search where_document", lambda: col.search(q, k=4, where_document={"$not_contains": "1"}))
    step("search_batch", lambda: col.search_batch(vecs[:3], k=4, where={"cats": {"$contains_any": ["c2", "c3"]}}))
    step("search no match", lambda: col.search(q, k=4, where={"year": 1900}))
    step("add duplicate", lambda: col.add(["d001"], vectors=vecs[:1]))
    step("add dup in batch", lambda: col.add(["x", "x"], vectors=vecs[:2]))
    step("upsert", lambda: col.upsert(["d001", "new1"], ["replaced", "fresh"], [{"year": 1999}, None], vecs[5:7]))
    step("after upsert", lambda: col.get(ids=["d001", "new1"], include_vectors=True))
    step("update metadata", lambda: col.update(["d002"], metadatas=[{"year": 1990, "tag": "z"}]))
    step("update vectors", lambda: col.update(["d004"], vectors=vecs[9:10]))
    step("update missing", lambda: col.update(["nope"], metadatas=[{}]))
    step("update nothing", lambda: col.update(["d002"]))
    step("after update", lambda: col.get(ids=["d002", "d004"], include_vectors=True))
    step("delete ids", lambda: col.delete(ids=["d000", "nope"]))
    step("delete where", lambda: col.delete(where={"tag": "c", "year": {"$lt": 2010}}))
    step("delete doc", lambda: col.delete(where_document={"$contains": "number 11"}))
    step("delete nothing given", lambda: col.delete())
    step("count after", col.count)
    step("search after writes", lambda: col.search(q, k=8, explain=True))
    step("create_index", lambda: col.create_index("tag"))
    step("disk_bytes keys", lambda: sorted(col.disk_bytes()))
    step("optimize exact", lambda: col.optimize())
    step("list", db.list_collections)
    step("info", lambda: [{k: v for k, v in c.items() if not k.endswith("_bytes")} for c in db.info()["collections"]])


def _errors(db: Any, step: Callable[..., None]) -> None:
    step("no such collection", lambda: db.get_collection("missing"))
    step("drop missing", lambda: db.drop_collection("missing"))
    step("bad name", lambda: db.create_collection("bad/name", None, dim=4))
    step("bad name dots", lambda: db.create_collection("..", None, dim=4))
    step("bad metric", lambda: db.create_collection("m", None, dim=4, metric="manhattan"))
    step("no dim", lambda: db.create_collection("m", None))
    step("bad index", lambda: db.create_collection("m", None, dim=4, index="lsh"))
    col = db.create_collection("errs", None, dim=DIM)
    vecs = _vectors(4, 2)
    step("add ok", lambda: col.add(["a", "b", "c", "d"], None, [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}], vecs))
    step("dim mismatch", lambda: col.add(["e"], vectors=np.ones((1, DIM + 1), np.float32)))
    step("nan vector", lambda: col.add(["e"], vectors=np.full((1, DIM), np.nan, np.float32)))
    step("inf vector", lambda: col.add(["e"], vectors=np.full((1, DIM), np.inf, np.float32)))
    step("count mismatch", lambda: col.add(["e", "f"], vectors=vecs[:1]))
    step("no vectors or texts", lambda: col.add(["e"]))
    step("texts without encoder", lambda: col.add(["e"], ["some text"]))
    step("text query without encoder", lambda: col.search("text"))
    step("empty ids", lambda: col.add([], vectors=np.zeros((0, DIM), np.float32)))
    step("long id", lambda: col.add(["x" * 600], vectors=vecs[:1]))
    step("bad metadata key", lambda: col.add(["e"], None, [{"$bad": 1}], vecs[:1]))
    step("nested metadata", lambda: col.add(["e"], None, [{"a": {"b": 1}}], vecs[:1]))
    step("nul in metadata", lambda: col.add(["e"], None, [{"a": "x\x00y"}], vecs[:1]))
    step("huge int metadata", lambda: col.add(["e"], None, [{"a": 2**70}], vecs[:1]))
    step("unknown operator", lambda: col.search(vecs[0], where={"n": {"$regex": "x"}}))
    step("bad filter type", lambda: col.search(vecs[0], where={"n": {"$gt": [1]}}))
    step("bad and", lambda: col.search(vecs[0], where={"$and": {"n": 1}}))
    step("bad where_document", lambda: col.search(vecs[0], where_document={"$contains": 5}))
    step("k zero", lambda: col.search(vecs[0], k=0))
    step("k bool", lambda: col.search(vecs[0], k=True))
    step("bad include", lambda: col.search(vecs[0], include=["vectors"]))
    step("bad strategy", lambda: col.search(vecs[0], strategy="magic"))
    step("bad ef_search", lambda: col.search(vecs[0], ef_search=0))
    step("bad target_recall", lambda: col.search(vecs[0], target_recall=1.5))
    step("unknown kwarg", lambda: col.search(vecs[0], colour="red"))
    step("query dim", lambda: col.search(np.ones(DIM + 2, np.float32)))
    step("get bad limit", lambda: col.get(limit=-1))
    step("get bad offset", lambda: col.get(offset=-3))
    step("state unchanged", lambda: col.get(include_vectors=True))
    step("drop", lambda: db.drop_collection("errs"))
    step("use dropped", col.count)
    step("list after drop", db.list_collections)


def _text_model(db: Any, step: Callable[..., None]) -> None:
    texts = ["Attention is all you need", "Deep residual learning for image recognition",
             "Protein structure prediction with deep learning", "A survey of graph neural networks",
             "Diffusion models beat GANs on image synthesis"]
    step("create", lambda: db.create_collection("texts", "default"))
    step("vectors-only", lambda: db.create_collection("plain", None, dim=384))
    step("model mismatch", lambda: db.get_collection("plain", model="default"))
    col = db.get_collection("texts")
    step("add texts", lambda: col.add([f"t{i}" for i in range(5)], texts, [{"i": i} for i in range(5)]))
    step("search text", lambda: col.search("transformer language models", k=3))
    step("search_batch text", lambda: col.search_batch(["images", "proteins"], k=2, include=()))
    step("update text", lambda: col.update(["t4"], texts=["Folding proteins with attention"]))
    step("search after update", lambda: col.search("protein folding", k=2, include_vectors=True))
    step("empty text", lambda: col.add(["t9"], ["   "]))


def _ann(db: Any, step: Callable[..., None]) -> None:
    vecs = _vectors(600, 3)
    cfg = vecnest.IndexConfig(kind="ivf", nlist=8, nprobe=2, min_rows=200, delta_limit=10_000)
    step("create", lambda: db.create_collection("ann", None, dim=DIM, index=cfg))
    col = db.get_collection("ann")
    step("add", lambda: col.add([f"v{i}" for i in range(500)], None, [{"g": i % 10} for i in range(500)], vecs[:500]))
    # (whether optimize() built the index or a background merge did first is a race: compare
    # the outcome, an index covering every row, not who built it)
    step("optimize", lambda: (col.optimize(), sorted(col.index_bytes()), col.search(vecs[0], k=1, explain=True).plan.delta_rows)[1:])
    step("add delta", lambda: col.add([f"v{i}" for i in range(500, 600)], None, [{"g": i % 10} for i in range(500, 600)], vecs[500:]))
    q = vecs[3] + 0.05
    step("ann nprobe", lambda: col.search(q, k=10, strategy="ann", nprobe=4, explain=True, include=()))
    step("ann filtered", lambda: col.search(q, k=5, where={"g": {"$in": [1, 2]}}, strategy="ann_filtered", nprobe=8, explain=True))
    step("post filter", lambda: col.search(q, k=5, where={"g": {"$ne": 3}}, strategy="post_filter", nprobe=8, explain=True))
    step("exact forced", lambda: col.search(q, k=5, strategy="exact", explain=True))
    step("index_bytes keys", lambda: sorted(col.index_bytes()))


def test_crud_cosine(server: ServerProcess, tmp_path: Path) -> None:
    trace = _run_both(lambda db, step: _crud(db, step, "crud_cos", "cosine"), server, tmp_path)
    outcomes = {label: status for label, status, _ in trace}
    assert outcomes["add"] == "ok" and outcomes["add duplicate"] == "DuplicateIdError"
    assert len(dict(trace_item[::2] for trace_item in trace)["get all pages"]) == 120  # paged: 3 pages of 50


@pytest.mark.parametrize("metric", ["dot", "l2"])
def test_crud_other_metrics(server: ServerProcess, tmp_path: Path, metric: str) -> None:
    _run_both(lambda db, step: _crud(db, step, f"crud_{metric}", metric), server, tmp_path)


def test_errors(server: ServerProcess, tmp_path: Path) -> None:
    trace = _run_both(_errors, server, tmp_path)
    failed = {label for label, status, _ in trace if status != "ok"}
    assert {"nan vector", "dim mismatch", "unknown operator", "k zero", "use dropped", "unknown kwarg"} <= failed


def test_text_model(server: ServerProcess, tmp_path: Path) -> None:
    trace = _run_both(_text_model, server, tmp_path)
    hits = dict((label, value) for label, _, value in trace)["search after update"]
    assert {h[1] for h in hits[1]} == {"t2", "t4"}  # the two protein texts, one re-embedded


def test_ann_index(server: ServerProcess, tmp_path: Path) -> None:
    trace = _run_both(_ann, server, tmp_path)
    plan = dict((label, value) for label, _, value in trace)["ann nprobe"][2]
    assert plan["strategy"] == "ann" and plan["knob"] == {"nprobe": 4} and plan["delta_rows"] == 100
