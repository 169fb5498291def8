"""The section of one ``peers-<point>.json`` (``benchmarks/peers.py``): every number from that run."""

from __future__ import annotations

import json
from typing import Any

from _md import mib, ratio, spread, table

def _f(x: float | None, fmt: str = "{:.3f}") -> str:
    return "–" if x is None else fmt.format(x)


def _method(p: dict[str, Any]) -> str:
    cfg = p.get("config") or {}
    return (
        "Every system gets the same float32 unit vectors (inner product = cosine), the same held-out queries and the same "
        "predicates (written once, translated per system); ground truth is exact (filtered) search in numpy. Each system is "
        "built in its own process, which then exits, and is **served from a fresh process** that opens the stored index "
        "(Qdrant's in-memory client cannot be reopened: it serves from its build process). Queries run one at a time on one "
        f"thread, each timed from the query vector to the system's own answer (its labels, its client's result objects); "
        "turning that answer into the harness's integer labels for the recall bookkeeping is not timed, for any system. "
        f"Per workload: an **effort sweep** (each system's efforts, cheapest first, interleaved across systems, "
        f"{cfg.get('sweep_s')} s of query time or at least {cfg.get('min_queries')} queries per effort, stopping at recall "
        f"{max(p.get('targets') or [0.99])}), then **{cfg.get('reps')} interleaved timed repetitions** (rep 1: A, B, C; rep 2: "
        f"B, C, A; ...) of each system's cheapest effort reaching each recall target and of vecnest's default, over the same "
        f"queries ({cfg.get('task_s')} s per repetition, at least {cfg.get('min_queries')} queries). A system's **operating "
        "setting** for a target is its fastest timed effort reaching it on that workload; the **reference** is the fastest peer "
        "operating setting. **Speed** = median per-query latency of the reference / the system's (> 1: faster than the best "
        "peer), on the queries both answered; the bracket is its spread (per-repetition min–max widened to a 95 % bootstrap "
        "interval over queries). A target is *met* only when the whole bracket clears it, *not met* when it all misses, "
        "else *inside noise*. **Memory** = what the serving process (and its children) holds above its baseline after the "
        "queries, from `/proc/<pid>/smaps_rollup`. The headline is **USS** (pages only that process maps: its heap and the "
        "touched pages of the store files it memory-maps, which no other process maps); PSS and RSS are listed too, but they "
        "also move with how many other worker processes share the same library pages."
    )


def _systems(p: dict[str, Any]) -> str:
    rows = []
    for s, b in (p.get("builds") or {}).items():
        settings = b.get("settings") or {}
        brief = "; ".join(f"{k}: {json.dumps(v) if isinstance(v, (dict, list)) else v}" for k, v in settings.items()) or "–"
        status = b.get("status") or "?"
        if status != "ok":
            status = f"**{status}**: {b.get('error') or b.get('reason') or ''}"
        vers = ", ".join(f"{d} {v}" for d, v in (b.get("versions") or {}).items() if v)
        served = ((p.get("serve") or {}).get(s) or {}).get("served_from") or "–"
        rows.append([s, status, vers or "–", brief, b.get("filter_note") or "–", served])
    return table(["system", "status", "version", "settings", "filtering", "served from"], rows, "llllll")


def _verdicts(p: dict[str, Any]) -> str | None:
    rows = []
    for key, res in (p.get("workload_results") or {}).items():
        eff = res.get("effort_check") or {}
        for v in res["table"]["vecnest_default"]:
            e = eff.get(v["system"]) or {}
            effort = f"{e['used']:g} vs {e['needed']} needed: {e['steps_above']} step(s) above → {e['verdict']}" if "steps_above" in e else (e.get("why") or "–")
            ref = f"{v['reference']} ({v['reference_label']})" if v.get("reference") else "no peer reaches 0.95"
            rows.append([key, v["system"], f"{_f(v.get('recall'))} → {v['recall_verdict']}", ref, spread(v.get("speed_vs_ref")), v["speed_verdict"], effort])
    if not rows:
        return None
    return table(["workload", "vecnest by default", "recall@10 (goal ≥ 0.95)", "reference peer (setting)", "speed vs reference [spread]", "speed goal ≥ 1×", "default effort vs least effort reaching 0.95 (goal ≤ 1 step)"], rows, "lllllll")


