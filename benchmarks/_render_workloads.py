"""Sections of the single-workload benchmarks (equal effort, ingestion, search during
ingestion, cold start): one renderer per ``"benchmark"`` kind. Every sentence that states a
number takes it from the result file."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from _md import mib, spread, table


def _f(x: float | None, fmt: str = "{:.3f}") -> str:
    return "–" if x is None else fmt.format(x)


def _plots(data: dict[str, Any]) -> list[str]:
    return ["", *[f"![{p}](benchmarks/results/{p})" for p in data.get("plots") or []]]


# ---------------------------------------------------------------------------------------------
# equal-effort.json
# ---------------------------------------------------------------------------------------------


def _floor_cells(r: dict[str, Any]) -> list[str]:
    """The Python floor's extra µs and cost ratio over the raw call (``–`` in runs without it)."""
    return [_f(r.get("floor_extra_us"), "{:.0f}"), spread(r.get("floor_cost_ratio")) if r.get("floor_cost_ratio") else "–"]


def render_equal_effort(d: dict[str, Any]) -> str:
    cfg = d.get("config") or {}
    parts = [
        f"{d['n']:,} arXiv title vectors, {d['n_queries']} held-out queries, k={cfg.get('k', 10)}, one thread, one process. "
        f"Graph: {d.get('graph')}. vecnest runs `col.search(q, k=10, ef_search=E, include=())` (filtered: `where=…, "
        "strategy='ann_filtered'`); FAISS runs `index.search_c` with cached `SearchParametersHNSW(efSearch=E[, sel=cached "
        f"IDSelectorBitmap])` on the same index (filtered: on the graph inside the id map, the cached bitmap permuted to "
        "graph positions and the k labels translated back, as vecnest searches it). Interleaved query by query (the sides' order cycling so that each takes each place, and follows each other side, equally often), "
        f"{cfg.get('reps')} repetitions; **cost ratio** = median per-query latency of vecnest / of FAISS on the same queries, "
        "bracket = per-repetition min–max widened to a 95 % bootstrap interval. Distance computations: vecnest's plan "
        "(`candidates_visited`) and FAISS's `hnsw_stats.ndis` on the first 30 queries.",
    ]
    rows = []
    for r in d.get("overhead") or []:
        sp = r.get("cost_ratio")
        rows.append([r["ef"], _f(r["vecnest_p50_ms"]), _f(r["faiss_p50_ms"]), _f(r["extra_us"], "{:.0f}"), spread(sp), f"overhead {(sp['point'] - 1) * 100:+.0f} %" if sp else "–", r.get("verdict") or "–", *_floor_cells(r), _f(r.get("faiss_api_p50_ms")), spread(r.get("cost_ratio_vs_api")) if r.get("cost_ratio_vs_api") else "–", f"{r['vecnest_recall']:.3f} / {r['faiss_recall']:.3f}", _f(r["same_top10_fraction"], "{:.2f}")])
    api = any(r.get("faiss_api_p50_ms") is not None for r in d.get("overhead") or [])
    parts += [
        "",
        "**Façade overhead, unfiltered** (issue target: ≤ 10 %, i.e. cost ratio ≤ 1.10, against `search_c`"
        + ("; for context: against FAISS's documented Python call `index.search(x, k, params=…)`, timed as another interleaved side" if api else "")
        + "; **Python floor**: the least a Python façade returning vecnest's `Hits` does around the same `search_c` call — normalise the query, slots to ids, ten `Hit` objects, nothing else — timed as another side, with its extra µs and cost ratio against `search_c`: the overhead no Python façade sheds)",
        "",
        table(["ef_search", "vecnest p50 ms", "FAISS search_c p50 ms", "extra µs", "cost ratio [spread]", "", "verdict", "Python floor extra µs", "Python floor cost ratio", "FAISS index.search p50 ms", "cost ratio vs index.search", "recall vecnest / FAISS", "same top-10"], rows, "rrrrrllrrrrrr"),
    ]
    rows = []
    for r in d.get("filtered") or []:
        sel = (d.get("workloads") or {}).get(r["workload"], {}).get("selectivity")
        rows.append([r["workload"], f"{sel:.1%}" if sel is not None else "–", r["ef"], ", ".join(map(str, r.get("vecnest_effort_used") or [])), _f(r["vecnest_p50_ms"]), _f(r["faiss_p50_ms"]), _f(r["extra_us"], "{:.0f}"), spread(r.get("cost_ratio")), r.get("verdict") or "(no target)", *_floor_cells(r), f"{r['vecnest_recall']:.3f} / {r['faiss_recall']:.3f}", _f(r["same_top10_fraction"], "{:.2f}"), f"{r.get('vecnest_distances_per_query', 0):.0f} / {r.get('faiss_distances_per_query', 0):.0f}"])
    parts += [
        "",
        "**Equal effort, filtered** (issue target at 15–50 %: cost ratio ≤ 1.10; at 1–2 % FAISS's filtered graph walk returns short lists that vecnest completes, so the lists differ; Python floor as above, on the same bitmap)",
        "",
        table(["workload", "selectivity", "ef_search", "ef vecnest used", "vecnest p50 ms", "FAISS p50 ms", "extra µs", "cost ratio [spread]", "verdict", "Python floor extra µs", "Python floor cost ratio", "recall vecnest / FAISS", "same top-10", "distances vecnest / FAISS"], rows, "lrrrrrrrlrrrrr"),
    ]
    rows = []
    for w, e in (d.get("default_effort") or {}).items():
        rows.append([w, ", ".join(e.get("strategies") or []), _f(e.get("default_recall")), _f(e.get("used_median"), "{:g}"), e.get("needed", "–"), e.get("steps_above", "–"), e.get("verdict"), e.get("why", "")])
    parts += [
        "",
        "**vecnest's default effort vs the least `ef_search` of the grid reaching recall@10 ≥ 0.95 on that workload** (the default after the workload's queries were searched once: a repeated filter's effort is learned from its first 64 distinct queries and confirmed on the next 128, which are among the measured ones; issue target: at most one grid step above; grid "
        + ", ".join(map(str, next(iter((d.get("default_effort") or {}).values()), {}).get("recall_by_ef", {}).keys()))
        + ")",
        "",
        table(["workload", "default strategy", "default recall@10", "effort used (median)", "least ef reaching 0.95", "steps above", "verdict", "why n/a"], rows, "llrrrrll"),
    ]
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------
# ingest-add.json
# ---------------------------------------------------------------------------------------------


