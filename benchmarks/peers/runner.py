"""Parent side: worker processes, exact ground truth and per-query metrics.

The query schedule (effort sweep, interleaved timed repetitions) is in :mod:`peers.schedule`.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent.parent
K = 10


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
                # LanceDB logs a deprecation warning per query at the default level: that I/O
                # would land inside its timed queries
                "LANCE_LOG": "error",
                "OMP_WAIT_POLICY": "PASSIVE",
                "TOKENIZERS_PARALLELISM": "false",
                "ANONYMIZED_TELEMETRY": "False",
                "HF_HUB_OFFLINE": "1",
            }
        )
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("ab")
        # its own process group: a library's helper processes (Milvus Lite's server) go with it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "peers.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            cwd=str(BENCH_DIR),
            env=env,
            start_new_session=True,
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
        """Stop the worker and whatever it started (its process group, whose id is its pid)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
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