def _workload(key: str, res: dict[str, Any], p: dict[str, Any]) -> str:
    wl = (p.get("workloads") or {}).get(key)
    head = f"#### {key}" + (f": `{wl['text']}` — {wl['kind']}, selectivity {wl['selectivity']:.2%} ({wl['n_match']:,} rows)" if wl else "")
    t95, t99 = res["table"]["targets"]["0.95"], res["table"]["targets"]["0.99"]
    by99 = {r["system"]: r for r in t99["rows"]}
    rows = []
    for r in t95["rows"]:
        q = by99.get(r["system"], {})
        cells = [r["system"]]
        for x in (r, q):
            if x.get("reaches"):
                cells += [x["label"], _f(x["recall"]), _f(x["p50_ms"]), spread(x.get("speed_vs_ref"))]
            else:
                cells += [f"never (max {_f(x.get('max_recall'))})", "", "", ""]
        rows.append(cells)
    ref = lambda t: f"{t['reference']['system']} ({t['reference']['label']}, {t['reference']['p50_ms']:.3f} ms)" if t["reference"] else "none"  # noqa: E731
    parts = [head, "", f"Reference at R ≥ 0.95: {ref(t95)}; at R ≥ 0.99: {ref(t99)}.", ""]
    parts.append(table(["system", "R≥0.95: setting", "recall", "p50 ms", "speed vs ref", "R≥0.99: setting", "recall", "p50 ms", "speed vs ref"], rows, "lllrrlrrr"))
    sw = []
    for s, rs in (res.get("sweep") or {}).items():
        for r in rs:
            sw.append([s, r["label"], _f(r.get("recall")), _f(r.get("p50_ms")), r.get("n_queries"), r.get("short_results") or "", r.get("error") or r.get("skipped") or ""])
    has_ndcg = any("ndcg@10" in r for r in res.get("rows") or [])
    timed = [[r["system"], r["label"], r["role"], _f(r.get("recall")), *([_f(r.get("ndcg@10"), "{:.4f}")] if has_ndcg else []), r.get("n_queries"), ", ".join(_f(x.get("p50_ms")) for x in r.get("reps") or []), _f((r.get("pooled") or {}).get("p95_ms")), _f(r.get("first_ms"), "{:.2f}"), _f(r.get("settle_s"), "{:.2f}") if r.get("settle_s") is not None else "", r.get("error") or ""] for r in res.get("rows") or []]
    parts += [
        "",
        "<details><summary>Sweep (one pass) and every timed setting</summary>",
        "",
        table(["system", "effort", "recall@10", "p50 ms", "queries", "short results", "error"], sw, "llrrrrl"),
        "",
        table(["system", "effort", "timed as", "recall@10", *(["nDCG@10"] if has_ndcg else []), "queries", "p50 ms per repetition", "p95 ms (pooled)", "first query ms (untimed)", "default's untimed pass over the workload, s (learning included)", "error"], timed, "lllr" + ("r" if has_ndcg else "") + "rrrrrl"),
        "",
        "</details>",
    ]
    plans = res.get("vecnest_plans") or {}
    if plans:
        prow = [[s, ", ".join(f"{k} ×{n}" for k, n in v["strategies"].items()), json.dumps(v.get("effort_used")) if v.get("effort_used") else "–", (v.get("first_plan") or {}).get("reason", "–")] for s, v in plans.items()]
        parts += ["", "vecnest's own plans for its default setting (`explain=True`, first 20 queries):", "", table(["system", "strategies", "effort used", "reason (first query)"], prow, "llll")]
    return "\n".join(parts)


