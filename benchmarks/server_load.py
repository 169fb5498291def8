"""Load test of ``vecnest serve`` (loopback only, bounded in time), compared with the embedded
engine and with Chroma's own server (``chroma run``) on the same vectors and the same mix.

    python benchmarks/server_load.py                       # 75k arXiv titles, 16 clients, 60 s
    python benchmarks/server_load.py --peers chroma        # also Chroma's server, same load
    python benchmarks/server_load.py --smoke               # 3k rows, 4 clients, 4 s (a check)

The collection holds the precomputed all-MiniLM-L6-v2 title vectors of ``../shared/embeddings``
(passed in as vectors) with their titles and metadata, under the default model so that a share
of the queries can be text (embedded by the server). Clients (threads, one HTTP connection each)
run a mix: vector searches (half filtered by primary category), text searches, and upserts of
new documents. Afterwards every acknowledged write is looked up. Writes JSON to
``--out/server_load.json``; ``benchmarks/reliability_report.py`` renders RELIABILITY.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import vecnest  # noqa: E402
from tests.integration.server_proc import ServerProcess  # noqa: E402

SHARED = Path(os.environ.get("VECNEST_SHARED_DIR", REPO.parent / "shared"))


def load_data(n: int, n_queries: int) -> tuple[list[str], np.ndarray, list[str], list[dict[str, Any]], np.ndarray]:
    """First ``n`` arXiv title vectors with titles and metadata, and ``n_queries`` held-out ones."""
    emb = SHARED / "embeddings"
    ids = json.loads((emb / "arxiv-daily-cs.titles.ids.json").read_text())
    vecs = np.load(emb / "arxiv-daily-cs.titles.f16.npy", mmap_mode="r")
    n = min(n, len(ids) - n_queries)
    want = set(ids[:n])
    rows: dict[str, tuple[str, dict[str, Any]]] = {}
    with open(SHARED / "datasets/arxiv-daily-cs/corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if row["_id"] in want:
                rows[row["_id"]] = (row["title"].strip(), {"primary_category": row["primary_category"], "year": row["year"]})
    titles = [rows[i][0] for i in ids[:n]]
    metas = [rows[i][1] for i in ids[:n]]
    return ids[:n], np.asarray(vecs[:n], dtype=np.float32), titles, metas, np.asarray(vecs[n : n + n_queries], dtype=np.float32)


def build_store(root: Path, data: tuple) -> Path:
    ids, vecs, titles, metas, _ = data
    store = root / f"vecnest-{len(ids)}"
    if (store / "vecnest.json").exists():
        return store
    with vecnest.open(store) as db:
        col = db.create_collection("arxiv", "default", indexed_fields=["primary_category"])
        with col.bulk():
            for lo in range(0, len(ids), 5000):
                col.add(ids[lo : lo + 5000], titles[lo : lo + 5000], metas[lo : lo + 5000], vecs[lo : lo + 5000])
    return store


def _pct(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    arr = np.asarray(values) * 1000
    return {"n": len(values), "p50_ms": float(np.percentile(arr, 50)), "p95_ms": float(np.percentile(arr, 95)),
            "p99_ms": float(np.percentile(arr, 99))}


def run_load(search: Any, upsert: Any, queries: np.ndarray, cats: list[str], texts: list[str], clients: int,
             seconds: float, write_fraction: float, text_fraction: float, seed: int = 0) -> dict[str, Any]:
    """``clients`` threads calling ``search(kind, query, where)`` / ``upsert(ids, vectors)`` in a
    mix for ``seconds``; latencies per kind, errors, acknowledged write ids."""
    lat: dict[str, list[float]] = {"vector": [], "vector_filtered": [], "text": [], "write": []}
    errors: dict[str, int] = {"server_5xx": 0, "client_4xx": 0, "unavailable": 0}
    acked: list[str] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def worker(t: int) -> None:
        rng = np.random.default_rng(seed * 100 + t)
        j = 0
        while time.perf_counter() < deadline:
            r = rng.random()
            qi = int(rng.integers(len(queries)))
            t0 = time.perf_counter()
            try:
                if r < write_fraction:
                    kind = "write"
                    ids = [f"load-{t}-{j}-{i}" for i in range(8)]
                    upsert(ids, queries[rng.integers(len(queries), size=8)])
                    with lock:
                        acked.extend(ids)
                elif r < write_fraction + text_fraction:
                    kind = "text"
                    search("text", texts[qi % len(texts)], None)
                elif rng.random() < 0.5:
                    kind = "vector_filtered"
                    search("vector", queries[qi], {"primary_category": cats[qi % len(cats)]})
                else:
                    kind = "vector"
                    search("vector", queries[qi], None)
            except vecnest.ServerUnavailableError:
                with lock:
                    errors["unavailable"] += 1
                continue
            except vecnest.VecnestError as exc:
                with lock:
                    errors["server_5xx" if exc.http_status >= 500 else "client_4xx"] += 1
                continue
            dt = time.perf_counter() - t0
            with lock:
                lat[kind].append(dt)
            j += 1

    start = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(t,)) for t in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - start
    total = sum(len(v) for v in lat.values())
    return {"seconds": wall, "requests": total, "throughput_rps": total / wall,
            "search_qps": sum(len(lat[k]) for k in ("vector", "vector_filtered", "text")) / wall,
            "latency": {k: _pct(v) for k, v in lat.items()}, "all": _pct([x for v in lat.values() for x in v]),
            "errors": errors, "acked_ids": acked}


def bench_vecnest(store: Path, data: tuple, args: argparse.Namespace) -> dict[str, Any]:
    ids, vecs, titles, metas, queries = data
    cats = sorted({m["primary_category"] for m in metas})
    out: dict[str, Any] = {}
    with ServerProcess(store, ["--threads", str(max(args.clients, 8))]) as server:
        local = threading.local()

        def col() -> Any:
            if not hasattr(local, "col"):
                local.col = vecnest.Client(server.url).get_collection("arxiv")
            return local.col

        def search(kind: str, q: Any, where: Any) -> None:
            col().search(q, k=10, where=where, include=())

        def upsert(new_ids: list[str], v: np.ndarray) -> None:
            col().upsert(new_ids, [f"load test {i}" for i in new_ids], [{"primary_category": "load"}] * len(new_ids), v)

        res = run_load(search, upsert, queries, cats, titles, args.clients, args.seconds, args.write_fraction, args.text_fraction)
        acked = res.pop("acked_ids")
        check = vecnest.Client(server.url).get_collection("arxiv")
        found = sum(len(check.get(ids=acked[lo : lo + 1000])) for lo in range(0, len(acked), 1000))
        res["acknowledged_writes"] = len(acked)
        res["lost_acknowledged_writes"] = len(acked) - found
        check.delete(where={"primary_category": "load"})
        out["server"] = res
    with vecnest.open(store, read_only=True) as db:  # the same mix of searches, in-process, no writes
        col = db.get_collection("arxiv")

        def search_local(kind: str, q: Any, where: Any) -> None:
            col.search(q, k=10, where=where, include=())

        res = run_load(search_local, lambda *a: None, queries, cats, titles, args.clients, args.seconds, 0.0, args.text_fraction)
        res.pop("acked_ids")
        out["embedded"] = res
    s, e = out["server"]["latency"], out["embedded"]["latency"]
    out["server_overhead_ms_p50"] = {k: s[k]["p50_ms"] - e[k]["p50_ms"] for k in ("vector", "vector_filtered") if s.get(k) and e.get(k)}
    return out


def bench_chroma(root: Path, data: tuple, args: argparse.Namespace) -> dict[str, Any]:
    import chromadb

    ids, vecs, titles, metas, queries = data
    cats = sorted({m["primary_category"] for m in metas})
    path = root / f"chroma-{len(ids)}"
    exe = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([exe, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        for _ in range(300):
            try:
                chromadb.HttpClient(host="127.0.0.1", port=port).heartbeat()
                break
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.2)
        client = chromadb.HttpClient(host="127.0.0.1", port=port)
        col = client.get_or_create_collection("arxiv", metadata={"hnsw:space": "cosine"}, embedding_function=None)
        if col.count() < len(ids):
            for lo in range(0, len(ids), 5000):
                col.upsert(ids=ids[lo : lo + 5000], embeddings=vecs[lo : lo + 5000], documents=titles[lo : lo + 5000],
                           metadatas=metas[lo : lo + 5000])
        local = threading.local()

        def handle() -> Any:
            if not hasattr(local, "col"):
                local.col = chromadb.HttpClient(host="127.0.0.1", port=port).get_collection("arxiv", embedding_function=None)
            return local.col

        def search(kind: str, q: Any, where: Any) -> None:
            if kind == "text":  # Chroma would embed text client-side with a downloaded model: vectors only
                return
            handle().query(query_embeddings=[q], n_results=10, where=where, include=[])

        def upsert(new_ids: list[str], v: np.ndarray) -> None:
            handle().upsert(ids=new_ids, embeddings=v, metadatas=[{"primary_category": "load"}] * len(new_ids))

        res = run_load(search, upsert, queries, cats, titles, args.clients, args.seconds, args.write_fraction, 0.0)
        acked = res.pop("acked_ids")
        got = handle().get(ids=acked, include=[])["ids"] if acked else []
        res["acknowledged_writes"] = len(acked)
        res["lost_acknowledged_writes"] = len(acked) - len(got)
        handle().delete(where={"primary_category": "load"})
        return {"server": res, "version": chromadb.__version__}
    finally:
        proc.terminate()
        proc.wait(60)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=75_000)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--write-fraction", type=float, default=0.1)
    p.add_argument("--text-fraction", type=float, default=0.05)
    p.add_argument("--peers", default="", help="comma list: chroma")
    p.add_argument("--cache", default=str(REPO / "benchmarks" / ".cache" / "server-load"))
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "reliability"))
    p.add_argument("--smoke", action="store_true", help="3k rows, 4 clients, 4 s: checks the script works")
    args = p.parse_args()
    if args.smoke:
        args.n, args.clients, args.seconds = 3000, 4, 4.0
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    data = load_data(args.n, 1000)
    store = build_store(cache, data)
    result: dict[str, Any] = {
        "config": {k: v for k, v in vars(args).items() if k not in ("cache", "out")} | {"rows": len(data[0])},
        "machine": {"cores": os.cpu_count(), "date": time.strftime("%Y-%m-%dT%H:%M:%S"), "vecnest": vecnest.__version__},
        "vecnest": bench_vecnest(store, data, args),
    }
    if "chroma" in args.peers.split(","):
        result["chroma"] = bench_chroma(cache, data, args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "server_load.json").write_text(json.dumps(result, indent=2) + "\n")
    v = result["vecnest"]["server"]
    print(f"vecnest serve: {v['throughput_rps']:.0f} req/s, p99 {v['all'].get('p99_ms', 0):.1f} ms, "
          f"5xx {v['errors']['server_5xx']}, lost acknowledged writes {v['lost_acknowledged_writes']}")
    print(f"wrote {out / 'server_load.json'}")


if __name__ == "__main__":
    main()
