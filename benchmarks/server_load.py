"""Load test of ``vecnest serve`` (loopback only, bounded in time), compared with the embedded
engine and with Chroma's own server (``chroma run``) on the same vectors and the same mix.

    python benchmarks/server_load.py                       # 75k arXiv titles, 16 clients, 60 s, 3 reps
    python benchmarks/server_load.py --peers chroma        # also Chroma's server, same load
    python benchmarks/server_load.py --smoke               # 3k rows, 4 clients, 4 s, 1 rep (a check)

The collection holds the precomputed all-MiniLM-L6-v2 title vectors of ``../shared/embeddings``
(passed in as vectors) with their titles and metadata, under the default model so that a share
of the queries can be text (embedded by the server). Both servers index the vectors with HNSW
and the same graph parameters (M 32, efConstruction 128): vecnest with ``index="hnsw"`` and its
calibrated default effort, Chroma with ``configuration={"hnsw": ...}`` and the smallest
``ef_search`` of the peers' grid that reaches recall@10 >= 0.95 on these queries, unfiltered and
filtered (swept untimed, a server restart per value: a running Chroma keeps the loaded value).
Both systems' recall@10 against exact search is measured (untimed) and reported.

Clients (threads, one HTTP connection each) run a mix: vector searches (half filtered by
primary category), text searches, and upserts of 8 new documents. Chroma's server does not
embed text (its client would, with a downloaded model), so the comparison runs the *peer mix*
(the same mix without text queries) on both servers; vecnest also runs the full mix. Runs are
interleaved (``--reps`` rounds, the order rotated each round); ratios are taken per round and
reported with their spread. After each run every acknowledged write is looked up, then the
run's documents are deleted. Writes ``--out/server_load.json``;
``benchmarks/reliability_report.py`` renders RELIABILITY.md.
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from _common import command_line, machine_info, write_json
from peers.systems import EF_GRID, HNSW_EF_CONSTRUCTION, HNSW_M

import vecnest
from tests.integration.server_proc import ServerProcess

SHARED = Path(os.environ.get("VECNEST_SHARED_DIR", REPO.parent / "shared"))
RECALL_TARGET = 0.95


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
    store = root / f"vecnest-hnsw-{len(ids)}"
    if (store / "vecnest.json").exists():
        return store
    with vecnest.open(store) as db:
        col = db.create_collection("arxiv", "default", indexed_fields=["primary_category"], index="hnsw")
        with col.bulk():
            for lo in range(0, len(ids), 5000):
                col.add(ids[lo : lo + 5000], titles[lo : lo + 5000], metas[lo : lo + 5000], vecs[lo : lo + 5000])
        col.optimize()
        col.wait_for_maintenance()
    return store


def ground_truth(data: tuple, cats: list[str], n_q: int) -> dict[str, Any]:
    """Exact top-10 (inner product of unit vectors) of the first ``n_q`` queries, unfiltered and
    filtered as the load filters them (query ``i`` by category ``cats[i % len(cats)]``)."""
    ids, vecs, _, metas, queries = data
    scores = queries[:n_q] @ vecs.T
    cat_of = np.asarray([m["primary_category"] for m in metas])
    unf = [{ids[j] for j in np.argsort(-row)[:10]} for row in scores]
    filt = []
    for i, row in enumerate(scores):
        row = np.where(cat_of == cats[i % len(cats)], row, -np.inf)
        top = [j for j in np.argsort(-row)[:10] if np.isfinite(row[j])]
        filt.append({ids[j] for j in top})
    return {"vector": unf, "vector_filtered": filt}


def measure_recall(search_ids: Callable[[np.ndarray, Any], list[str]], queries: np.ndarray, cats: list[str],
                   truth: dict[str, Any]) -> dict[str, float]:
    out = {}
    for kind, sets in truth.items():
        hits = total = 0
        for i, want in enumerate(sets):
            where = {"primary_category": cats[i % len(cats)]} if kind == "vector_filtered" else None
            got = set(search_ids(queries[i], where))
            hits += len(got & want)
            total += len(want)
        out[kind] = hits / max(total, 1)
    return out


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
    errors: dict[str, int] = {"server_5xx": 0, "client_4xx": 0, "unavailable": 0, "other": 0}
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
            except Exception as exc:  # noqa: BLE001 - a peer's client error: counted, the client goes on
                with lock:
                    errors["other"] += 1
                    if errors["other"] <= 3:
                        print(f"client error: {type(exc).__name__}: {exc}", file=sys.stderr)
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


class VecnestServer:
    """``vecnest serve`` on the HNSW store: search/upsert callables for the load, ids for recall."""

    def __init__(self, store: Path, threads: int) -> None:
        self.server = ServerProcess(store, ["--threads", str(threads)]).start()
        self.local = threading.local()

    def col(self) -> Any:
        if not hasattr(self.local, "col"):
            self.local.col = vecnest.Client(self.server.url).get_collection("arxiv")
        return self.local.col

    def search(self, kind: str, q: Any, where: Any) -> None:
        self.col().search(q, k=10, where=where, include=())

    def upsert(self, new_ids: list[str], v: np.ndarray) -> None:
        self.col().upsert(new_ids, [f"load test {i}" for i in new_ids], [{"primary_category": "load"}] * len(new_ids), v)

    def search_ids(self, q: np.ndarray, where: Any) -> list[str]:
        return [h.id for h in self.col().search(q, k=10, where=where, include=())]

    def count_present(self, ids: list[str]) -> int:
        return sum(len(self.col().get(ids=ids[lo : lo + 1000])) for lo in range(0, len(ids), 1000))

    def clean(self) -> None:
        self.col().delete(where={"primary_category": "load"})

    def close(self) -> None:
        self.server.__exit__(None, None, None)


class ChromaServer:
    """``chroma run --path DIR`` with the same graph parameters; ``ef_search`` set by restart."""

    def __init__(self, root: Path, data: tuple) -> None:
        import chromadb

        self.chromadb = chromadb
        self.path = root / f"chroma-hnsw{HNSW_M}-{len(data[0])}"
        self.exe = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.local = threading.local()
        self._start()
        client = chromadb.HttpClient(host="127.0.0.1", port=self.port)
        hnsw = {"space": "ip", "ef_construction": HNSW_EF_CONSTRUCTION, "max_neighbors": HNSW_M, "ef_search": 100}
        col = client.get_or_create_collection("arxiv", configuration={"hnsw": hnsw}, embedding_function=None)
        ids, vecs, titles, metas, _ = data
        if col.count() < len(ids):
            for lo in range(0, len(ids), 5000):
                col.upsert(ids=ids[lo : lo + 5000], embeddings=vecs[lo : lo + 5000], documents=titles[lo : lo + 5000],
                           metadatas=metas[lo : lo + 5000])
        self.ef = 100

    def _start(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc = subprocess.Popen([self.exe, "run", "--path", str(self.path), "--host", "127.0.0.1", "--port", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        for _ in range(600):
            try:
                self.chromadb.HttpClient(host="127.0.0.1", port=self.port).heartbeat()
                break
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.1)
        self.local = threading.local()

    def set_ef(self, ef: int) -> None:
        """Store ``ef_search`` and restart the server: a running Chroma keeps the loaded value."""
        self.col().modify(configuration={"hnsw": {"ef_search": ef}})
        self.close()
        self._start()
        self.ef = ef

    def col(self) -> Any:
        if not hasattr(self.local, "col"):
            self.local.col = self.chromadb.HttpClient(host="127.0.0.1", port=self.port).get_collection("arxiv", embedding_function=None)
        return self.local.col

    def search(self, kind: str, q: Any, where: Any) -> None:
        self.col().query(query_embeddings=[q], n_results=10, where=where, include=[])

    def upsert(self, new_ids: list[str], v: np.ndarray) -> None:
        self.col().upsert(ids=new_ids, embeddings=v, metadatas=[{"primary_category": "load"}] * len(new_ids))

    def search_ids(self, q: np.ndarray, where: Any) -> list[str]:
        return list(self.col().query(query_embeddings=[q], n_results=10, where=where, include=[])["ids"][0])

    def count_present(self, ids: list[str]) -> int:
        return len(self.col().get(ids=ids, include=[])["ids"]) if ids else 0

    def clean(self) -> None:
        self.col().delete(where={"primary_category": "load"})

    def close(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(60)
            self.proc = None


def tune_chroma(chroma: ChromaServer, queries: np.ndarray, cats: list[str], truth: dict[str, Any]) -> dict[str, Any]:
    """The smallest ``ef_search`` of the peers' grid reaching the recall target on both kinds."""
    sweep = []
    chosen = None
    for ef in [e for e in EF_GRID if e >= 16]:
        chroma.set_ef(ef)
        rec = measure_recall(chroma.search_ids, queries, cats, truth)
        sweep.append({"ef_search": ef, "recall_at_10": rec})
        if min(rec.values()) >= RECALL_TARGET:
            chosen = ef
            break
    if chosen is None:
        chosen = max(sweep, key=lambda r: min(r["recall_at_10"].values()))["ef_search"]
        chroma.set_ef(chosen)
    return {"ef_search": chosen, "sweep": sweep}


