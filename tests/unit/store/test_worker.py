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
