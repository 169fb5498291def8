"""The background maintenance worker: retries, discarded jobs, its own thread's priority."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from vecnest._threads import MAINTENANCE_NICE
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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a thread's own nice value is Linux's")
def test_the_maintenance_thread_yields_the_cpu_and_the_hosts_threads_keep_their_priority() -> None:
    me = threading.get_native_id()
    before = os.getpriority(os.PRIO_PROCESS, me)
    seen: list[int] = []
    worker = Worker(background=True, name="test")
    try:
        worker.submit("job", lambda: seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
        assert worker.wait(timeout=10)
    finally:
        worker.close()
    assert seen == [min(19, before + MAINTENANCE_NICE)]
    assert os.getpriority(os.PRIO_PROCESS, me) == before  # the calling thread: untouched
    # inline jobs (background=False) run in the host's thread: never reniced
    inline: list[int] = []
    Worker(background=False, name="inline").submit("job", lambda: inline.append(os.getpriority(os.PRIO_PROCESS, me)))
    assert inline == [before]
