"""Ratios, spreads and verdicts of one scale point, from its timed rows and raw latencies.

"Peer" = any system whose family is not vecnest. For every workload and recall target T
(0.95, 0.99):

* a system's **operating setting** is the fastest of its timed settings (pooled median latency)
  whose recall@10 ≥ T on that workload — each peer gets the effort that suits that workload;
* the **reference** is the fastest peer operating setting;
* every operating setting, and **vecnest by default** (its calibrated effort, the ``default``
  row, whatever its recall), gets a **speed ratio** to the reference = median per-query latency of
  the reference / its own (> 1: faster than the best peer), with the spread of
  :func:`_stats.ratio_of_medians` (per-repetition min..max widened to a bootstrap interval);
* the issue's targets — vecnest by default reaches recall ≥ 0.95 and is at least as fast as the
  reference — get a verdict: met only when the whole spread clears the target.

Build / memory / disk: each vecnest variant against the peers of the same structure
(:data:`COUNTERPARTS`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from _stats import Spread, Verdict, ratio_of_medians, verdict, verdict_exact

TARGETS = (0.95, 0.99)
SPEED_GOAL = 1.0  #: vecnest by default ≥ 1.0× the reference's speed
RECALL_GOAL = 0.95

Lat = dict[tuple[str, str], np.ndarray]


def _is_peer(system: str, families: dict[str, str]) -> bool:
    return families.get(system, system) != "vecnest"


def _p50(row: dict[str, Any]) -> float:
    return float((row.get("pooled") or {}).get("p50_ms") or np.inf)


def operating(rows: list[dict[str, Any]], target: float) -> dict[str, dict[str, Any]]:
    """Per system, the fastest of its rows reaching ``target`` (systems that never do: absent)."""
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r.get("recall") is None or r["recall"] < target or not r.get("pooled"):
            continue
        cur = out.get(r["system"])
        if cur is None or _p50(r) < _p50(cur):
            out[r["system"]] = r
    return out


def _speed(ref: dict[str, Any] | None, row: dict[str, Any], lat: Lat) -> Spread | None:
    if ref is None:
        return None
    a, b = lat.get((ref["system"], ref["label"])), lat.get((row["system"], row["label"]))
    if a is None or b is None:
        return None
    return ratio_of_medians(a, b)


def workload_table(rows: list[dict[str, Any]], lat: Lat, families: dict[str, str]) -> dict[str, Any]:
    """Operating settings, reference and ratios of one workload, per recall target."""
    out: dict[str, Any] = {"targets": {}, "vecnest_default": []}
    best_recall = {s: max((r["recall"] for r in rows if r["system"] == s and r.get("recall") is not None), default=None) for s in dict.fromkeys(r["system"] for r in rows)}
    for t in TARGETS:
        ops = operating(rows, t)
        peers = [r for s, r in ops.items() if _is_peer(s, families)]
        ref = min(peers, key=_p50) if peers else None
        table = []
        for s in best_recall:
            r = ops.get(s)
            if r is None:
                table.append({"system": s, "reaches": False, "max_recall": best_recall[s]})
                continue
            sp = _speed(ref, r, lat)
            table.append({"system": s, "reaches": True, "label": r["label"], "recall": r["recall"], "p50_ms": _p50(r), "qps": r["pooled"].get("qps"), "n_queries": r.get("n_queries"), "speed_vs_ref": sp.to_json() if sp else None})
        out["targets"][f"{t:.2f}"] = {"reference": {"system": ref["system"], "label": ref["label"], "p50_ms": _p50(ref)} if ref else None, "rows": table}
    ops95 = operating(rows, RECALL_GOAL)
    peers95 = [r for s, r in ops95.items() if _is_peer(s, families)]
    ref95 = min(peers95, key=_p50) if peers95 else None
    for r in rows:
        if r.get("role") != "default" or _is_peer(r["system"], families) or not r.get("pooled"):
            continue
        sp = _speed(ref95, r, lat)
        out["vecnest_default"].append(
            {
                "system": r["system"],
                "recall": r.get("recall"),
                "p50_ms": _p50(r),
                "recall_verdict": verdict_exact(r.get("recall"), RECALL_GOAL, higher_is_better=True).value,
                "reference": ref95["system"] if ref95 else None,
                "reference_label": ref95["label"] if ref95 else None,
                "speed_vs_ref": sp.to_json() if sp else None,
                "speed_verdict": verdict(sp, SPEED_GOAL, higher_is_better=True).value if ref95 else Verdict.NO_DATA.value,
            }
        )
    return out


#: vecnest variant → the peers built with the same structure and parameters (issue target at 1M:
#: vecnest-hnsw's build time and memory ≤ FAISS HNSW's).
COUNTERPARTS = {
    "vecnest": ("faiss-flat",),
    "vecnest-hnsw": ("faiss-hnsw-fp16", "faiss-hnsw", "hnswlib"),
    "vecnest-ivf_pq": ("faiss-ivfpq",),
}
RESOURCE_KEYS = ("build_s", "pss", "uss", "pss_file", "rss", "build_peak", "disk")


def _resource(builds: dict[str, dict[str, Any]], serve: dict[str, dict[str, Any]], s: str) -> dict[str, float | None]:
    b, m = builds[s], (serve.get(s) or {}).get("memory") or {}
    vals = {
        "build_s": b.get("build_s"),
        "pss": m.get("pss"),
        "uss": m.get("uss"),
        "pss_file": m.get("pss_file"),
        "rss": m.get("rss"),
        "build_peak": (b.get("memory_build") or {}).get("peak_rss_above_inputs"),
        "disk": b.get("disk_bytes"),
    }
    return {k: (float(v) if v is not None else None) for k, v in vals.items()}


def resource_table(builds: dict[str, dict[str, Any]], serve: dict[str, dict[str, Any]], families: dict[str, str]) -> dict[str, Any]:
    """Per system: build time, memory while serving (above the worker's baseline, after the
    queries: PSS, USS, file-backed PSS, RSS), build peak, disk. Then each vecnest variant against
    its counterparts (same structure, same parameters): ratios ``vecnest / peer`` (one build each:
    no spread; ≤ 1 means vecnest uses less)."""
    ok = [s for s, b in builds.items() if b.get("status") == "ok"]
    rows = [{"system": s, "served_from": (serve.get(s) or {}).get("served_from"), **_resource(builds, serve, s)} for s in ok]
    pairs = []
    for v, peers in COUNTERPARTS.items():
        if v not in ok:
            continue
        mine = _resource(builds, serve, v)
        for p in peers:
            if p not in ok:
                continue
            theirs = _resource(builds, serve, p)
            ratios = {k: (mine[k] / theirs[k]) if (mine[k] is not None and theirs[k] and theirs[k] > 0 and mine[k] >= 0) else None for k in ("build_s", "pss", "uss", "build_peak", "disk")}
            pairs.append({"vecnest": v, "peer": p, **{f"{k}_ratio": r for k, r in ratios.items()}})
    return {"rows": rows, "counterparts": pairs}
