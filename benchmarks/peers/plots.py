"""PNG plots of one scale point: recall@10 vs QPS (unfiltered), and QPS / recall vs selectivity."""

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
    rows = point.get("unfiltered") or []
    names = list(dict.fromkeys(r["system"] for r in rows))
    style = _style(names)
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for n in names:
        mine = sorted((r for r in rows if r["system"] == n and r.get("qps") and r.get("recall") is not None), key=lambda r: r["recall"])
        if not mine:
            continue
        ax.plot([r["recall"] for r in mine], [r["qps"] for r in mine], label=n, **style[n])
    ax.set_yscale("log")
    ax.set_xlabel("recall@10")
    ax.set_ylabel("queries per second (1 thread, log)")
    ax.set_title(f"{point['name']}: {point['n']:,} vectors × {point['dim']}, unfiltered, k=10")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def selectivity(point: dict[str, Any], path: Path) -> Path | None:
    filt = point.get("filtered") or {}
    if not filt:
        return None
    sel = {w: point["workloads"][w]["selectivity"] for w in filt}
    names = list(dict.fromkeys(r["system"] for rows in filt.values() for r in rows["rows"]))
    style = _style(names)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(13, 5))
    for n in names:
        pts = []
        for w, block in filt.items():
            for r in block["rows"]:
                if r["system"] == n and r.get("qps"):
                    pts.append((sel[w], r["qps"], r.get("recall")))
        pts.sort()
        if not pts:
            continue
        a1.plot([p[0] for p in pts], [p[1] for p in pts], label=n, **style[n])
        a2.plot([p[0] for p in pts], [p[2] for p in pts], label=n, **style[n])
    for ax in (a1, a2):
        ax.set_xscale("log")
        ax.set_xlabel("selectivity (fraction of rows passing the filter, log)")
        ax.grid(True, which="both", alpha=0.3)
    a1.set_yscale("log")
    a1.set_ylabel("queries per second (1 thread, log)")
    a2.set_ylabel("recall@10 vs exact filtered search")
    a2.set_ylim(-0.02, 1.02)
    a1.set_title(f"{point['name']}: filtered QPS")
    a2.set_title(f"{point['name']}: filtered recall@10")
    a2.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
