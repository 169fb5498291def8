"""Parent side: workers, ground truth, the interleaved query schedule, and the numbers.

Interleaving: a workload's queries are cut into chunks; for every chunk, each (system, knob) task
runs it in turn, the starting task rotating from chunk to chunk, one query at a time, so load from
other processes on the machine falls on every system alike. Each task has a time budget per
workload (summed query latency); a slow system stops early and its figures cover the queries it
ran (their number is reported).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent.parent
K = 10
RECALL_TARGET = 0.95


# ---------------------------------------------------------------------------------------------
# workers
# ---------------------------------------------------------------------------------------------


class WorkerError(RuntimeError):
    pass


class Worker:
    """One subprocess hosting one system."""

    def __init__(self, name: str, log_dir: Path, build_threads: int) -> None:
        self.name = name
        env = dict(os.environ)
        env["PYTHONPATH"] = str(BENCH_DIR) + os.pathsep + env.get("PYTHONPATH", "")
        # one thread per query everywhere; builds get build_threads through OpenMP (FAISS, and
        # what uses FAISS inside) or the library's own thread argument (hnswlib, usearch).
        env.update(
            {
                "OMP_NUM_THREADS": str(build_threads),
                "OPENBLAS_NUM_THREADS": "1",
                "MKL_NUM_THREADS": "1",
                "RAYON_NUM_THREADS": "1",
                "LANCE_CPU_THREADS": "1",
                "OMP_WAIT_POLICY": "PASSIVE",
                "TOKENIZERS_PARALLELISM": "false",
                "ANONYMIZED_TELEMETRY": "False",
                "HF_HUB_OFFLINE": "1",
            }
        )
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "peers.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            cwd=str(BENCH_DIR),
            env=env,
        )

    def request(self, cmd: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError as exc:
            raise WorkerError(f"{self.name} worker died (see {self.log_path})") from exc
        if timeout is not None:
            ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
            if not ready:
                self.kill()
                raise WorkerError(f"{self.name}: no answer within {timeout:.0f} s; worker stopped")
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            raise WorkerError(f"{self.name} worker exited with code {code} (see {self.log_path}): {self.tail()}")
        return json.loads(line)

    def tail(self, n: int = 3) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(lines[-n:])

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.request({"op": "quit"}, timeout=60)
            except (WorkerError, OSError, ValueError):
                pass
        self.kill()
        self._log.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# ---------------------------------------------------------------------------------------------
# ground truth and metrics
# ---------------------------------------------------------------------------------------------


def ground_truth(base: np.ndarray, queries: np.ndarray, mask: np.ndarray | None, k: int = K, block: int = 64) -> list[list[int]]:
    """Exact top-``k`` row numbers per query among rows where ``mask`` holds (numpy, float32)."""
    out: list[list[int]] = []
    if mask is not None:
        rows = np.flatnonzero(mask)
        sub = base[rows]
    else:
        rows, sub = None, base
    for s in range(0, len(queries), block):
        scores = queries[s : s + block] @ sub.T
        kk = min(k, scores.shape[1])
        if kk == 0:
            out += [[] for _ in range(len(scores))]
            continue
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
        ps = np.take_along_axis(scores, part, axis=1)
        order = np.argsort(-ps, axis=1, kind="stable")
        top = np.take_along_axis(part, order, axis=1)
        if rows is not None:
            top = rows[top]
        out += top.tolist()
    return out


def recall_at_k(found: list[int], truth: list[int], k: int = K) -> float | None:
    """|found ∩ truth| / |truth| over the first ``k`` (``None`` when nothing matches)."""
    if not truth:
        return None
    return len(set(found[:k]) & set(truth[:k])) / len(truth[:k])


def summarize(lat: list[float], ids: list[list[int]], truth: list[list[int]], query_idx: list[int]) -> dict[str, Any]:
    """Recall@10, QPS and latency percentiles of one task."""
    lat_a = np.asarray(lat, dtype=np.float64)
    recalls = [recall_at_k(f, truth[i]) for f, i in zip(ids, query_idx, strict=True)]
    recalls = [r for r in recalls if r is not None]
    return {
        "n_queries": int(len(lat_a)),
        "recall": float(np.mean(recalls)) if recalls else None,
        "qps": float(len(lat_a) / lat_a.sum()) if lat_a.sum() > 0 else None,
        "p50_ms": float(np.percentile(lat_a, 50) * 1e3),
        "p95_ms": float(np.percentile(lat_a, 95) * 1e3),
        "mean_ms": float(lat_a.mean() * 1e3),
        "short_results": int(sum(1 for f, i in zip(ids, query_idx, strict=True) if len(f) < min(K, len(truth[i])))),
    }


def ndcg_at_10(ids: list[list[int]], query_idx: list[int], doc_ids: list[str], query_ids: list[str], qrels_path: Path) -> float | None:
    """nDCG@10 with ranx (scores = 10 − rank, so only the order counts)."""
    from ranx import Qrels, Run, evaluate

    from _common import read_qrels

    qrels = read_qrels(qrels_path)
    run: dict[str, dict[str, float]] = {}
    for found, qi in zip(ids, query_idx, strict=True):
        qid = query_ids[qi]
        if qid in qrels:
            run[qid] = {doc_ids[d]: float(K - r) for r, d in enumerate(found[:K])} or {"__none__": 0.0}
    if not run:
        return None
    qr = Qrels({q: qrels[q] for q in run})
    return float(evaluate(qr, Run(run), "ndcg@10"))


# ---------------------------------------------------------------------------------------------
# the interleaved schedule
# ---------------------------------------------------------------------------------------------


def run_interleaved(
    workers: dict[str, Worker],
    tasks: list[tuple[str, dict[str, Any]]],
    query_idx: list[int],
    *,
    workload: str | None,
    pred: Any,
    chunk: int,
    budget_s: float,
    min_queries: int,
    advance: Callable[[int], None],
    on_error: Callable[[str, str], None],
) -> dict[int, dict[str, Any]]:
    """Run every task over the queries, interleaved chunk by chunk. Returns per task index the
    latencies and result ids (and an error, if its worker failed)."""
    state = {t: {"lat": [], "ids": [], "q": [], "spent": 0.0, "error": None, "first_ms": None} for t in range(len(tasks))}
    # one untimed warm-up query per task: first-use work (a system loading an index, a filter
    # column or a segment lazily) is reported as first_ms instead of being spread over the
    # timed queries, for every system alike
    for t, (name, knob) in enumerate(tasks):
        try:
            resp = workers[name].request({"op": "search", "knob": knob, "workload": workload, "pred": pred, "queries": query_idx[:1], "k": K}, timeout=max(600.0, budget_s * 4))
        except WorkerError as exc:
            state[t]["error"] = str(exc)
            on_error(name, str(exc))
            continue
        if resp.get("ok"):
            state[t]["first_ms"] = float(resp["lat"][0]) * 1e3
    chunks = [query_idx[s : s + chunk] for s in range(0, len(query_idx), chunk)]
    for ci, qs in enumerate(chunks):
        order = list(range(len(tasks)))
        shift = ci % max(1, len(order))
        order = order[shift:] + order[:shift]
        for t in order:
            st = state[t]
            name, knob = tasks[t]
            if st["error"] or (st["spent"] >= budget_s and len(st["q"]) >= min_queries):
                advance(len(qs))
                continue
            try:
                resp = workers[name].request({"op": "search", "knob": knob, "workload": workload, "pred": pred, "queries": qs, "k": K}, timeout=max(600.0, budget_s * 4))
            except WorkerError as exc:
                st["error"] = str(exc)
                on_error(name, str(exc))
                advance(len(qs))
                continue
            if not resp.get("ok"):
                st["error"] = resp.get("error", "unknown error")
                on_error(name, st["error"])
            else:
                st["lat"] += resp["lat"]
                st["ids"] += resp["ids"]
                st["q"] += qs
                st["spent"] += float(sum(resp["lat"]))
            advance(len(qs))
    return state


def operating_knob(rows: list[dict[str, Any]], system: str) -> dict[str, Any]:
    """The knob a filtered workload uses: the first of the system's sweep (its order is the
    library's default first for vecnest, else increasing effort) whose unfiltered recall@10 is at
    least ``RECALL_TARGET``; else the one with the best recall."""
    mine = [r for r in rows if r["system"] == system and r.get("recall") is not None]
    if not mine:
        return {}
    for r in mine:
        if r["recall"] >= RECALL_TARGET:
            return r["knob"]
    return max(mine, key=lambda r: r["recall"])["knob"]


def knob_label(knob: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in knob.items()) or "default"


def now() -> float:
    return time.perf_counter()
