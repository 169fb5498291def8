"""Crash safety of the server: ``vecnest serve`` killed with SIGKILL while clients write, again
and again. Every write a client saw acknowledged is present after restart, and every batch is
all-or-nothing. CI kills 20 times; ``make soak`` sets ``VECNEST_SERVER_KILLS=100``.

With ``VECNEST_RELIABILITY_OUT=DIR`` the figures are written to ``DIR/server_crash.json`` (for
RELIABILITY.md).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import vecnest
from tests.integration.server_proc import ServerProcess

DIM = 16
BATCH = 25
WRITERS = 2


def _writer(url: str, tag: str, stop: threading.Event, acked: list[str], attempted: list[str], seed: int) -> None:
    rng = np.random.default_rng(seed)
    client = vecnest.Client(url, timeout=30)
    j = 0
    try:
        try:
            col = client.get_collection("w")
        except vecnest.ServerUnavailableError:
            return  # killed before this writer got going
        while not stop.is_set():
            batch = f"{tag}-b{j}"
            j += 1
            attempted.append(batch)
            ids = [f"{batch}-{i}" for i in range(BATCH)]
            metas = [{"batch": batch, "i": i} for i in range(BATCH)]
            try:
                if j % 3 == 0:
                    col.upsert(ids, None, metas, rng.standard_normal((BATCH, DIM)).astype(np.float32))
                else:
                    col.add(ids, None, metas, rng.standard_normal((BATCH, DIM)).astype(np.float32))
            except vecnest.ServerUnavailableError:
                return  # the server died under this request: not acknowledged
            acked.append(batch)
    finally:
        client.close()


def crash_cycles(root: Path, kills: int, seed: int = 7) -> dict[str, object]:
    """Run ``kills`` SIGKILL cycles against a server on ``root``; returns the figures."""
    rng = np.random.default_rng(seed)
    db_path = root / "store"
    with vecnest.open(db_path) as db:
        db.create_collection("w", None, dim=DIM)
    acked: list[str] = []
    attempted: list[str] = []
    started = time.perf_counter()
    for cycle in range(kills):
        server = ServerProcess(db_path).start()
        stop = threading.Event()
        threads = [
            threading.Thread(target=_writer, args=(server.url, f"c{cycle}t{t}", stop, acked, attempted, seed * 1000 + cycle * 10 + t))
            for t in range(WRITERS)
        ]
        for t in threads:
            t.start()
        time.sleep(float(rng.uniform(0.15, 0.8)))
        server.kill()
        stop.set()
        for t in threads:
            t.join(60)
    with vecnest.open(db_path, read_only=True) as db:
        col = db.get_collection("w")
        stored = {d.id for d in col.get()}
        count = col.count()
        report = db.check()
    by_batch: dict[str, int] = {}
    for doc_id in stored:
        by_batch[doc_id.rsplit("-", 1)[0]] = by_batch.get(doc_id.rsplit("-", 1)[0], 0) + 1
    lost = [b for b in acked if by_batch.get(b, 0) != BATCH]
    torn = {b: n for b, n in by_batch.items() if n != BATCH}
    unacked_present = [b for b in set(attempted) - set(acked) if by_batch.get(b) == BATCH]
    return {
        "kills": kills,
        "writers": WRITERS,
        "batch_size": BATCH,
        "batches_acknowledged": len(acked),
        "batches_attempted": len(attempted),
        "acknowledged_lost": len(lost),
        "torn_batches": len(torn),
        "unacknowledged_but_committed": len(unacked_present),
        "documents_stored": count,
        "ids_stored": len(stored),
        "check": "ok" if report.ok else f"{report.severity.value}: {report.findings()[:3]}",
        "check_ok": report.ok,
        "seconds": time.perf_counter() - started,
        "lost_examples": lost[:5],
    }


@pytest.mark.slow
def test_sigkill_during_writes_loses_no_acknowledged_write(tmp_path: Path) -> None:
    kills = int(os.environ.get("VECNEST_SERVER_KILLS", "20"))
    figures = crash_cycles(tmp_path, kills)
    out = os.environ.get("VECNEST_RELIABILITY_OUT")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "server_crash.json").write_text(json.dumps(figures, indent=2) + "\n")
    assert figures["batches_acknowledged"] >= kills  # the writers really wrote between kills
    assert figures["acknowledged_lost"] == 0, figures
    assert figures["torn_batches"] == 0, figures
    assert figures["documents_stored"] == figures["ids_stored"]
    assert figures["check_ok"], figures["check"]  # vecnest check finds nothing damaged after the kills
    # and the restarted server serves the same state
    with ServerProcess(tmp_path / "store") as server, vecnest.Client(server.url) as client:
        assert client.get_collection("w").count() == figures["documents_stored"]
