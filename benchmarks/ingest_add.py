"""Plain ingestion through ``add()`` — no ``bulk()`` — against one bulk build of the same rows.

    .venv/bin/python benchmarks/ingest_add.py            # 74k rows, 3 rounds: ~12-15 min on a quiet 2-core machine
    .venv/bin/python benchmarks/ingest_add.py --quick    # smoke: 20k rows, 1 round

An HNSW collection (vecnest's defaults) receives the 74k arXiv title vectors with their metadata
in three ways, each in a fresh process, interleaved round by round (round 1: bulk, add-1k,
add-5k; round 2: add-1k, add-5k, bulk; ...):

* ``bulk``   — ``with col.bulk():`` ``add()`` in 10k-row batches: one index merge at the end;
* ``add-1k`` — plain ``add()`` calls of 1,000 rows, as an application ingesting a stream would;
* ``add-5k`` — plain ``add()`` calls of 5,000 rows;
* ``add-1k-unpaced`` — ``add-1k`` with write pacing off (``IndexConfig(delta_cap=None)``): the
  writer is never held for the merges, so every search meanwhile scans a delta that grows
  without bound (the other side of the trade-off ``search_during_ingest.py`` measures).

Every call is timed (per-call latency, its start time); each run ends with ``optimize()`` so all
three reach the same state (every row in the index) — the total includes it (the adds alone are
reported too). Issue targets: plain total ≤ 1.3× the bulk build (whole spread of the per-round
ratios), and p99 of the 1k-batch ``add()`` latency ≤ 3× its median (in every round). A PNG plots
the per-call latency over time. Writes ``benchmarks/results/ingest-add.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _arxiv import CACHE, load_point
from _cli import Session, common_args, save
from _memory import PeakSampler
from _provenance import provenance
from _stats import Spread, latency_summary, ratio_of_totals, verdict
from rich.table import Table

#: mode: (rows per add() call, inside bulk(), write pacing on)
MODES = {"bulk": (10_000, True, True), "add-1k": (1_000, False, True), "add-5k": (5_000, False, True), "add-1k-unpaced": (1_000, False, False)}
THROUGHPUT_GOAL = 1.3
TAIL_GOAL = 3.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common_args(p, "ingest-add.json", "20k rows, 1 round")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the three modes (default 3)")
    p.add_argument("--rows", type=int, default=None, help="rows to ingest (default: all 74k)")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--store", type=Path, default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


# ---------------------------------------------------------------------------------------------
# one run (in its own process)
# ---------------------------------------------------------------------------------------------


def child(mode: str, store: Path, rows: int, shared: Path) -> dict[str, Any]:
    import shutil

    import vecnest

    point = load_point(shared, lambda m: None, lambda label, total: (lambda n=1: None))
    n = min(rows, point.n)
    batch, bulk, paced = MODES[mode]
    ids = [str(i) for i in range(n)]
    metas = point.metas[:n]
    shutil.rmtree(store, ignore_errors=True)
    calls: list[tuple[float, float]] = []
    perf = time.perf_counter
    with PeakSampler() as peak:
        t_start = perf()
        db = vecnest.open(store)
        index = vecnest.IndexConfig(kind="hnsw") if paced else vecnest.IndexConfig(kind="hnsw", delta_cap=None)
        col = db.create_collection("bench", model=None, dim=point.base.shape[1], index=index, indexed_fields=["year", "n_authors", "listing_date", "primary_category"])
        ctx = col.bulk() if bulk else None
        if ctx:
            ctx.__enter__()
        for s in range(0, n, batch):
            t0 = perf()
            col.add(ids[s : s + batch], vectors=point.base[s : s + batch], metadatas=metas[s : s + batch])
            calls.append((t0 - t_start, perf() - t0))
        t0 = perf()
        if ctx:
            ctx.__exit__(None, None, None)  # the bulk block's one merge
        bulk_exit = perf() - t0
        adds_s = perf() - t_start
        t0 = perf()
        opt = col.optimize()
        optimize_s = perf() - t0
        total_s = perf() - t_start
        count = col.count()
        index = col.index_bytes()
        db.close()
    return {
        "mode": mode,
        "rows": n,
        "batch": batch,
        "calls": calls,
        "bulk_exit_s": bulk_exit if bulk else None,
        "adds_s": adds_s,
        "optimize_s": optimize_s,
        "optimize": {k: v for k, v in opt.items() if isinstance(v, (int, float, str))},
        "total_s": total_s,
        "count": count,
        "index_bytes": index,
        "peak_rss": peak.peak,
    }


def run_child(mode: str, store: Path, rows: int, shared: Path) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", mode, "--store", str(store), "--rows", str(rows), "--shared", str(shared)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if res.returncode != 0:
        raise RuntimeError(f"{mode} run failed (exit {res.returncode}): {res.stderr.strip()[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------
# analysis and output
# ---------------------------------------------------------------------------------------------


def analyse(runs: list[dict[str, Any]]) -> dict[str, Any]:
    by = {m: [r for r in runs if r["mode"] == m] for m in MODES}
    out: dict[str, Any] = {"modes": {}}
    for m, rs in by.items():
        lat = [dt for r in rs for _, dt in r["calls"]]
        out["modes"][m] = {
            "totals_s": [r["total_s"] for r in rs],
            "adds_s": [r["adds_s"] for r in rs],
            "optimize_s": [r["optimize_s"] for r in rs],
            "rows_per_s": [r["rows"] / r["total_s"] for r in rs],
            "calls": latency_summary(lat),
            "calls_per_round": [latency_summary([dt for _, dt in r["calls"]]) for r in rs],
            "peak_rss": [r["peak_rss"] for r in rs],
        }
    bulk = [r["total_s"] for r in by["bulk"]]
    out["verdicts"] = {}
    for m in ("add-1k", "add-5k", "add-1k-unpaced"):
        sp = ratio_of_totals([r["total_s"] for r in by[m]], bulk)
        sp_adds = ratio_of_totals([r["adds_s"] for r in by[m]], bulk)
        tails = [s["p99_ms"] / s["p50_ms"] for s in out["modes"][m]["calls_per_round"] if s.get("n")]
        tail = Spread(float(np.median(tails)), min(tails), max(tails), tuple(tails), None, None, len(tails)) if tails else None
        out["verdicts"][m] = {
            "total_vs_bulk": sp.to_json() if sp else None,
            "total_vs_bulk_verdict": verdict(sp, THROUGHPUT_GOAL, higher_is_better=False).value,
            "adds_only_vs_bulk": sp_adds.to_json() if sp_adds else None,
            "p99_over_median": tail.to_json() if tail else None,
            "p99_over_median_verdict": verdict(tail, TAIL_GOAL, higher_is_better=False).value,
        }
    return out


def plot(runs: list[dict[str, Any]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"bulk": "tab:green", "add-1k": "tab:red", "add-5k": "tab:blue", "add-1k-unpaced": "tab:gray"}
    fig, ax = plt.subplots(figsize=(10, 5))
    seen = set()
    for r in runs:
        starts = np.array([s for s, _ in r["calls"]])
        lat = np.array([dt for _, dt in r["calls"]])
        label = r["mode"] if r["mode"] not in seen else None
        seen.add(r["mode"])
        # each call is a bar from its start to its end, drawn at the height of its latency
        ax.hlines(lat * 1e3, starts, starts + lat, color=colors[r["mode"]], linewidth=2.5, alpha=0.7, label=label)
        ax.plot(starts + lat, lat * 1e3, ".", color=colors[r["mode"]], markersize=4, alpha=0.7)
        end = r["adds_s"]
        ax.axvline(r["total_s"], color=colors[r["mode"]], linewidth=0.6, linestyle=":")
        if r["mode"] == "bulk" and r.get("bulk_exit_s"):
            ax.plot([end], [r["bulk_exit_s"] * 1e3], marker="*", markersize=12, color=colors["bulk"], linestyle="none", label="bulk(): the merge at the block's end" if "merge" not in seen else None)
            seen.add("merge")
    ax.set_yscale("log")
    ax.set_xlabel("seconds since the store was opened (each bar: one call, from its start to its end; dotted: end of the final optimize())")
    ax.set_ylabel("add() call latency, ms (log)")
    ax.set_title(f"Per-call add() latency while ingesting {runs[0]['rows']:,} rows into an HNSW collection (every round)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def print_summary(ses: Session, out: dict[str, Any]) -> None:
    t = Table(title=f"Ingesting {out['rows']:,} rows into an HNSW collection ({out['config']['rounds']} interleaved rounds)")
    for c in ("mode", "total s (rounds)", "rows/s", "call p50 ms", "p95", "p99", "max", "vs bulk [spread] (goal ≤ 1.3×)", "p99/median (goal ≤ 3)"):
        t.add_column(c, justify="left" if c == "mode" else "right")
    for m, d in out["analysis"]["modes"].items():
        v = out["analysis"]["verdicts"].get(m, {})
        sp, tail = v.get("total_vs_bulk"), v.get("p99_over_median")
        c = d["calls"]
        t.add_row(
            m,
            ", ".join(f"{x:.1f}" for x in d["totals_s"]),
            f"{np.median(d['rows_per_s']):,.0f}",
            f"{c.get('p50_ms', 0):.1f}",
            f"{c.get('p95_ms', 0):.1f}",
            f"{c.get('p99_ms', 0):.1f}",
            f"{c.get('max_ms', 0):.1f}",
            f"{sp['point']:.2f} [{sp['lo']:.2f}–{sp['hi']:.2f}] {v['total_vs_bulk_verdict']}" if sp else "–",
            f"{tail['point']:.1f} [{tail['lo']:.1f}–{tail['hi']:.1f}] {v['p99_over_median_verdict']}" if tail else "–",
        )
    ses.console.print(t)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    shared = args.shared.resolve()
    if args.child:
        print(json.dumps(child(args.child, args.store, args.rows, shared)))
        return 0
    rounds = 1 if args.quick and args.rounds == 3 else args.rounds
    started = time.monotonic()
    with Session() as ses:
        point = load_point(shared, ses.log, ses.start_task)
        rows = min(args.rows or (20_000 if args.quick else point.n), point.n)
        del point
        out: dict[str, Any] = {"benchmark": "ingest-add", "title": "Ingestion through plain add() vs one bulk build", "provenance": provenance(), "config": {"rounds": rounds, "rows": rows, "quick": args.quick, "modes": {m: {"batch": b, "bulk": k, "paced": pc} for m, (b, k, pc) in MODES.items()}}, "rows": rows}
        order = list(MODES)
        schedule = [order[r % len(order) :] + order[: r % len(order)] for r in range(rounds)]
        adv = ses.start_task(f"{rounds} rounds × {len(order)} ingests of {rows:,} rows (fresh process each)", len(order) * rounds)
        runs = []
        for r, modes in enumerate(schedule):
            for m in modes:
                res = run_child(m, CACHE / "ingest-add" / "store", rows, shared)
                res["round"] = r + 1
                runs.append(res)
                ses.log(f"round {r + 1} {m}: {res['total_s']:.1f} s ({len(res['calls'])} calls, slowest {max(dt for _, dt in res['calls']) * 1e3:,.0f} ms, optimize {res['optimize_s']:.1f} s)")
                adv(1)
        out["runs"] = [{k: v for k, v in r.items()} for r in runs]
        out["analysis"] = analyse(runs)
        out["plots"] = [plot(runs, args.out.parent / "ingest-add-latency.png").name]
        out["duration_s"] = time.monotonic() - started
        print_summary(ses, out)
        save(ses, args.out, out, report=not args.no_report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