def _resources(p: dict[str, Any]) -> str | None:
    res = p.get("resources") or {}
    rows = res.get("rows") or []
    if not rows:
        return None
    body = [[r["system"], _f(r.get("build_s"), "{:.1f}"), mib(r.get("uss")), mib(r.get("pss")), mib(r.get("pss_file")), mib(r.get("rss")), mib(r.get("build_peak")), mib(r.get("disk")), r.get("served_from") or "–"] for r in rows]
    parts = [
        "**Build, memory, disk** (one build per system; memory of the serving process above its baseline after the queries; build peak = peak RSS of the build process and its children above its RSS with the inputs loaded)",
        "",
        table(["system", "build s", "USS MiB", "PSS MiB", "file-backed PSS MiB", "RSS MiB", "build peak MiB", "disk MiB", "served from"], body, "lrrrrrrrl"),
    ]
    pairs = res.get("counterparts") or []
    if pairs:
        prow = [[f"{x['vecnest']} / {x['peer']}", ratio(x.get("build_s_ratio")), ratio(x.get("uss_ratio")), ratio(x.get("pss_ratio")), ratio(x.get("build_peak_ratio")), ratio(x.get("disk_ratio"))] for x in pairs]
        parts += ["", "vecnest against the peers of the same structure and parameters (≤ 1×: vecnest uses less; one measurement each, no spread):", "", table(["pair", "build time", "USS", "PSS", "build peak", "disk"], prow, "lrrrrr")]
    by_file = {s: v["pss_by_file"] for s, v in (p.get("serve") or {}).items() if v.get("pss_by_file") and s.startswith("vecnest")}
    if by_file:
        frow = [[s, ", ".join(f"`{f}` {mib(b)}" for f, b in files.items() if b >= 1 << 20) or "–"] for s, files in by_file.items()]
        parts += ["", "Where vecnest's file-backed memory is (PSS per mapped file of the serving process, MiB, files ≥ 1 MiB):", "", table(["system", "files"], frow, "ll")]
    q = ((p.get("builds") or {}).get("qdrant-local") or {}).get("disk_sample")
    if q:
        parts += ["", f"Qdrant local with `QdrantClient(path=...)` ingested {q['points']} points in {q['seconds']:.1f} s ({q['points_per_s']:.0f} points/s): ≈{q['extrapolated_build_s'] / 60:.1f} min and {mib(q['extrapolated_bytes'])} MiB for this point, so its queries ran on `:memory:` (the same search code)."]
    return "\n".join(parts)


def render_peers_point(p: dict[str, Any]) -> str:
    """Body of one point's section (the title and provenance are added by ``report.py``)."""
    parts = [
        f"{p['n']:,} vectors × {p['dim']}, {p['n_queries']} queries, k={p.get('k', 10)}. Vectors: {p.get('vectors')}. Queries: {p.get('queries_from')}.",
        "",
        _method(p),
    ]
    if p.get("status") != "complete":
        parts += ["", f"**This run did not complete** (status `{p.get('status')}`): the workloads below are those it finished."]
    if p.get("encoder"):
        enc = p["encoder"]
        parts += ["", f"Encoder: {enc.get('package')} — {enc.get('model')}; {enc.get('pooling')}."]
    b = p.get("budget") or {}
    bad = [f"`{s}` {x.get('status')}: {x.get('reason') or x.get('error')}" for s, x in (p.get("builds") or {}).items() if x.get("status") != "ok"]
    parts += ["", f"Budgets: {b.get('build_budget_min')} min per system build, {b.get('point_budget_min')} min for the point ({b.get('reserve_min_for_queries')} min kept for the queries)" + (f"; build estimates from `{b['estimates_from']}`" if b.get("estimates_from") else "") + "."]
    if bad:
        parts += ["", "Not run at this point: " + "; ".join(bad) + "."]
    parts += ["", "**Systems**", "", _systems(p)]
    v = _verdicts(p)
    if v:
        parts += ["", "**Issue targets: vecnest by default against the fastest peer reaching recall@10 ≥ 0.95, per workload**", "", v]
    if p.get("ndcg_exact_numpy") is not None:
        parts += ["", f"SciFact nDCG@10 of exact search (numpy): {p['ndcg_exact_numpy']:.4f} (published all-MiniLM-L6-v2: 0.645)."]
    for key, res in (p.get("workload_results") or {}).items():
        parts += ["", _workload(key, res, p)]
    r = _resources(p)
    if r:
        parts += ["", r]
    for path in p.get("plots") or []:
        parts += ["", f"![{path}](benchmarks/results/{path})"]
    if p.get("raw_latencies"):
        parts += ["", f"Per-query latencies of every timed repetition: `benchmarks/results/{p['raw_latencies']}` (numpy `.npz`; key `workload|system|effort` → `(repetitions, queries)` seconds, NaN where a query was not answered)."]
    return "\n".join(parts)
