"""The legacy ``peers.json`` (one file for every point, written before results carried their
provenance; some points were merged by hand from other runs). Rendered only for the points that
have no ``peers-<point>.json`` of their own yet, under a LEGACY / STALE banner; the notes it
carries are not rendered (no hand-written text in a generated section). Delete this module with
``peers.json`` once every point has been re-run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from _md import _num, table
from _md import mib as _mib
from _md import ratio as _ratio


def _qps_cell(qps: float | None, ratio: float | None) -> str:
    return "–" if qps is None else f"{_num(qps)} ({_ratio(ratio)})"


def _peers_systems(data: dict[str, Any]) -> str:
    rows = []
    for name, s in (data.get("systems") or {}).items():
        settings = s.get("settings") or {}
        brief = "; ".join(f"{k}: {v}" for k, v in settings.items() if not isinstance(v, dict)) or "–"
        nested = "; ".join(f"{k}: {json.dumps(v)}" for k, v in settings.items() if isinstance(v, dict))
        status = s.get("status") or "?"
        if status != "ok":
            status = f"{status}: {s.get('error') or s.get('reason') or ''}"
        vers = ", ".join(f"{d} {v}" for d, v in (s.get("versions") or {}).items() if v)
        rows.append([name, status, vers or "–", (brief + ("; " + nested if nested else "")), s.get("filter_note") or "–"])
    return table(["system", "status", "version", "settings", "filtering"], rows, "lllll")


def _peers_point(p: dict[str, Any]) -> str:
    if p.get("status") == "skipped":
        return f"### {p['name']}\n\nSkipped: {p.get('reason')}"
    parts = [
        f"### {p['name']}: {p['n']:,} vectors × {p['dim']}, {p['n_queries']} queries, k={p.get('k', 10)}",
        "",
        f"- **Vectors**: {p.get('vectors')}",
        f"- **Queries**: {p.get('queries_from')}",
    ]
    if p.get("encoder"):
        enc = p["encoder"]
        parts.append(f"- **Encoder**: {enc.get('package')} — {enc.get('model')}; {enc.get('pooling')}; embedding took {p.get('embed_seconds', 0) / 60:.1f} min (cached afterwards)")
    parts.append(f"- **Per-task query budget**: {p.get('task_budget_s')} s of summed latency per system×knob and workload (slow systems answer fewer queries; `n` says how many)")
    builds = p.get("builds") or {}
    bad = [f"`{s}` {b.get('status')}: {b.get('reason') or b.get('error')}" for s, b in builds.items() if b.get("status") != "ok"]
    if bad:
        parts += ["", "Not run at this point: " + "; ".join(bad)]
    tables = p.get("tables") or {}
    unf = tables.get("unfiltered") or []
    if unf:
        parts += ["", "**Unfiltered: best QPS reaching a recall@10 target (ratio to the best peer at that target)**", ""]
        rows = [[u["system"], u.get("max_recall"), _qps_cell(u.get("qps@0.90"), u.get("ratio@0.90")), _qps_cell(u.get("qps@0.95"), u.get("ratio@0.95")), _qps_cell(u.get("qps@0.99"), u.get("ratio@0.99")), u.get("knob@0.95") or "–"] for u in unf]
        parts.append(table(["system", "max recall@10", "QPS @ R≥0.90", "QPS @ R≥0.95", "QPS @ R≥0.99", "knob @ R≥0.95"], rows))
    curve = p.get("unfiltered") or []
    if curve:
        parts += ["", "<details><summary>Every knob setting (unfiltered)</summary>", ""]
        has_ndcg = any(r.get("ndcg@10") is not None for r in curve)
        rows = []
        for r in curve:
            row = [r["system"], r.get("label"), r.get("recall"), r.get("qps"), r.get("p50_ms"), r.get("p95_ms"), r.get("n_queries")]
            if has_ndcg:
                row.append(r.get("ndcg@10"))
            rows.append(row + [r.get("error") or ""])
        heads = ["system", "knob", "recall@10", "QPS", "p50 ms", "p95 ms", "n"] + (["nDCG@10"] if has_ndcg else []) + ["error"]
        parts += [table(heads, rows), "", "</details>"]
    if p.get("ndcg_exact_numpy") is not None:
        ops = p.get("operating_knobs") or {}
        rows = []
        for s, kb in ops.items():
            label = ", ".join(f"{k}={v}" for k, v in kb.items()) or "default"
            match = [r for r in curve if r["system"] == s and r.get("label") == label]
            if match:
                rows.append([s, label, match[0].get("ndcg@10"), match[0].get("recall")])
        parts += ["", f"**SciFact nDCG@10** (ranx; every system at its operating knob; exact search in numpy: {p['ndcg_exact_numpy']:.4f}; published all-MiniLM-L6-v2: 0.645)", "", table(["system", "knob", "nDCG@10", "recall@10 vs exact"], rows)]
    res = tables.get("resources") or []
    if res:
        parts += ["", "**Build, memory, disk (ratio to the smallest peer value)**", ""]
        rows = [[r["system"], r.get("build_s"), _ratio(r.get("build_ratio")), _mib(r.get("rss_delta_bytes")), _mib(r.get("peak_delta_bytes")), _ratio(r.get("mem_ratio")), _mib(r.get("disk_bytes")), _ratio(r.get("disk_ratio"))] for r in res]
        parts.append(table(["system", "build s", "build ratio", "RSS MiB (held)", "peak MiB (build)", "mem ratio", "disk MiB", "disk ratio"], rows))
        q = (builds.get("qdrant-local") or {}).get("disk_sample")
        if q:
            parts += ["", f"Qdrant local with `QdrantClient(path=...)` ingested {q['points']} points in {q['seconds']:.1f} s ({q['points_per_s']:.0f} points/s, one SQLite commit per point): ≈{q['extrapolated_build_s'] / 60:.1f} min and {_mib(q['extrapolated_bytes'])} MiB for this point, so its queries ran on `:memory:` (same search code)."]
    wl = p.get("workloads") or {}
    filt = p.get("filtered") or {}
    if wl:
        parts += ["", "**Filtered workloads** (real predicates; selectivity measured on the indexed set)", ""]
        parts.append(table(["workload", "predicate", "selectivity", "matching rows", "reference peer (fastest with recall ≥ 0.95)"], [[w, s["text"], f"{s['selectivity']:.3%}", f"{s['n_match']:,}", (filt.get(w) or {}).get("reference") or "–"] for w, s in wl.items()], "lllrl"))
    if filt:
        systems = list(dict.fromkeys(r["system"] for b in filt.values() for r in b["rows"]))
        ops = p.get("operating_knobs") or {}
        qrows, rrows = [], []
        for s in systems:
            qrow, rrow = [s, ", ".join(f"{k}={v}" for k, v in (ops.get(s) or {}).items()) or "default"], [s]
            for w in filt:
                r = next((x for x in filt[w]["rows"] if x["system"] == s), None)
                if r is None or r.get("qps") is None:
                    qrow.append(r.get("error", "–")[:40] if r else "–")
                    rrow.append("–")
                    continue
                qrow.append(_qps_cell(r.get("qps"), r.get("qps_ratio")))
                short = f", {r['short_results']} short" if r.get("short_results") else ""
                rrow.append(f"{r['recall']:.3f} (n={r['n_queries']}{short})" if r.get("recall") is not None else "–")
            qrows.append(qrow)
            rrows.append(rrow)
        parts += ["", "**Filtered QPS (ratio to the reference peer of each workload)**", "", table(["system", "knob"] + list(filt), qrows)]
        parts += ["", "**Filtered recall@10 vs exact filtered search** (`short`: queries that got fewer than min(k, matches) results)", "", table(["system"] + list(filt), rrows)]
        frows = []
        for s in systems:
            cells = [next((x.get("first_ms") for x in filt[w]["rows"] if x["system"] == s), None) for w in filt]
            if any(c is not None for c in cells):
                frows.append([s] + [c if c is not None else "–" for c in cells])
        if frows:
            parts += ["", "**First query of each workload, ms** (untimed warm-up, not in the QPS above: lazy loading of indexes, filter columns or segments)", "", table(["system"] + list(filt), frows)]
    targets = _peers_targets(p)
    if targets:
        parts += ["", "**Targets of the ANN / filter-planner issue** (vecnest-hnsw, measured in this run)", "", targets]
    plans = p.get("vecnest_plans") or {}
    if plans:
        rows = []
        for s, by_w in plans.items():
            for w, plan in by_w.items():
                if isinstance(plan, dict):
                    rows.append([s, w, plan.get("strategy"), plan.get("reason"), json.dumps(plan.get("timings_ms")) if plan.get("timings_ms") else "–"])
        if rows:
            parts += ["", "**vecnest's own plan per workload** (`search(..., explain=True)`, first query)", "", table(["system", "workload", "strategy", "reason", "timings ms"], rows, "lllll")]
    for path in p.get("plots") or []:
        parts += ["", f"![{Path(path).stem}]({path})"]
    return "\n".join(parts)


#: (peer, goal): vecnest-hnsw's unfiltered QPS at recall@10 >= 0.95 over the peer's.
UNFILTERED_GOALS = (("faiss-hnsw", 0.9), ("chroma", 3.0), ("lance-ivfpq", 3.0))


def _peers_targets(p: dict[str, Any], system: str = "vecnest-hnsw") -> str | None:
    """The issue's goals against this point's numbers: met or not, with the measured ratio."""
    unf = {u["system"]: u for u in (p.get("tables") or {}).get("unfiltered") or []}
    rows: list[list[Any]] = []
    ours = unf.get(system)
    for peer, goal in UNFILTERED_GOALS if ours else ():
        theirs = unf.get(peer)
        if theirs is None:
            continue
        a, b = ours.get("qps@0.95"), theirs.get("qps@0.95")
        if a and b:
            rows.append([f"unfiltered QPS at recall@10 ≥ 0.95, {system} / {peer}", f"≥ {goal:g}×", f"{a / b:.2f}×", "met" if a / b >= goal else "**not met**"])
        elif a:
            rows.append([f"unfiltered QPS at recall@10 ≥ 0.95, {system} / {peer}", f"≥ {goal:g}×", f"{peer} never reaches 0.95 (max {theirs.get('max_recall')})", "met"])
        else:
            rows.append([f"unfiltered QPS at recall@10 ≥ 0.95, {system} / {peer}", f"≥ {goal:g}×", f"{system} never reaches 0.95", "**not met**"])
    for w, block in (p.get("filtered") or {}).items():
        r = next((x for x in block["rows"] if x["system"] == system), None)
        if r is None or r.get("recall") is None:
            continue
        rows.append([f"{w}: recall@10", "≥ 0.95", f"{r['recall']:.3f}", "met" if r["recall"] >= 0.95 else "**not met**"])
        if r.get("qps_ratio") is not None:
            ref = block.get("reference") or "best peer"
            rows.append([f"{w}: QPS / {ref}", "≥ 1×", f"{r['qps_ratio']:.2f}×", "met" if r["qps_ratio"] >= 1.0 else "**not met**"])
    return table(["goal", "target", "measured", "verdict"], rows, "lrrl") if rows else None


def render_legacy_peers(data: dict[str, Any], skip_points: set[str]) -> str | None:
    """The legacy peers file's points not superseded by a ``peers-<point>.json`` (``None`` if
    every point is)."""
    points = [p for name, p in (data.get("points") or {}).items() if name not in skip_points]
    if not points:
        return None
    cfg = data.get("config") or {}
    parts = [
        "Method of this legacy run: every system got the same vectors, queries and predicates; FAISS and hnswlib evaluated "
        "their filter masks **inside** each timed query; graph parameters differed between systems; filtered workloads "
        "ran each system at one knob chosen on the unfiltered sweep; one pass, no repetitions "
        f"({cfg.get('interleaving', '')}). These are the reasons issue 11 asked for the new harness.",
        "",
        "#### Systems (legacy run)",
        "",
        _peers_systems(data),
    ]
    for p in points:
        parts += ["", _peers_point(p).replace("\n### ", "\n#### ", 1).replace("### ", "#### ", 1)]
    return "\n".join(parts)
