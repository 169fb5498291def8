"""Ratios to the best peer, computed from one scale point's raw rows (stored in the JSON).

"Peer" = any system whose family is not vecnest. Definitions (also printed in BENCHMARKS.md):

* Unfiltered: each system's best QPS among its knob settings reaching recall@10 ≥ T
  (T = 0.90, 0.95, 0.99); ratio = that QPS / the best peer's QPS at the same T.
* Filtered: each system at its operating knob (see ``runner.operating_knob``); the QPS ratio is
  to the fastest peer whose recall@10 ≥ 0.95 on that workload (or, if none, the peer with the
  best recall), the recall ratio to the best peer recall on that workload.
* Build / memory / disk: ratio to the smallest peer value.
"""

from __future__ import annotations

from typing import Any

THRESHOLDS = (0.90, 0.95, 0.99)
FILTER_RECALL = 0.95


def _is_peer(row: dict[str, Any], families: dict[str, str]) -> bool:
    return families.get(row["system"], "") != "vecnest"


def qps_at_recall(rows: list[dict[str, Any]], system: str, target: float) -> dict[str, Any] | None:
    """The fastest of ``system``'s rows with recall ≥ ``target``."""
    ok = [r for r in rows if r["system"] == system and r.get("recall") is not None and r.get("qps") and r["recall"] >= target]
    return max(ok, key=lambda r: r["qps"]) if ok else None


def unfiltered_table(rows: list[dict[str, Any]], families: dict[str, str]) -> list[dict[str, Any]]:
    systems = list(dict.fromkeys(r["system"] for r in rows))
    out = []
    best_peer: dict[float, float | None] = {}
    for t in THRESHOLDS:
        vals = [qps_at_recall(rows, s, t) for s in systems if families.get(s) != "vecnest"]
        vals = [v["qps"] for v in vals if v]
        best_peer[t] = max(vals) if vals else None
    for s in systems:
        mine = [r for r in rows if r["system"] == s and r.get("recall") is not None]
        entry: dict[str, Any] = {"system": s, "max_recall": max((r["recall"] for r in mine), default=None)}
        for t in THRESHOLDS:
            hit = qps_at_recall(rows, s, t)
            key = f"{t:.2f}"
            entry[f"qps@{key}"] = hit["qps"] if hit else None
            entry[f"knob@{key}"] = hit["label"] if hit else None
            entry[f"ratio@{key}"] = (hit["qps"] / best_peer[t]) if (hit and best_peer[t]) else None
        out.append(entry)
    return out


def filtered_table(rows: list[dict[str, Any]], families: dict[str, str]) -> dict[str, Any]:
    peers = [r for r in rows if _is_peer(r, families) and r.get("recall") is not None and r.get("qps")]
    good = [r for r in peers if r["recall"] >= FILTER_RECALL]
    ref = max(good, key=lambda r: r["qps"]) if good else (max(peers, key=lambda r: r["recall"]) if peers else None)
    best_recall = max((r["recall"] for r in peers), default=None)
    table = []
    for r in rows:
        table.append(
            {
                **r,
                "qps_ratio": (r["qps"] / ref["qps"]) if (ref and r.get("qps")) else None,
                "recall_ratio": (r["recall"] / best_recall) if (best_recall and r.get("recall") is not None) else None,
            }
        )
    return {"reference": ref["system"] if ref else None, "reference_qps": ref["qps"] if ref else None, "best_peer_recall": best_recall, "rows": table}


def resource_table(builds: dict[str, dict[str, Any]], families: dict[str, str]) -> list[dict[str, Any]]:
    ok = {s: b for s, b in builds.items() if b.get("status") == "ok"}

    def best(key: Any) -> float | None:
        vals = [key(b) for s, b in ok.items() if families.get(s) != "vecnest" and key(b)]
        return min(vals) if vals else None

    def get_build(b: dict[str, Any]) -> float | None:
        return b.get("build_s")

    def get_mem(b: dict[str, Any]) -> float | None:
        return (b.get("memory") or {}).get("steady_delta")

    def get_disk(b: dict[str, Any]) -> float | None:
        return b.get("disk_bytes")

    refs = {"build": best(get_build), "mem": best(get_mem), "disk": best(get_disk)}
    out = []
    for s, b in ok.items():
        m = b.get("memory") or {}
        out.append(
            {
                "system": s,
                "build_s": b.get("build_s"),
                "build_ratio": (b["build_s"] / refs["build"]) if refs["build"] and b.get("build_s") else None,
                "rss_delta_bytes": m.get("steady_delta"),
                "peak_delta_bytes": m.get("peak_delta"),
                "mem_ratio": (m["steady_delta"] / refs["mem"]) if refs["mem"] and m.get("steady_delta") else None,
                "disk_bytes": b.get("disk_bytes"),
                "disk_ratio": (b["disk_bytes"] / refs["disk"]) if refs["disk"] and b.get("disk_bytes") else None,
            }
        )
    return out
