"""Concurrency of the server: reads run in parallel (no lock of ours, none in the engine that a
cheap search would queue behind), writes are safe together, and a graceful shutdown (SIGTERM)
finishes the write in flight and answers it before the process exits."""

from __future__ import annotations

import signal
import statistics
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

import vecnest
from tests.integration.server_proc import ServerProcess
from vecnest.server import ServerConfig
from vecnest.server.app import create_app


def test_server_layer_runs_reads_side_by_side(tmp_path: Path) -> None:
    """Four searches must all be inside the engine at once: each waits at a barrier of four, so a
    lock (or a one-thread pool) anywhere in the server layer makes the barrier time out."""
    app = create_app(ServerConfig(db=tmp_path / "s"))
    barrier = threading.Barrier(4, timeout=20)
    with TestClient(app) as http:
        client = vecnest.Client("http://test", http=http)
        col = client.create_collection("c", None, dim=4)
        col.add(["a", "b"], vectors=np.eye(4, dtype=np.float32)[:2])
        handle = app.state.service.collection("c")
        real = handle.search

        def gated(*args: object, **kwargs: object) -> vecnest.Hits:
            barrier.wait()  # BrokenBarrierError unless 4 requests are in here together
            return real(*args, **kwargs)

        handle.search = gated  # type: ignore[method-assign]
        results: list[object] = []

        def one() -> None:
            try:
                results.append(col.search(np.ones(4, np.float32), k=1)[0].id)
            except Exception as exc:  # noqa: BLE001 - reported below
                results.append(exc)

        threads = [threading.Thread(target=one) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert results == ["a"] * 4, results


@pytest.mark.soak
def test_cheap_search_does_not_queue_behind_an_expensive_one(tmp_path: Path) -> None:
    """Through a real server: while one client runs exact filtered searches over 80k rows
    non-stop, a second client's searches of a 100-row collection stay fast. A global read lock
    (in the server or in the engine's catalog) would make each of them wait for the big search
    in progress, about half of it on average. One busy client leaves the second core free; on a
    shared machine a round can still be slowed by others, so the best of three rounds counts.

    In ``make soak`` (timing): on the 2-core development machine under other load it measured
    17-22 ms for the cheap search beside the big one over HTTP, while in-process the same pair
    measures 0.1 ms; see RELIABILITY.md."""
    rng = np.random.default_rng(0)
    n = 80_000
    with vecnest.open(tmp_path / "s") as db:
        big = db.create_collection("big", None, dim=384)
        for lo in range(0, n, 20_000):
            big.add([f"b{i}" for i in range(lo, lo + 20_000)], None, [{"i": i} for i in range(lo, lo + 20_000)],
                    rng.standard_normal((20_000, 384)).astype(np.float32))
        small = db.create_collection("small", None, dim=384)
        small.add([f"s{i}" for i in range(100)], None, None, rng.standard_normal((100, 384)).astype(np.float32))
    q = rng.standard_normal(384).astype(np.float32)
    where = {"i": {"$gte": 1}}
    rounds = []
    with ServerProcess(tmp_path / "s") as server:
        a, b = vecnest.Client(server.url), vecnest.Client(server.url)
        big_col, small_col = a.get_collection("big"), b.get_collection("small")

        def timed(fn: object, n: int) -> float:
            out = []
            for _ in range(n):
                t0 = time.perf_counter()
                fn()  # type: ignore[operator]
                out.append(time.perf_counter() - t0)
            return statistics.median(out)

        for _ in range(3):
            big_alone = timed(lambda: big_col.search(q, k=10, where=where), 10)
            small_alone = timed(lambda: small_col.search(q, k=10), 30)
            stop = threading.Event()

            def hog() -> None:
                while not stop.is_set():
                    big_col.search(q, k=10, where=where)

            thread = threading.Thread(target=hog)
            thread.start()
            time.sleep(0.2)
            small_busy = timed(lambda: small_col.search(q, k=10), 40)
            stop.set()
            thread.join(30)
            rounds.append((big_alone, small_alone, small_busy))
            print(f"big alone {big_alone * 1e3:.1f} ms, small alone {small_alone * 1e3:.2f} ms, "
                  f"small beside a big search {small_busy * 1e3:.2f} ms")
            if big_alone > 4 * small_alone and small_busy < big_alone / 3:
                break
        a.close()
        b.close()
    big_alone, small_alone, small_busy = rounds[-1]
    assert big_alone > 4 * small_alone, f"the big search must be the expensive one for this test to mean anything: {rounds}"
    assert small_busy < big_alone / 3, f"cheap searches queued behind an expensive one: {rounds}"


@pytest.mark.slow
def test_sigterm_finishes_the_write_in_flight(tmp_path: Path) -> None:
    n = 1500  # (embedding them takes seconds: 400 took 0.79 s on a quiet machine, less than the wait below)
    texts = [f"paper {i}: a study of topic {i % 17} with method {i % 5}" for i in range(n)]
    with vecnest.open(tmp_path / "s") as db:
        db.create_collection("t", "default")
    server = ServerProcess(tmp_path / "s").start()
    outcome: dict[str, object] = {}

    def write() -> None:
        client = vecnest.Client(server.url)
        t0 = time.perf_counter()
        try:
            client.get_collection("t").add([f"p{i}" for i in range(n)], texts)
            outcome["ok"] = True
        except Exception as exc:  # noqa: BLE001 - asserted below
            outcome["error"] = exc
        outcome["seconds"] = time.perf_counter() - t0

    thread = threading.Thread(target=write)
    thread.start()
    time.sleep(0.8)  # the request is in (embedding the texts takes longer than this)
    sent = time.perf_counter()
    code = server.terminate(120)
    thread.join(120)
    assert outcome.get("ok") is True, (outcome, "".join(server.output))
    assert float(outcome["seconds"]) > 0.8 and time.perf_counter() - sent >= 0  # it was in flight
    # uvicorn re-raises the SIGTERM it caught once shutdown is complete
    assert code in (0, -signal.SIGTERM), "".join(server.output)
    assert "Traceback" not in "".join(server.output)
    with pytest.raises(vecnest.ServerUnavailableError):
        vecnest.Client(server.url, timeout=5).health()
    with vecnest.open(tmp_path / "s", read_only=True) as db:
        assert db.get_collection("t").count() == n


def test_concurrent_writes_all_land(tmp_path: Path) -> None:
    app = create_app(ServerConfig(db=tmp_path / "s"))
    with TestClient(app) as http:
        client = vecnest.Client("http://test", http=http)
        col = client.create_collection("c", None, dim=8)
        errors: list[Exception] = []

        def writer(t: int) -> None:
            rng = np.random.default_rng(t)
            for j in range(10):
                try:
                    col.add([f"{t}-{j}-{i}" for i in range(20)], vectors=rng.standard_normal((20, 8)).astype(np.float32))
                except Exception as exc:  # noqa: BLE001
                    errors.append(exc)

        threads = [threading.Thread(target=writer, args=(t,)) for t in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == [] and col.count() == 6 * 10 * 20
