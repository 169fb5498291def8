"""The query schedule of one workload: an effort sweep, then interleaved timed repetitions.

1. **Sweep** (recall per effort, one pass): every system runs its efforts in increasing order,
   interleaved step by step across systems (step 1 of A, B, C, then step 2 of A, B, C, ...), and
   stops once an effort reaches the highest recall target — higher efforts only cost more — or
   once it has spent ``system_s`` seconds of query time on this workload's sweep (very slow
   systems; recorded). Each (system, effort) answers the workload's queries until its sweep budget
   of summed latency is spent (at least ``min_queries``, unless ``max_s`` is spent first). The
   sweep fixes, per system, the cheapest effort reaching each recall target
   (:func:`_stats.pick_effort`); its latencies are only used for the curve.
2. **Timed repetitions**: those efforts (and vecnest's default) run ``reps`` times, interleaved
   system by system — rep 1: A, B, C; rep 2: B, C, A; rep 3: C, A, B — each over the same
   queries in the same order (a slow system stops at its budget, at least ``min_queries``).
   Per-query latencies of every repetition are kept; ratios are computed from them
   (:mod:`peers.analysis`).

Before its first timed query of a workload, each (system, effort) answers one untimed warm-up
query (first-use work — loading an index, a filter column — is reported as ``first_ms``); an
engine's default (``{}``: vecnest's, whose filters learn their effort from their own first
64 + 128 distinct queries) answers the whole workload once, untimed, so that its repetitions time
the effort an application repeating that filter settles on, not a mix of the learning's steps
(the pass's summed time, learning included, is reported as ``settle_s``; the learning itself is
studied by ``benchmarks/effort_learning.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from _stats import latency_summary, pick_effort

from peers.runner import K, Worker, WorkerError, recall_at_k

Advance = Callable[[int], None]
OnError = Callable[[str, str], None]


def knob_label(knob: dict[str, Any]) -> str:
    """``"efSearch=64"``; ``"default"`` for ``{}``."""
    return ", ".join(f"{k}={v}" for k, v in knob.items()) or "default"


def _request(worker: Worker, cmd: dict[str, Any], timeout: float, on_error: OnError) -> dict[str, Any] | None:
    try:
        resp = worker.request(cmd, timeout=timeout)
    except WorkerError as exc:
        on_error(worker.name, str(exc))
        return None
    if not resp.get("ok"):
        on_error(worker.name, str(resp.get("error")))
        return None
    return resp


def _recall(ids: list[list[int]], queries: list[int], truth: list[list[int]]) -> tuple[float | None, int]:
    vals = [recall_at_k(f, truth[i]) for f, i in zip(ids, queries, strict=True)]
    vals = [v for v in vals if v is not None]
    short = sum(1 for f, i in zip(ids, queries, strict=True) if len(f) < min(K, len(truth[i])))
    return (float(np.mean(vals)) if vals else None), short


# ---------------------------------------------------------------------------------------------
# 1. sweep
# ---------------------------------------------------------------------------------------------


def sweep(
    workers: dict[str, Worker],
    knobs: dict[str, list[dict[str, Any]]],
    query_idx: list[int],
    truth: list[list[int]],
    *,
    workload: str | None,
    pred: Any,
    stop_at: float,
    budget_s: float,
    min_queries: int,
    max_s: float,
    system_s: float,
    timeout_s: float,
    advance: Advance,
    on_error: OnError,
) -> dict[str, list[dict[str, Any]]]:
    """Recall of every effort, cheapest first, stopping per system at ``stop_at``. Returns per
    system its rows ``{"knob", "label", "recall", "n_queries", "short_results", "p50_ms", "qps"}``
    in sweep order (``error`` instead of numbers where the system failed)."""
    out: dict[str, list[dict[str, Any]]] = {s: [] for s in knobs}
    done = {s: False for s in knobs}
    spent = dict.fromkeys(knobs, 0.0)
    steps = max((len(v) for v in knobs.values()), default=0)
    systems = list(knobs)
    for step in range(steps):
        shift = step % max(1, len(systems))
        for s in systems[shift:] + systems[:shift]:
            if done[s] or step >= len(knobs[s]):
                continue
            knob = knobs[s][step]
            if spent[s] >= system_s:
                out[s].append({"knob": knob, "label": knob_label(knob), "skipped": f"sweep stopped: {spent[s]:.0f} s of query time spent on this workload (limit {system_s:.0f} s)"})
                done[s] = True
                continue
            cmd = {"op": "search", "knob": knob, "workload": workload, "pred": pred, "queries": query_idx, "k": K, "budget_s": budget_s, "min_queries": min_queries, "max_s": max_s}
            resp = _request(workers[s], cmd, timeout_s, on_error)
            advance(1)
            row: dict[str, Any] = {"knob": knob, "label": knob_label(knob)}
            if resp is None:
                row["error"] = "failed (see the log)"
                out[s].append(row)
                done[s] = True
                continue
            spent[s] += float(sum(resp["lat"]))
            recall, short = _recall(resp["ids"], resp["queries"], truth)
            row.update({"recall": recall, "n_queries": len(resp["queries"]), "short_results": short, **_brief(resp["lat"])})
            out[s].append(row)
            if knob and recall is not None and recall >= stop_at:
                done[s] = True  # higher efforts only cost more
    advance(sum(len(v) for v in knobs.values()) - sum(1 for rows in out.values() for r in rows if "skipped" not in r))  # the efforts not run
    return out


def _brief(lat: list[float]) -> dict[str, Any]:
    s = latency_summary(lat)
    return {"p50_ms": s.get("p50_ms"), "qps": s.get("qps")}


def efforts_to_time(rows: list[dict[str, Any]], targets: tuple[float, ...]) -> dict[str, dict[str, Any]]:
    """Which efforts of one system's sweep to time: ``{"default": knob}`` when the sweep starts
    with the engine default ``{}`` (vecnest), and per target ``"R>=0.95": knob`` — the cheapest
    effort reaching it — or, when none does, ``"best recall": knob`` (the sweep's most accurate
    setting, so the system still appears with the recall it can reach)."""
    out: dict[str, dict[str, Any]] = {}
    rows = [r for r in rows if "skipped" not in r]
    swept = [r for r in rows if r["knob"]]
    if rows and not rows[0]["knob"] and "error" not in rows[0]:
        out["default"] = rows[0]["knob"]
    if not swept:  # a system without a knob: its one setting
        if rows and "error" not in rows[0]:
            out.setdefault("default", rows[0]["knob"])
        return out
    recalls = [r.get("recall") for r in swept]
    for t in targets:
        i = pick_effort(recalls, t)
        if i is not None:
            out[f"R>={t:.2f}"] = swept[i]["knob"]
    if not any(k.startswith("R>=") for k in out):
        ok = [r for r in swept if r.get("recall") is not None]
        if ok:
            out["best recall"] = max(ok, key=lambda r: r["recall"])["knob"]
    return out


# ---------------------------------------------------------------------------------------------
# 2. timed repetitions
# ---------------------------------------------------------------------------------------------


def timed(
    workers: dict[str, Worker],
    tasks: list[tuple[str, dict[str, Any]]],
    query_idx: list[int],
    *,
    workload: str | None,
    pred: Any,
    reps: int,
    budget_s: float,
    min_queries: int,
    max_s: float,
    timeout_s: float,
    advance: Advance,
    on_error: OnError,
) -> list[dict[str, Any]]:
    """Interleaved repetitions of every (system, knob) task. Returns per task ``{"lat": (reps,
    n_queries) float64 seconds with nan where not answered, "ids": per query (first answer),
    "first_ms", "error"}``; column ``j`` is ``query_idx[j]`` for every task (pairing)."""
    pos = {q: j for j, q in enumerate(query_idx)}
    state = [{"lat": np.full((reps, len(query_idx)), np.nan), "ids": {}, "first_ms": None, "settle_s": None, "error": None} for _ in tasks]
    for t, (s, knob) in enumerate(tasks):  # untimed warm-up, reported as the first-query time
        warm = query_idx if not knob else query_idx[:1]  # (the default: the whole workload, see above)
        resp = _request(workers[s], {"op": "search", "knob": knob, "workload": workload, "pred": pred, "queries": warm, "k": K}, timeout_s, on_error)
        if resp is None:
            state[t]["error"] = "failed in the warm-up query (see the log)"
        else:
            state[t]["first_ms"] = float(resp["lat"][0]) * 1e3
            if not knob:
                state[t]["settle_s"] = float(sum(resp["lat"]))
    for r in range(reps):
        shift = r % max(1, len(tasks))
        for t in list(range(len(tasks)))[shift:] + list(range(len(tasks)))[:shift]:
            st = state[t]
            if st["error"]:
                advance(1)
                continue
            s, knob = tasks[t]
            cmd = {"op": "search", "knob": knob, "workload": workload, "pred": pred, "queries": query_idx, "k": K, "budget_s": budget_s, "min_queries": min_queries, "max_s": max_s}
            resp = _request(workers[s], cmd, timeout_s, on_error)
            advance(1)
            if resp is None:
                st["error"] = f"failed in repetition {r + 1} (see the log)"
                continue
            for q, dt, ids in zip(resp["queries"], resp["lat"], resp["ids"], strict=True):
                st["lat"][r, pos[q]] = dt
                st["ids"].setdefault(q, ids)
    return state


def task_row(system: str, knob: dict[str, Any], role: str, st: dict[str, Any], query_idx: list[int], truth: list[list[int]]) -> dict[str, Any]:
    """The published numbers of one timed task (its raw latencies stay in ``st``)."""
    row: dict[str, Any] = {"system": system, "knob": knob, "label": knob_label(knob), "role": role, "first_ms": st["first_ms"]}
    if st.get("settle_s") is not None:
        row["settle_s"] = st["settle_s"]
    if st["error"]:
        row["error"] = st["error"]
    answered = [q for q in query_idx if q in st["ids"]]
    if not answered:
        return row
    recall, short = _recall([st["ids"][q] for q in answered], answered, truth)
    lat = st["lat"]
    per_query = np.nanmedian(lat[:, np.isfinite(lat).any(axis=0)], axis=0)  # each query: median over reps
    row.update(
        {
            "recall": recall,
            "n_queries": len(answered),
            "short_results": short,
            "reps": [latency_summary(rep[np.isfinite(rep)]) for rep in lat],
            "pooled": latency_summary(per_query),
        }
    )
    return row