def render_ingest(d: dict[str, Any]) -> str:
    cfg = d.get("config") or {}
    a = d.get("analysis") or {}
    parts = [
        f"{d['rows']:,} arXiv title vectors with their metadata into an HNSW collection (vecnest's defaults), each ingest in a "
        f"fresh process, {cfg.get('rounds')} interleaved rounds ({', '.join(cfg.get('modes') or ['bulk', 'add-1k', 'add-5k'])} rotated). `bulk`: `with col.bulk():` "
        "`add()` in 10k batches (one merge when the block exits); `add-1k` / `add-5k`: plain `add()` calls, no `bulk()`, "
        "with the default write pacing (`IndexConfig.delta_cap` 40,000: a writer past `delta_limit` is held after its commits "
        "so the index keeps up); `add-1k-unpaced`: the same calls with pacing off (`delta_cap=None`). Every "
        "run ends with `optimize()` so all reach the same state (every row indexed); **total** includes it. Ratios pair the "
        "runs of one round; the bracket is the min–max over rounds.",
        "",
    ]
    rows = []
    for m, x in (a.get("modes") or {}).items():
        c = x["calls"]
        v = (a.get("verdicts") or {}).get(m, {})
        rows.append([m, ", ".join(f"{t:.1f}" for t in x["totals_s"]), ", ".join(f"{t:.1f}" for t in x["optimize_s"]), f"{sorted(x['rows_per_s'])[len(x['rows_per_s']) // 2]:,.0f}", c.get("n"), _f(c.get("p50_ms"), "{:.1f}"), _f(c.get("p95_ms"), "{:.1f}"), _f(c.get("p99_ms"), "{:.1f}"), _f(c.get("max_ms"), "{:,.0f}"), mib(max(x["peak_rss"])), spread(v.get("total_vs_bulk")) + (f" → {v['total_vs_bulk_verdict']}" if v else ""), spread(v.get("adds_only_vs_bulk")), (spread(v.get("p99_over_median"), "") + f" → {v['p99_over_median_verdict']}") if v else ""])
    parts.append(table(["mode", "total s per round", "final optimize s", "rows/s (median)", "calls", "call p50 ms", "p95", "p99", "max", "peak RSS MiB", "total vs bulk (goal ≤ 1.3×)", "adds alone vs bulk", "p99 / median per round (goal ≤ 3)"], rows, "lrrrrrrrrrlll"))
    return "\n".join(parts + _plots(d))


