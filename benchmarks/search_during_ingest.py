"""Search latency while another process ingests, against the same searches while the store is at rest.

    .venv/bin/python benchmarks/search_during_ingest.py           # ~5 min on a quiet 2-core machine
    .venv/bin/python benchmarks/search_during_ingest.py --quick   # smoke: 20k rows, 2 × 6 s windows

An HNSW collection holding half of the 74k arXiv title vectors (bulk-built beforehand) is opened
by two processes: a **searcher** runs queries one after another for the whole run (held-out
titles, alternating unfiltered and ``"cs.LG" in categories`` (15 %), vecnest's default effort),
recording each query's start time and latency; a **writer** alternates three phases per
repetition: **idle** — it waits ``--window-s`` seconds, the store at rest; **busy** — plain
``add()`` calls of 1,000 rows for ``--window-s`` seconds (no ``bulk()``: every merge the engine
does happens inside the window), rows cycling through the corpus under new ids, each pass after
the first one perturbed (see ``fresh_vectors``); **draining** — it
writes nothing and waits until the merges its rows started have landed
(``wait_for_maintenance()``), so that the next idle window measures a store at rest, not one still
merging and still searching a delta beside its graph (CHANGES: the idle windows used to follow
the busy ones by the clock, and from the second repetition on a merge was still running through
them, their searches scanning a delta of ~40k rows: that "idle" was ~4× slower than the first
one, and the ratio's spread ran from 0.22 to 0.98). The searcher stops when the writer is done.
Queries starting in the first ``--settle`` seconds of an idle window are left out (the searcher
loads the merged index then).

``--unpaced`` runs the same with write pacing off (``IndexConfig(delta_cap=None)``): the writer
is never held, and the delta the searches scan grows as fast as it appends.

Result: per query kind, the median-latency ratio idle / busy (= busy QPS / idle QPS) per
repetition and pooled, with a bootstrap interval; issue target ≥ 0.5 (whole spread). Also the
latency tails (p99, max) in each state, the latency while the merges drain, how long they took
to land, and the writer's per-call latency. Writes ``benchmarks/results/search-during-ingest.json``.
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
from _arxiv import CACHE, build_store, load_point
from _cli import Session, common_args, save
from _provenance import provenance
from _stats import latency_summary, ratio_unpaired, verdict, window_of
from rich.table import Table

GOAL = 0.5
BATCH = 1_000
KINDS = {"unfiltered": None, "sel_15%": {"categories": {"$contains": "cs.LG"}}}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common_args(p, "search-during-ingest.json", "20k rows, 2 repetitions of 6 s windows")
    p.add_argument("--reps", type=int, default=4, help="(idle, busy) window pairs (default 4)")
    p.add_argument("--window-s", type=float, default=20.0, help="length of each window (default 20 s)")
    p.add_argument("--settle", type=float, default=1.0, help="seconds at the start of an idle window left out (default 1)")
    p.add_argument("--unpaced", action="store_true", help="turn write pacing off (IndexConfig(delta_cap=None)); result file search-during-ingest-unpaced.json unless --out")
    p.add_argument("--delta-cap", type=int, default=None, help="write pacing's IndexConfig.delta_cap (default: vecnest's); an experiment: use a scratch --out")
    p.add_argument("--child", choices=("searcher", "writer"), default=None, help=argparse.SUPPRESS)
    p.add_argument("--store", type=Path, default=None, help=argparse.SUPPRESS)
    p.add_argument("--t0", type=float, default=None, help=argparse.SUPPRESS)
    p.add_argument("--first-row", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--result", type=Path, default=None, help=argparse.SUPPRESS)
    p.add_argument("--done", type=Path, default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


# ---------------------------------------------------------------------------------------------
# the two processes
# ---------------------------------------------------------------------------------------------


def searcher(store: Path, t0: float, done: Path, shared: Path) -> dict[str, Any]:
    import vecnest

    point = load_point(shared, lambda m: None, lambda label, total: (lambda n=1: None))
    q = point.queries
    kinds = list(KINDS.items())
    db = vecnest.open(store, read_only=True)
    col = db.get_collection("bench", model=None)
    for i in range(20):  # warm-up before the clock starts
        name, where = kinds[i % 2]
        col.search(q[i % len(q)], k=10, where=where, include=())
    while time.time() < t0:
        time.sleep(0.01)
    rec: list[tuple[float, float, int]] = []
    explained: list[tuple[float, int, int, float, float, float]] = []  # (start, kind, delta rows, ann ms, delta ms, total ms)
    i = 0
    perf = time.perf_counter
    base_wall, base_perf = time.time(), perf()
    next_check = base_perf
    while True:
        start = perf()
        if start >= next_check:  # (the writer's "done" file, looked for every 0.2 s)
            if done.exists():
                break
            next_check = start + 0.2
        now = base_wall + (start - base_perf)
        name, where = kinds[i % 2]
        col.search(q[i % len(q)], k=10, where=where, include=())
        rec.append((now - t0, perf() - start, i % 2))
        if i % EXPLAIN_EVERY < 2:  # (another query, explained: where its time goes; not in rec)
            t_e = perf()
            # (half the query list away: the query just timed would find its walk in the CPU caches)
            plan = col.search(q[(i + len(q) // 2) % len(q)], k=10, where=where, include=(), explain=True).plan
            took = perf() - t_e
            if plan is not None:
                tm = plan.timings_ms or {}
                explained.append((now - t0, i % 2, int(plan.delta_rows), float(tm.get("ann_ms", np.nan)), float(tm.get("delta_ms", np.nan)), took * 1e3))
        i += 1
    db.close()
    return {"queries": rec, "explained": explained}


#: In every this many queries, one of each kind is followed by another query of its kind with
#: ``explain=True``: the planner's own timings of its index search and of the delta scan.
EXPLAIN_EVERY = 40
NOISE = 0.5  # norm of the perturbation given to a re-used corpus row (cosine to it ≈ 0.89)


def fresh_vectors(base: np.ndarray, row: int, n: int) -> np.ndarray:
    """The vectors of rows ``row … row + n`` of an endless stream cycling through ``base``: the
    first pass is the corpus itself; each later pass perturbs every row by seeded Gaussian noise of
    norm ≈ ``NOISE`` and renormalises it, so that the store never fills with exact duplicates
    (CHANGES: the writer used to re-add the corpus verbatim under new ids — past 74k rows the
    graph held thousands of identical vectors, a degenerate input no application produces, and
    the calibration's recall at 1.6M rows topped out at 0.81 on the ties)."""
    idx = np.arange(row, row + n) % len(base)
    vecs = base[idx].astype(np.float32)
    again = np.arange(row, row + n) >= len(base)
    if again.any():
        rng = np.random.default_rng(row)
        vecs[again] += rng.standard_normal((int(again.sum()), base.shape[1]), dtype=np.float32) * np.float32(NOISE / np.sqrt(base.shape[1]))
        vecs[again] /= np.linalg.norm(vecs[again], axis=1, keepdims=True)
    return vecs


def writer(store: Path, t0: float, reps: int, window: float, first_row: int, done: Path, shared: Path) -> dict[str, Any]:
    """Per repetition: an idle window (the store at rest), a busy window of ``add()`` calls,
    then a wait until the merges they started have landed; ``done`` is created at the end."""
    import vecnest

    point = load_point(shared, lambda m: None, lambda label, total: (lambda n=1: None))
    db = vecnest.open(store)
    col = db.get_collection("bench", model=None)
    calls: list[tuple[float, float]] = []
    idle: list[tuple[float, float]] = []
    busy: list[tuple[float, float]] = []
    draining: list[tuple[float, float]] = []
    row, serial = first_row, 0
    try:
        while time.time() < t0:
            time.sleep(0.005)
        for _ in range(reps):
            i_start = time.time()
            time.sleep(window)
            idle.append((i_start - t0, time.time() - t0))
            b_start = time.time()
            b_end = b_start + window
            while time.time() < b_end:
                idx = np.arange(row, row + BATCH) % point.n
                ids = [f"w{serial}-{i}" for i in idx.tolist()]
                vecs = fresh_vectors(point.base, row, BATCH)
                s = time.time()
                col.add(ids, vectors=vecs, metadatas=[point.metas[i] for i in idx.tolist()])
                calls.append((s - t0, time.time() - s))
                row, serial = row + BATCH, serial + 1
            d_start = time.time()
            col.wait_for_maintenance()
            busy.append((b_start - t0, d_start - t0))
            draining.append((d_start - t0, time.time() - t0))
        count = col.count()
    finally:
        done.touch()
        db.close()
    return {"calls": calls, "idle": idle, "busy": busy, "draining": draining, "rows_added": serial * BATCH, "final_count": count}


def spawn(args: list[str], result: Path, log: Path) -> subprocess.Popen[bytes]:
    """A child process writing its result to ``result`` (a file: a pipe would fill up and block
    the child while the parent waits) and its messages to ``log``."""
    result.unlink(missing_ok=True)
    with log.open("wb") as fh:
        return subprocess.Popen([sys.executable, str(Path(__file__).resolve()), *args, "--result", str(result)], stdout=subprocess.DEVNULL, stderr=fh)


def collect(proc: subprocess.Popen[bytes], result: Path, log: Path, what: str) -> dict[str, Any]:
    proc.wait(timeout=3600)
    if proc.returncode != 0 or not result.is_file():
        raise RuntimeError(f"{what} failed (exit {proc.returncode}): {log.read_text(errors='replace').strip()[-2000:]}")
    return json.loads(result.read_text())


# ---------------------------------------------------------------------------------------------
# analysis
# ---------------------------------------------------------------------------------------------


def analyse(sr: dict[str, Any], wr: dict[str, Any], settle: float) -> dict[str, Any]:
    q = np.asarray(sr["queries"], dtype=np.float64)  # (n, 3): start, latency, kind
    # the writer's own record of its phases: idle (the store at rest; its first ``settle``
    # seconds left out), busy (its add() calls, the last one's overrun included), draining
    idle_w = [(float(s) + settle, float(e)) for s, e in wr["idle"]]
    busy_w = [(float(s), float(e)) for s, e in wr["busy"]]
    drain_w = [(float(s), float(e)) for s, e in wr["draining"]]
    reps = len(busy_w)
    edges = []
    for r in range(reps):
        edges += [(*idle_w[r], f"idle{r}"), (*busy_w[r], f"busy{r}"), (*drain_w[r], f"drain{r}")]
    labels = np.asarray(window_of(q[:, 0], edges), dtype=object)
    out: dict[str, Any] = {
        "kinds": {},
        "idle_seconds_per_rep": [e - s for s, e in idle_w],
        "busy_seconds_per_rep": [e - s for s, e in busy_w],
        "draining_seconds_per_rep": [e - s for s, e in drain_w],
    }
    for k, name in enumerate(KINDS):
        idle, busy, drain = [], [], []
        for r in range(reps):
            of_kind = q[:, 2] == k
            sel_i, sel_b, sel_d = ((labels == f"{w}{r}") & of_kind for w in ("idle", "busy", "drain"))
            if sel_i.any() and sel_b.any():
                idle.append(q[sel_i, 1])
                busy.append(q[sel_b, 1])
            if sel_d.any():
                drain.append(q[sel_d, 1])
        sp = ratio_unpaired(idle, busy) if idle else None  # idle latency / busy latency = busy QPS / idle QPS
        out["kinds"][name] = {
            "reps_used": len(idle),
            "idle": latency_summary(np.concatenate(idle) if idle else []),
            "busy": latency_summary(np.concatenate(busy) if busy else []),
            "draining": latency_summary(np.concatenate(drain) if drain else []),
            "idle_per_rep": [latency_summary(x) for x in idle],
            "busy_per_rep": [latency_summary(x) for x in busy],
            "busy_over_idle_qps": sp.to_json() if sp else None,
            "verdict": verdict(sp, GOAL, higher_is_better=True).value,
        }
    out["explained"] = explained_summary(sr.get("explained") or [], edges)
    out["writer_calls"] = latency_summary([dt for _, dt in wr["calls"]])
    out["rows_added"] = wr["rows_added"]
    return out


def explained_summary(explained: list[list[float]], edges: list[tuple[float, float, str]]) -> dict[str, Any]:
    """Per kind of query and kind of window (idle, busy, draining; repetitions pooled): the
    explained searches' median delta rows, index-search ms, delta-scan ms and total ms."""
    if not explained:
        return {}
    e = np.asarray(explained, dtype=np.float64)  # (n, 6): start, kind, delta rows, ann ms, delta ms, total ms
    phase = np.asarray([(w or "").rstrip("0123456789") for w in window_of(e[:, 0], edges)], dtype=object)
    out: dict[str, Any] = {}
    for k, name in enumerate(KINDS):
        out[name] = {}
        for w in ("idle", "busy", "drain"):
            sel = (e[:, 1] == k) & (phase == w)
            if sel.any():
                med = [float(np.nanmedian(c)) if np.isfinite(c).any() else None for c in e[sel, 2:].T]  # (a plan without an index search: no ann_ms)
                out[name][w] = {"n": int(sel.sum()), **dict(zip(("delta_rows", "ann_ms", "delta_ms", "total_ms"), med, strict=True))}
    return out


def plot(sr: dict[str, Any], wr: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    q = np.asarray(sr["queries"], dtype=np.float64)
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for b0, b1 in wr["busy"]:
        ax.axvspan(b0, b1, color="tab:orange", alpha=0.15)
    for d0, d1 in wr.get("draining", []):
        ax.axvspan(d0, d1, color="tab:gray", alpha=0.12)
    for k, name in enumerate(KINDS):
        m = q[:, 2] == k
        ax.plot(q[m, 0], q[m, 1] * 1e3, ".", markersize=1.5, alpha=0.5, label=f"search: {name}")
    ax.plot([s + dt for s, dt in wr["calls"]], [dt * 1e3 for _, dt in wr["calls"]], "k^", markersize=4, label="add() of 1,000 rows (writer)")
    ax.set_yscale("log")
    ax.set_xlabel("seconds (orange: the writer is ingesting; grey: its merges are still landing)")
    ax.set_ylabel("latency, ms (log)")
    ax.set_title("Search latency while another process ingests, while its merges land, and at rest", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, markerscale=4)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    shared = args.shared.resolve()
    if args.quick:
        args.reps, args.window_s = min(args.reps, 2), min(args.window_s, 6.0)
    if args.child == "searcher":
        args.result.write_text(json.dumps(searcher(args.store, args.t0, args.done, shared)))
        return 0
    if args.child == "writer":
        args.result.write_text(json.dumps(writer(args.store, args.t0, args.reps, args.window_s, args.first_row, args.done, shared)))
        return 0
    started = time.monotonic()
    suffix = "-unpaced" if args.unpaced else ""
    if args.unpaced and args.out.name == "search-during-ingest.json":
        args.out = args.out.with_name("search-during-ingest-unpaced.json")
    import vecnest

    if args.unpaced:
        index = vecnest.IndexConfig(kind="hnsw", delta_cap=None)
    else:
        index = vecnest.IndexConfig(kind="hnsw") if args.delta_cap is None else vecnest.IndexConfig(kind="hnsw", delta_cap=args.delta_cap)
    with Session() as ses:
        point = load_point(shared, ses.log, ses.start_task)
        half = (20_000 if args.quick else point.n) // 2
        store = CACHE / "search-during-ingest" / "store"
        adv = ses.start_task(f"bulk-build the starting store ({half:,} rows)", half)
        built = build_store(store, point, index=index, rows=slice(0, half), advance=adv)
        del point
        t0 = time.time() + 15.0  # both processes load their data first
        tmp = store.parent
        done = tmp / "writer.done"
        done.unlink(missing_ok=True)
        common = ["--store", str(store), "--t0", repr(t0), "--reps", str(args.reps), "--window-s", str(args.window_s), "--shared", str(shared), "--done", str(done)]
        s = spawn(["--child", "searcher", *common], tmp / "searcher.json", tmp / "searcher.log")
        w = spawn(["--child", "writer", "--first-row", str(half), *common], tmp / "writer.json", tmp / "writer.log")
        total = 15.0 + 2 * args.reps * args.window_s  # (+ the merges' draining: not known ahead)
        adv = ses.start_task(f"{args.reps} × (idle {args.window_s:.0f} s, busy {args.window_s:.0f} s, merges landing)", int(total))
        while s.poll() is None or w.poll() is None:
            time.sleep(1.0)
            adv(1)
            if w.poll() is not None:
                done.touch()  # (a writer that died before its own "done": the searcher stops too)
        sr = collect(s, tmp / "searcher.json", tmp / "searcher.log", "searcher")
        wr = collect(w, tmp / "writer.json", tmp / "writer.log", "writer")
        out: dict[str, Any] = {
            "benchmark": "search-during-ingest",
            "title": "Search during ingestion vs idle" + (" — write pacing off" if args.unpaced else ""),
            "provenance": provenance(),
            "config": {"reps": args.reps, "window_s": args.window_s, "settle_s": args.settle, "batch": BATCH, "quick": args.quick, "kinds": {k: v for k, v in KINDS.items()}, "delta_cap": index.delta_cap, "delta_limit": index.delta_limit, "explain_every": EXPLAIN_EVERY},
            "start_rows": half,
            "start_build": built,
            "analysis": analyse(sr, wr, args.settle),
            "writer": {"idle_windows": wr["idle"], "busy_windows": wr["busy"], "draining_windows": wr["draining"], "final_count": wr["final_count"], "calls": wr["calls"]},
        }
        out["plots"] = [plot(sr, wr, args.out.parent / f"search-during-ingest{suffix}.png").name]
        out["duration_s"] = time.monotonic() - started
        t = Table(title="Search while another process ingests vs idle (goal: busy QPS ≥ 0.5× idle)")
        for c in ("query", "idle p50 ms", "busy p50 ms", "draining p50 ms", "idle p99", "busy p99", "busy max", "busy/idle QPS [spread]", "verdict"):
            t.add_column(c, justify="left" if c in ("query", "verdict") else "right")
        for k, d in out["analysis"]["kinds"].items():
            sp = d["busy_over_idle_qps"] or {}
            t.add_row(k, f"{d['idle'].get('p50_ms', 0):.2f}", f"{d['busy'].get('p50_ms', 0):.2f}", f"{d['draining'].get('p50_ms', 0):.2f}", f"{d['idle'].get('p99_ms', 0):.2f}", f"{d['busy'].get('p99_ms', 0):.2f}", f"{d['busy'].get('max_ms', 0):.1f}", f"{sp.get('point', float('nan')):.2f} [{sp.get('lo', float('nan')):.2f}–{sp.get('hi', float('nan')):.2f}]", d["verdict"])
        ses.console.print(t)
        save(ses, args.out, out, report=not args.no_report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
