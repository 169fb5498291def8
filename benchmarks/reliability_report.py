"""Render RELIABILITY.md from the JSON figures of the server's reliability runs.

    python benchmarks/reliability_report.py benchmarks/results/reliability RELIABILITY.md

Reads ``server_crash.json`` (tests/integration/test_server_crash.py with
``VECNEST_RELIABILITY_OUT``) and ``server_load.json`` (benchmarks/server_load.py); every number
in the page comes from those files.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _sections import replace_section


def _row(name: str, r: dict) -> str:
    lat = r["latency"]
    cell = lambda k: f"{lat[k]['p50_ms']:.1f} / {lat[k]['p95_ms']:.1f} / {lat[k]['p99_ms']:.1f}" if lat.get(k) else "–"
    return (f"| {name} | {r['throughput_rps']:,.0f} | {r['search_qps']:,.0f} | {cell('vector')} | {cell('vector_filtered')} | "
            f"{cell('text')} | {cell('write')} | {r['errors'].get('server_5xx', 0)} | {r.get('lost_acknowledged_writes', '–')} |")


def _median_run(runs: list[dict]) -> dict:
    """The round with the median throughput (its latencies are shown as they were measured)."""
    return sorted(runs, key=lambda r: r["throughput_rps"])[len(runs) // 2]


def _spread(x: dict, fmt: str = "{:.2f}") -> str:
    return f"{fmt.format(x['median'])} ({fmt.format(x['min'])}–{fmt.format(x['max'])}, {x['n']} rounds)"


def _load_section(d: dict) -> list[str]:
    cfg = d["config"]
    prov = d.get("provenance", {})
    out = ["## Load", "",
           f"`{d.get('command', 'benchmarks/server_load.py')}` at commit `{str(prov.get('commit', '?'))[:10]}` "
           f"({prov.get('date', d['machine'].get('date', '?'))}; {d['machine'].get('cpu_count', d['machine'].get('cores'))} cores, "
           f"{d['machine'].get('cpu_model', '')}), {d.get('elapsed_s', 0) / 60:.1f} min. "
           f"{cfg['clients']} concurrent clients (threads of one process on the same machine, one HTTP connection each) "
           f"for {cfg['seconds']:g} s per run, {cfg['reps']} interleaved rounds, against {cfg['rows']:,} arXiv title vectors "
           f"(all-MiniLM-L6-v2, passed in as vectors), both servers on HNSW M {d['hnsw']['M']} / efConstruction "
           f"{d['hnsw']['ef_construction']}. Full mix: {cfg['write_fraction']:.0%} writes (upserts of 8), "
           f"{cfg['text_fraction']:.0%} text queries embedded by the server, the rest vector queries, half of them "
           "filtered by primary category; k = 10, ids and scores returned. The peer mix is the same without text "
           "queries (Chroma's server does not embed text). "
           + ("**Smoke run: small and short — the numbers say only that the harness works.**" if cfg.get("smoke") else ""), ""]
    rec = d["recall_at_10"]
    out += [f"| recall@10 vs exact (untimed, {cfg['recall_queries']} queries) | unfiltered | filtered by category |",
            "|---|---:|---:|"]
    for name, r in rec.items():
        extra = f" (ef_search {d['chroma_tuning']['ef_search']}, the smallest of the grid reaching 0.95 on both)" if name == "chroma" else " (calibrated default effort)"
        out.append(f"| {name}{extra} | {r['vector']:.3f} | {r['vector_filtered']:.3f} |")
    out += ["", "Median round of each system (the round with the median throughput):", "",
            "| system | requests/s | searches/s | vector p50/p95/p99 ms | filtered p50/p95/p99 ms | text p50/p95/p99 ms | "
            "write p50/p95/p99 ms | 5xx | lost acknowledged writes |",
            "|---|---:|---:|---|---|---|---|---:|---:|"]
    names = {"vecnest_full_mix": "vecnest serve, full mix", "vecnest_peer_mix": "vecnest serve, peer mix",
             "chroma": f"Chroma {d.get('chroma_version', '')} server (`chroma run`), peer mix"}
    for key, runs in d["runs"].items():
        out.append(_row(names.get(key, key), _median_run(runs)))
    out.append(_row("vecnest embedded (in-process, searches only, full mix)", d["embedded"]))
    out += ["", f"Over all runs: **{d['server_5xx']}** 5xx, **{d['lost_acknowledged_writes']}** acknowledged writes lost "
            "(each run's writes looked up afterwards)."]
    if "comparison" in d:
        c = d["comparison"]
        yes = lambda ok: "**met**" if ok else "**not met**"
        out += ["", "vecnest against Chroma, peer mix, per-round ratios (median (min–max)); met only when the whole spread clears 1:", "",
                "| target | measured | |", "|---|---|---|",
                f"| throughput vecnest / Chroma ≥ 1 | {_spread(c['throughput_ratio'])} | {yes(c['throughput_met'])} |",
                f"| p99 unfiltered vecnest / Chroma ≤ 1 | {_spread(c['p99_ratio_vector'])} | {yes(c['p99_met_vector'])} |",
                f"| p99 filtered vecnest / Chroma ≤ 1 | {_spread(c['p99_ratio_vector_filtered'])} | {yes(c['p99_met_vector_filtered'])} |"]
    over = d.get("server_overhead_ms_p50", {})
    out += ["", "Server overhead per search under this load (HTTP p50 of the full mix minus embedded p50, median round; "
            "it includes queueing: 16 clients, the server and its HTTP stack share 2 cores): "
            + ", ".join(f"{k} {v:.2f} ms" for k, v in over.items()), ""]
    return out


def render(folder: Path) -> str:
    out = ["# RELIABILITY — vecnest serve", "",
           "Generated by `benchmarks/reliability_report.py` from the JSON in "
           f"`{folder}`; rerun with `make soak`. Loopback only, bounded runs.", ""]
    crash = folder / "server_crash.json"
    if crash.exists():
        c = json.loads(crash.read_text())
        out += ["## Crash: SIGKILL during writes", "",
                f"{c['kills']} times the server process was killed with SIGKILL while {c['writers']} clients wrote "
                f"batches of {c['batch_size']} (add and upsert), at a random moment 0.15–0.8 s after start-up.", "",
                "| measure | value |", "|---|---:|",
                f"| batches acknowledged to a client | {c['batches_acknowledged']:,} |",
                f"| batches attempted | {c['batches_attempted']:,} |",
                f"| acknowledged batches lost after restart | **{c['acknowledged_lost']}** |",
                f"| torn batches (partly stored) | **{c['torn_batches']}** |",
                f"| unacknowledged batches that committed anyway (killed after commit, before the reply) | {c['unacknowledged_but_committed']} |",
                f"| documents stored | {c['documents_stored']:,} |",
                f"| store check | {c['check']} |",
                f"| run time | {c['seconds']:.0f} s |", ""]
    load = folder / "server_load.json"
    if load.exists():
        out += _load_section(json.loads(load.read_text()))
    out += ["## Also proven in CI (`make test`)", "",
            "- congruence: every operation through `vecnest.Client` against a real uvicorn equals the embedded result and error (tests/integration/test_congruence.py)",
            "- bad input and keys: 50 cases, each the right 4xx, store checksum unchanged (tests/integration/test_server_bad_input.py)",
            "- fuzzing: schemathesis on every /v1 operation, 0 5xx, 0 schema violations (tests/property/test_openapi_fuzz.py); hypothesis on the filter parser and the JSONL reader (tests/property/test_input_fuzz.py)",
            "- graceful shutdown finishes the write in flight; reads run side by side (tests/integration/test_server_concurrency.py)", ""]
    return "\n".join(out)


if __name__ == "__main__":
    replace_section(Path(sys.argv[2]), "server", render(Path(sys.argv[1])).replace("# RELIABILITY — vecnest serve", "## The server (`vecnest serve`)", 1))
    print(f"wrote {sys.argv[2]}")
