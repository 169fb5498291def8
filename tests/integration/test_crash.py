"""kill -9 at random moments of a writer doing every kind of write on an HNSW collection with a
small ``delta_limit`` (merges in the background all the time), and inside ``optimize()`` and
``drop_collection``: after every kill ``vecnest check`` passes, every acknowledged write is there
with its exact vector, text and metadata, the write in flight is there whole or not at all, and
the index agrees with exact search. See ``_crash.py``; ``make soak`` runs the long version."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ._crash import Campaign

KILLS = 30


@pytest.mark.slow
def test_kill_minus_nine_at_random_moments(tmp_path: Path) -> None:
    campaign = Campaign(tmp_path / "s")
    rng = np.random.default_rng(2026)
    try:
        for _ in range(KILLS):
            campaign.cycle(rng)
    finally:
        campaign.close()
    summary = campaign.summary()
    print(summary)
    assert summary["kills"] == KILLS
    assert summary["operations_committed"] >= 3 * KILLS  # the writers made progress between kills
    assert summary["in_flight_write_found_committed_whole"] + summary["in_flight_write_found_absent_whole"] >= KILLS // 4
    assert summary["ann_recall_checks"] >= KILLS // 2
    assert {"side", "optimize"} <= set(summary["kills_inside"])  # inside a drop and an optimize