# ---------------------------------------------------------------------------------------------
# search-during-ingest.json
# ---------------------------------------------------------------------------------------------


def render_concurrent(d: dict[str, Any]) -> str:
    cfg = d.get("config") or {}
    a = d.get("analysis") or {}
    parts = [
        f"An HNSW collection starting with {d['start_rows']:,} arXiv title vectors (bulk-built). A searcher process runs "
        f"queries back to back (alternating unfiltered and `{json.dumps((cfg.get('kinds') or {}).get('sel_15%'))}`, vecnest's "
        f"default effort); a writer process alternates idle and busy windows of {cfg.get('window_s')} s, busy = plain `add()` "
        f"calls of {cfg.get('batch')} rows, "
        + (f"write pacing on (`IndexConfig.delta_cap` {cfg['delta_cap']:,}: past `delta_limit` {cfg.get('delta_limit', 0):,} unmerged rows the writer is held after its commits until the merges keep up)" if cfg.get("delta_cap") else ("write pacing off (`delta_cap=None`)" if "delta_cap" in cfg else "no write pacing (before it existed)"))
        + (
            f". {cfg.get('reps')} repetitions of (idle, busy, draining): after each busy window the writer waits until the "
            f"merges its rows started have landed (`wait_for_maintenance()`), so every idle window measures the store at rest; "
            f"the first {cfg.get('settle_s')} s of each idle window are left out. Draining seconds per repetition: "
            f"{', '.join(f'{x:.1f}' for x in a['draining_seconds_per_rep'])}"
            if "draining_seconds_per_rep" in a
            else f". {cfg.get('reps')} (idle, busy) repetitions by the clock (before the draining phase existed: a merge could still run through an idle window); the first {cfg.get('settle_s')} s of "
            "each idle window, and any part of it the writer overran (an `add()` still running), are left out"
        )
        + ". **busy/idle QPS** = median latency idle / busy, per repetition and pooled, bracket widened to a bootstrap interval. Idle seconds "
        f"per repetition: {', '.join(f'{x:.1f}' for x in a.get('idle_seconds_per_rep') or [])}; busy: {', '.join(f'{x:.1f}' for x in a.get('busy_seconds_per_rep') or [])}.",
        "",
    ]
    rows = []
    for k, x in (a.get("kinds") or {}).items():
        rows.append([k, x.get("reps_used"), x["idle"].get("n"), x["busy"].get("n"), _f(x["idle"].get("p50_ms")), _f(x["busy"].get("p50_ms")), _f((x.get("draining") or {}).get("p50_ms")), _f(x["idle"].get("p99_ms"), "{:.2f}"), _f(x["busy"].get("p99_ms"), "{:.2f}"), _f(x["busy"].get("max_ms"), "{:,.1f}"), spread(x.get("busy_over_idle_qps")), x.get("verdict")])
    parts.append(table(["queries", "reps used", "idle queries", "busy queries", "idle p50 ms", "busy p50 ms", "draining p50 ms", "idle p99 ms", "busy p99 ms", "busy max ms", "busy/idle QPS [spread]", "goal ≥ 0.5×"], rows, "lrrrrrrrrrll"))
    ex = a.get("explained") or {}
    if ex:
        rows = [[k, w, x["n"], _f(x.get("delta_rows"), "{:,.0f}"), _f(x.get("ann_ms"), "{:.3f}"), _f(x.get("delta_ms"), "{:.3f}"), _f(x.get("total_ms"), "{:.3f}")] for k, by in ex.items() for w, x in by.items()]
        parts += ["", f"**Where a search's time goes**: in every {cfg.get('explain_every', 40)} queries, one of each kind is followed by another query of its kind with `explain=True` (the planner's full path, not the replay the timed queries take; not in the table above): median rows appended and not yet merged (the delta), the planner's own time in the index search and in the delta scan (ranked by sign sketches, the best rescored exactly), and the explained search's total.", "", table(["queries", "window", "samples", "delta rows", "index search ms", "delta scan ms", "explained search ms"], rows, "llrrrrr")]
    wc = a.get("writer_calls") or {}
    parts += ["", f"Writer: {a.get('rows_added', 0):,} rows in {wc.get('n', 0)} `add()` calls while the searcher ran; call p50 {_f(wc.get('p50_ms'), '{:.0f}')} ms, p99 {_f(wc.get('p99_ms'), '{:,.0f}')} ms, max {_f(wc.get('max_ms'), '{:,.0f}')} ms."]
    return "\n".join(parts + _plots(d))


