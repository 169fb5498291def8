"""The background maintenance worker: retried and discarded jobs."""

from __future__ import annotations

from vecnest.errors import CollectionNotFoundError
from vecnest.store.worker import Worker


def test_a_failed_job_is_retried_and_a_dropped_collections_job_is_discarded() -> None:
    worker = Worker(background=True, name="test")
    calls = {"flaky": 0, "dropped": 0}

    def flaky() -> None:
        calls["flaky"] += 1
        if calls["flaky"] == 1:
            raise ValueError("first attempt fails")

    def dropped() -> None:
        calls["dropped"] += 1
        raise CollectionNotFoundError("collection 'side' was dropped")

    try:
        worker.submit("flaky", flaky)
        worker.submit("dropped", dropped)
        assert worker.wait(timeout=10)
        assert calls == {"flaky": 2, "dropped": 1}  # retried after 1 s; discarded at once
        assert not worker._failures and not worker._not_before
    finally:
        worker.close()


def test_a_debounced_job_runs_once_submissions_pause_or_at_once_when_waited_for() -> None:
    """Each submission of a debounced key pushes it back; it runs once, after the pause; a
    ``wait()`` runs it at once; an inline worker never runs one (it would block the writer)."""
    import threading
    import time

    worker = Worker(background=True, name="test")
    ran: list[float] = []
    done = threading.Event()

    def job() -> None:
        ran.append(time.monotonic())
        done.set()

    try:
        start = time.monotonic()
        for _ in range(5):  # 5 × 0.1 s of submissions, each pushing the job 0.3 s back
            worker.submit("settle", job, delay=0.3)
            time.sleep(0.1)
        assert not ran  # still being pushed back
        assert done.wait(5)
        assert len(ran) == 1 and ran[0] - start >= 0.4 + 0.3 - 0.05
        worker.submit("settle", job, delay=60.0)
        t = time.monotonic()
        assert worker.wait(timeout=5) and len(ran) == 2 and time.monotonic() - t < 5
    finally:
        worker.close()
    inline = Worker(background=False, name="inline")
    inline.submit("settle", job, delay=0.1)
    inline.submit("now", job)
    assert len(ran) == 3


def test_a_debounced_job_submitted_while_it_runs_waits_for_the_next_pause() -> None:
    """Writes resuming while the settle job runs debounce it afresh: it does not run again
    back to back for as long as they continue (found by review: it did, every 0.3 s)."""
    import time

    worker = Worker(background=True, name="test")
    t0 = time.monotonic()
    runs: list[float] = []

    def job() -> None:
        runs.append(time.monotonic() - t0)
        time.sleep(0.3)

    try:
        worker.submit("settle", job, delay=0.5)
        time.sleep(0.6)  # a pause: it runs
        end = time.monotonic() + 2.0
        while time.monotonic() < end:  # writes resume, one every 50 ms
            worker.submit("settle", job, delay=0.5)
            time.sleep(0.05)
        assert len(runs) == 1
        assert worker.wait(timeout=5) and len(runs) == 2  # waited for: at once
        worker.submit("settle", job, delay=0.5)
        assert not worker.wait(timeout=0) and len(runs) == 2  # a poll starts nothing
    finally:
        worker.close()