def one_run(target: Any, data: tuple, cats: list[str], args: argparse.Namespace, text_fraction: float, seed: int) -> dict[str, Any]:
    res = run_load(target.search, target.upsert, data[4], cats, data[2], args.clients, args.seconds, args.write_fraction,
                   text_fraction, seed=seed)
    acked = res.pop("acked_ids")
    res["acknowledged_writes"] = len(acked)
    res["lost_acknowledged_writes"] = len(acked) - target.count_present(acked)
    target.clean()
    return res


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": float(np.median(values)), "min": float(min(values)), "max": float(max(values)), "n": len(values)}


def compare(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per-round ratios of vecnest (peer mix) against Chroma: throughput (higher is better) and
    p99 per search kind (vecnest / Chroma, lower is better); met only if the whole spread clears 1."""
    v, c = runs["vecnest_peer_mix"], runs["chroma"]
    thr = [a["throughput_rps"] / b["throughput_rps"] for a, b in zip(v, c)]
    out: dict[str, Any] = {"throughput_ratio": _spread(thr), "throughput_met": min(thr) >= 1.0}
    for kind in ("vector", "vector_filtered"):
        p99 = [a["latency"][kind]["p99_ms"] / b["latency"][kind]["p99_ms"] for a, b in zip(v, c)]
        out[f"p99_ratio_{kind}"] = _spread(p99)
        out[f"p99_met_{kind}"] = max(p99) <= 1.0
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=75_000)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--reps", type=int, default=3, help="interleaved rounds")
    p.add_argument("--write-fraction", type=float, default=0.1)
    p.add_argument("--text-fraction", type=float, default=0.05)
    p.add_argument("--recall-queries", type=int, default=200)
    p.add_argument("--warmup", type=float, default=15.0, help="seconds of untimed load per system first")
    p.add_argument("--peers", default="", help="comma list: chroma")
    p.add_argument("--cache", default=str(REPO / "benchmarks" / ".cache" / "server-load"))
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "reliability"))
    p.add_argument("--smoke", action="store_true", help="3k rows, 4 clients, 4 s, 1 round: checks the script works")
    args = p.parse_args()
    if args.smoke:
        args.n, args.clients, args.seconds, args.reps, args.recall_queries, args.warmup = 3000, 4, 4.0, 1, 50, 2.0
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    data = load_data(args.n, 1000)
    cats = sorted({m["primary_category"] for m in data[3]})
    truth = ground_truth(data, cats, args.recall_queries)
    queries = data[4]
    store = build_store(cache, data)
    with vecnest.open(store, read_only=True) as db:
        index_info = repr(db.get_collection("arxiv").config.index)
    systems: dict[str, Any] = {"vecnest": VecnestServer(store, max(args.clients, 8))}
    result: dict[str, Any] = {
        "benchmark": "server_load",
        "command": command_line(),
        "config": {k: v for k, v in vars(args).items() if k not in ("cache", "out")} | {"rows": len(data[0])},
        "machine": machine_info() | {"cores": os.cpu_count()},
        "hnsw": {"M": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION, "vecnest_index": index_info},
        "recall_at_10": {"vecnest": measure_recall(systems["vecnest"].search_ids, queries, cats, truth)},
    }
    try:
        if "chroma" in args.peers.split(","):
            import chromadb

            systems["chroma"] = ChromaServer(cache, data)
            tuned = tune_chroma(systems["chroma"], queries, cats, truth)
            result["chroma_tuning"] = tuned
            result["recall_at_10"]["chroma"] = tuned["sweep"][-1]["recall_at_10"] if tuned["sweep"][-1]["ef_search"] == tuned["ef_search"] \
                else measure_recall(systems["chroma"].search_ids, queries, cats, truth)
            result["chroma_version"] = chromadb.__version__
        plan = [("vecnest", "vecnest_full_mix", args.text_fraction), ("vecnest", "vecnest_peer_mix", 0.0)]
        if "chroma" in systems:
            plan.append(("chroma", "chroma", 0.0))
        runs: dict[str, list[dict[str, Any]]] = {name: [] for _, name, _ in plan}
        for sysname, target in systems.items():  # warm-up, untimed: caches, lazy loads, a peer's background indexing
            one_run(target, data, cats, argparse.Namespace(**{**vars(args), "seconds": args.warmup}), 0.0, seed=99)
        for rep in range(args.reps):
            order = plan[rep % len(plan):] + plan[: rep % len(plan)]
            for sysname, name, tf in order:
                print(f"round {rep + 1}/{args.reps}: {name}", flush=True)
                runs[name].append(one_run(systems[sysname], data, cats, args, tf, seed=rep))
        result["runs"] = runs
        if "chroma" in systems:
            result["comparison"] = compare(runs)
    finally:
        for target in systems.values():
            target.close()
    with vecnest.open(store, read_only=True) as db:  # the same mix of searches, in-process, no writes
        col = db.get_collection("arxiv")
        emb = run_load(lambda kind, q, where: col.search(q, k=10, where=where, include=()), lambda *a: None, queries, cats,
                       data[2], args.clients, args.seconds, 0.0, args.text_fraction)
        emb.pop("acked_ids")
    result["embedded"] = emb
    full = runs["vecnest_full_mix"]
    med = lambda kind: float(np.median([r["latency"][kind]["p50_ms"] for r in full if r["latency"].get(kind)]))
    result["server_overhead_ms_p50"] = {k: med(k) - emb["latency"][k]["p50_ms"] for k in ("vector", "vector_filtered")
                                        if emb["latency"].get(k)}
    result["lost_acknowledged_writes"] = sum(r["lost_acknowledged_writes"] for rs in runs.values() for r in rs)
    result["server_5xx"] = sum(r["errors"]["server_5xx"] for rs in runs.values() for r in rs)
    result["elapsed_s"] = time.perf_counter() - started
    out = Path(args.out) / "server_load.json"
    write_json(out, result)
    v = full[-1]
    print(f"vecnest serve: {v['throughput_rps']:.0f} req/s, p99 {v['all'].get('p99_ms', 0):.1f} ms, "
          f"5xx {result['server_5xx']}, lost acknowledged writes {result['lost_acknowledged_writes']}")
    if "comparison" in result:
        c = result["comparison"]
        print(f"vs Chroma (peer mix): throughput {c['throughput_ratio']}, p99 {c['p99_ratio_vector']} / {c['p99_ratio_vector_filtered']}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
