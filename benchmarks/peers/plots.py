"""PNG plots of one scale point: recall@10 vs QPS along each system's unfiltered effort sweep
(one pass), and, per filtered workload, the speed and recall of each system's operating setting
at recall ≥ 0.95 (vecnest by default drawn as its own line)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

MARKERS = "os^vD<>phX*P"


def _style(names: list[str]) -> dict[str, dict[str, Any]]:
    cmap = plt.get_cmap("tab20")
    out = {}
    for i, n in enumerate(names):
        out[n] = {"color": cmap(i % 20), "marker": MARKERS[i % len(MARKERS)]}
        if n.startswith("vecnest"):
            out[n]["linewidth"] = 2.5
    return out


def recall_qps(point: dict[str, Any], path: Path) -> Path:
    sweep = ((point.get("workload_results") or {}).get("unfiltered") or {}).get("sweep") or {}
    names = list(sweep)
    style = _style(names)
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for n in names:
        mine = sorted((r for r in sweep[n] if r.get("p50_ms") and r.get("recall") is not None), key=lambda r: r["recall"])
        if not mine:
            continue
        ax.plot([r["recall"] for r in mine], [1e3 / r["p50_ms"] for r in mine], label=n, **style[n])
    ax.set_yscale("log")
    ax.set_xlabel("recall@10")
    ax.set_ylabel("1 / median latency, queries/s (1 thread, log)")
    ax.set_title(f"{point['point']}: {point['n']:,} vectors × {point['dim']}, unfiltered effort sweep (one pass), k=10", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def selectivity(point: dict[str, Any], path: Path) -> Path | None:
    res = {w: r for w, r in (point.get("workload_results") or {}).items() if w in (point.get("workloads") or {})}
    if not res:
        return None
    sel = {w: point["workloads"][w]["selectivity"] for w in res}
    speed: dict[str, list[tuple[float, float]]] = {}
    recall: dict[str, list[tuple[float, float]]] = {}
    for w, r in res.items():
        for row in r["table"]["targets"]["0.95"]["rows"]:
            if row.get("reaches"):
                speed.setdefault(row["system"], []).append((sel[w], 1e3 / row["p50_ms"]))
            elif row.get("max_recall") is not None:
                recall.setdefault(f"{row['system']} (best it reaches)", []).append((sel[w], row["max_recall"]))
        for v in r["table"]["vecnest_default"]:
            name = f"{v['system']} (default)"
            speed.setdefault(name, []).append((sel[w], 1e3 / v["p50_ms"]))
            if v.get("recall") is not None:
                recall.setdefault(name, []).append((sel[w], v["recall"]))
    style = _style(list(dict.fromkeys([*speed, *recall])))
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(13, 5))
    for ax, series in ((a1, speed), (a2, recall)):
        for n, pts in series.items():
            pts.sort()
            ax.plot([p[0] for p in pts], [p[1] for p in pts], label=n, **style[n])
    for ax in (a1, a2):
        ax.set_xscale("log")
        ax.set_xlabel("selectivity (fraction of rows passing the filter, log)")
        ax.grid(True, which="both", alpha=0.3)
    a1.set_yscale("log")
    a1.set_ylabel("1 / median latency, queries/s (1 thread, log)")
    a2.set_ylabel("recall@10 vs exact filtered search")
    a2.set_ylim(-0.02, 1.02)
    a1.set_title(f"{point['point']}: fastest setting reaching recall@10 ≥ 0.95", fontsize=10)
    a2.set_title(f"{point['point']}: recall of vecnest by default, and of systems never reaching 0.95", fontsize=9)
    a1.legend(fontsize=7, loc="lower right")
    if recall:
        a2.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
