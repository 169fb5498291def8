"""A fallback's warning is logged at most once a minute per message."""

from __future__ import annotations

import logging

import pytest

from vecnest.search import warn


def test_a_repeated_warning_is_logged_once_a_minute(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    clock = {"t": 1000.0}
    monkeypatch.setattr(warn.time, "monotonic", lambda: clock["t"])
    monkeypatch.setattr(warn, "_last", {})
    with caplog.at_level(logging.WARNING, logger="vecnest"):
        try:
            raise MemoryError("no room")
        except MemoryError:
            assert warn.warn_now("coding failed")
            assert not warn.warn_now("coding failed")  # (the same message, within the minute)
            assert warn.warn_now("another failure")
            clock["t"] += warn.EVERY + 1
            assert warn.warn_now("coding failed")
    records = [r for r in caplog.records if r.name == "vecnest"]
    assert [r.getMessage() for r in records] == ["coding failed", "another failure", "coding failed"]
    assert records[0].exc_info is not None  # (with the traceback)
