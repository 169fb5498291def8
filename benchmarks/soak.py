"""The long reliability proofs (``make soak``): the big counts behind the CI tests, with their
figures written to ``benchmarks/results/soak.json`` and ``RELIABILITY.md``.

1. **kill -9** (``tests/integration/_crash.py``): a writer doing adds, upserts, deletes by id and
   by filter, metadata and vector updates, ``optimize()`` and create/fill/drop of a side
   collection on an HNSW collection with ``delta_limit=40`` (background merges all the time),
   killed at random moments and right inside ``optimize()`` / ``drop_collection``; after each
   kill ``vecnest check`` passes, the store equals the model of every acknowledged write (the
   write in flight whole or absent), and ANN recall@10 against exact search is ≥ 0.9.
2. **linearisable reads** (``tests/integration/_linear.py``): 4 reader processes check each
   search against the writer's last acknowledged call, published before the search began.
3. **races**: processes creating one new store and collection at once; processes optimizing
   one collection at once.

Usage::

    .venv/bin/python benchmarks/soak.py                 # 120 kills, 60 s of reads, 10 races (~6 min)
    .venv/bin/python benchmarks/soak.py --kills 300
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import REPO_ROOT, RESULTS_DIR, command_line, machine_info, write_json
from _sections import replace_section

sys.path.insert(0, str(REPO_ROOT / "tests"))
from integration._crash import Campaign  # noqa: E402

INTEGRATION = REPO_ROOT / "tests" / "integration"


def kills(n: int, seed: int) -> dict[str, Any]:
    """The kill -9 campaign."""
    with tempfile.TemporaryDirectory() as tmp:
        campaign = Campaign(Path(tmp) / "s")
        rng = np.random.default_rng(seed)
        start = time.perf_counter()
        try:
            for i in range(n):
                campaign.cycle(rng)
                if (i + 1) % 10 == 0:
                    print(f"  {i + 1} kills, {len(campaign.applied)} operations committed", flush=True)
        finally:
            campaign.close()
        return {**campaign.summary(), "documents_at_end": len(campaign.model.docs), "seconds": round(time.perf_counter() - start, 1)}


def linear(seconds: float, readers: int) -> dict[str, Any]:
    """Reader processes checking every search against the last acknowledged write."""
    worker = INTEGRATION / "_linear.py"
    with tempfile.TemporaryDirectory() as tmp:
        store, seq = Path(tmp) / "s", Path(tmp) / "seq"
        spawn = lambda *a: subprocess.Popen([sys.executable, str(worker), *map(str, a)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # noqa: E731
        writer = spawn("writer", store, seq, 10**6)
        procs = [spawn("reader", store, seq, seconds) for _ in range(readers)]
        results = []
        for p in procs:
            out, err = p.communicate(timeout=seconds + 300)
            if p.returncode:
                raise RuntimeError(err[-2000:])
            results.append(json.loads(out.strip().splitlines()[-1]))
        writer.kill()
        writer.communicate()
    return {
        "readers": readers,
        "seconds": seconds,
        "checked_reads": sum(r["checked"] for r in results),
        "stale_reads": sum(r["stale"] for r in results),
        "errors": sum(r["errors"] for r in results),
        "writer_calls_seen": max(r["last"] for r in results),
    }


def races(rounds: int, procs: int) -> dict[str, Any]:
    """Racing creators of one new store and collection, and racing optimizers."""
    worker = INTEGRATION / "_concurrent.py"
    created_ok = optimized_ok = 0
    for r in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "new" / "store"
            at = time.time() + 2.5
            ps = [subprocess.Popen([sys.executable, str(worker), "create", str(root), "c", f"p{i}", str(at)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(procs)]
            created_ok += sum(p.wait(120) == 0 for p in ps)
            at = time.time() + 2.5
            ps = [subprocess.Popen([sys.executable, str(worker), "optimize", str(root), "c", str(at)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
            optimized_ok += sum(p.wait(120) == 0 for p in ps)
            print(f"  race round {r + 1}: {created_ok} creators ok, {optimized_ok} optimizers ok", flush=True)
    return {"rounds": rounds, "creators": rounds * procs, "creators_ok": created_ok, "optimizers": rounds * 2, "optimizers_ok": optimized_ok}


def _load(machine: dict[str, Any]) -> str:
    load = machine.get("loadavg_at_start")
    return " / ".join(f"{x:.1f}" for x in load) if load else "?"


def report(data: dict[str, Any]) -> str:
    """RELIABILITY.md from the soak's JSON."""
    k, lin, rc, m = data["kills"], data["linear"], data["races"], data["machine"]
    inside = ", ".join(f"{v} in {name}" for name, v in k["kills_inside"].items())
    return f"""# Reliability

Written by `benchmarks/soak.py` (`make soak`) on {data['date']}; command `{data['command']}`;
{m.get('cpu_model') or 'cpu ?'}, {m.get('cpu_affinity') or m.get('cpu_count')} cores usable, load average
{_load(m)} at the start (other work shared the machine); vecnest {m['versions'].get('vecnest')} at
commit {(m.get('git_commit') or '?')[:10]}.
The CI suite runs the same checks with smaller counts (`tests/integration/test_crash.py`,
`test_linearizable.py`, `test_concurrency.py`, `test_hostile_files.py`).

## kill -9

A writer process doing adds, upserts, deletes (by id and by filter), in-place metadata updates,
vector updates, `optimize()` and a side collection created, filled and dropped, on an HNSW
collection with `delta_limit=40` (index merges in a background thread all the time), was killed
with SIGKILL **{k['kills']} times** — at random moments, and right after entering `optimize()` or
the create/drop of the side collection. After every kill:

- `vecnest check` passed (exit code 0) — **{k['kills']} of {k['kills']}**;
- the collection held exactly every acknowledged write ({k['operations_acknowledged']} acknowledged
  operations over the run, {k['operations_committed']} committed in all, {k['documents_at_end']}
  documents at the end), compared id by id with the exact vector bits, text and metadata;
- the write in flight was found whole {k['in_flight_write_found_committed_whole']} times and absent
  whole {k['in_flight_write_found_absent_whole']} times, never in part;
- ANN search agreed with exact search: recall@10 ≥ 0.9 in each of {k['ann_recall_checks']} checks
  (lowest {k['min_ann_recall_at_10']}).

Kills landed inside an operation {sum(k['kills_inside'].values())} times ({inside});
{k['kills_inside_an_index_save']} left a half-written index file (`*.faiss.tmp`) and
{k['kills_between_a_drop_and_its_file_removal']} left the files of a dropped collection — both
harmless leftovers that `check` reports as notes and `check --repair` removed
({k['repairs_run']} repair runs, each leaving no leftover behind). Run time {k['seconds']} s.

## Linearisable reads across processes

{lin['readers']} reader processes searched for {lin['seconds']:.0f} s (filtered and unfiltered,
ids-only and with documents) while a writer added, updated and deleted, publishing the number of
each acknowledged call; each reader read the published number before each search and checked
that the result reflected at least that state: **{lin['checked_reads']:,} checked reads,
{lin['stale_reads']} stale, {lin['errors']} errors** (the writer made {lin['writer_calls_seen']:,} calls).

## Races

- {rc['creators']} processes creating one new store and collection at once, in {rc['rounds']}
  rounds of {rc['creators'] // rc['rounds']}: **{rc['creators_ok']} succeeded**.
- {rc['optimizers']} processes optimizing the same collection at once, in pairs:
  **{rc['optimizers_ok']} succeeded** (one after the other, under the collection's maintenance lock).
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=120)
    parser.add_argument("--read-seconds", type=float, default=60.0)
    parser.add_argument("--race-rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    print(f"kill -9 × {args.kills}", flush=True)
    k = kills(args.kills, args.seed)
    print(f"linearisable reads for {args.read_seconds:.0f} s", flush=True)
    lin = linear(args.read_seconds, 4)
    print(f"races × {args.race_rounds}", flush=True)
    rc = races(args.race_rounds, 8)
    data = {
        "date": time.strftime("%Y-%m-%d"),
        "command": command_line(),
        "machine": machine_info(),
        "kills": k,
        "linear": lin,
        "races": rc,
    }
    write_json(RESULTS_DIR / "soak.json", data)
    replace_section(REPO_ROOT / "RELIABILITY.md", "store", report(data).replace("# Reliability", "## The store", 1))
    ok = (
        k["kills"] >= 100
        and lin["stale_reads"] == 0
        and lin["errors"] == 0
        and rc["creators_ok"] == rc["creators"]
        and rc["optimizers_ok"] == rc["optimizers"]
    )
    print(json.dumps({"kills": k, "linear": lin, "races": rc}, indent=1))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