# ---------------------------------------------------------------------------------------------
# cold-start.json
# ---------------------------------------------------------------------------------------------


def render_cold_start(d: dict[str, Any]) -> str:
    cfg = d.get("config") or {}
    parts = [
        f"{d['n']:,} arXiv title vectors with metadata; an exact (default) and an HNSW collection. Each case: "
        f"{cfg.get('runs')} fresh Python processes, interleaved round by round: `import vecnest` (timed apart), then "
        "`vecnest.open(path, read_only=True)` → `get_collection` → first filtered `search(k=10, include=())` → a second one "
        "(another query, same filter). Page cache `warm`: the store files were just read; `cold`: every store file evicted "
        "with `posix_fadvise(DONTNEED)` right before the process started. **open → first hit** is the median over the "
        f"processes, bracket = 95 % bootstrap interval of that median; target ≤ {cfg.get('goal_ms', 50):.0f} ms.",
        "",
        "Filters: " + "; ".join(f"{k} `{json.dumps(v)}` ({d['selectivity'][k]:.1%})" for k, v in (cfg.get("filters") or {}).items()) + ".",
        "",
    ]
    rows = []
    for x in d.get("cases") or []:
        rows.append([x["store"], x["filter"], x["page_cache"], _f(x["import_vecnest_s"], "{:.0f}"), _f(x["open_s"], "{:.1f}"), _f(x["get_collection_s"], "{:.1f}"), _f(x["first_search_s"], "{:.1f}"), spread(x["open_to_first_hit_ms"], " ms"), x["verdict"], _f(x["second_search_s"], "{:.2f}")])
    parts.append(table(["store", "filter", "page cache", "import vecnest ms", "open ms", "get_collection ms", "first search ms", "open → first hit [interval]", "goal ≤ 50 ms", "second search ms"], rows, "lllrrrrrlr"))
    return "\n".join(parts)


RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "equal-effort": render_equal_effort,
    "ingest-add": render_ingest,
    "search-during-ingest": render_concurrent,
    "cold-start": render_cold_start,
}
