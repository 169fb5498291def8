"""Warnings of a search that fell back from an optimisation: logged with their traceback at most
once a minute per message, so a failure repeated by every search (no memory for sign sketches,
an unreadable segment file) does not flood the host's log."""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger("vecnest")

#: Seconds between two log records of the same message.
EVERY = 60.0

_last: dict[str, float] = {}
_lock = threading.Lock()


def warn_now(message: str) -> bool:
    """Log ``message`` (with the exception being handled, if any) unless it was logged in the
    last :data:`EVERY` seconds; returns whether it was logged."""
    now = time.monotonic()
    with _lock:
        last = _last.get(message)
        if last is not None and now - last < EVERY:
            return False
        _last[message] = now
    log.warning(message, exc_info=True)
    return True
