"""The search-during-ingest analysis: idle is the store at rest, never the merges' tail."""

from __future__ import annotations

import search_during_ingest as sdi


def _queries(spans: list[tuple[float, float, float]]) -> list[tuple[float, float, int]]:
    """Queries every 0.01 s over each ``(start, end, latency)`` span, alternating kinds."""
    out = []
    for start, end, latency in spans:
        t, i = start, 0
        while t < end:
            out.append((t, latency, i % 2))
            t, i = t + 0.01, i + 1
    return out


def test_idle_windows_are_the_writers_own_and_the_draining_tail_is_kept_apart() -> None:
    # per repetition: idle 0-10 s (store at rest, 0.1 ms), busy 10-20 s (0.4 ms), then its
    # merges land over 20-30 s (0.35 ms: a delta beside the graph); the next idle starts at 30 s
    writer = {
        "idle": [(0.0, 10.0), (30.0, 40.0)],
        "busy": [(10.0, 20.0), (40.0, 50.0)],
        "draining": [(20.0, 30.0), (50.0, 60.0)],
        "calls": [(10.0, 0.05), (40.0, 0.06)],
        "rows_added": 2000,
    }
    spans = [(0.0, 10.0, 1e-4), (10.0, 20.0, 4e-4), (20.0, 30.0, 3.5e-4), (30.0, 40.0, 1e-4), (40.0, 50.0, 4e-4), (50.0, 60.0, 3.5e-4)]
    out = sdi.analyse({"queries": _queries(spans)}, writer, settle=1.0)
    assert out["draining_seconds_per_rep"] == [10.0, 10.0]
    assert out["idle_seconds_per_rep"] == [9.0, 9.0]  # (the settle second left out)
    for kind in sdi.KINDS:
        d = out["kinds"][kind]
        assert d["reps_used"] == 2
        assert abs(d["idle"]["p50_ms"] - 0.1) < 1e-9  # the tail's 0.35 ms never counts as idle
        assert abs(d["draining"]["p50_ms"] - 0.35) < 1e-9
        assert abs(d["busy_over_idle_qps"]["point"] - 0.25) < 1e-9
        assert d["verdict"] == "not met"
    # the same searches, but the merges were over by the time ingestion stopped: 1.0x, met
    fast = [(0.0, 10.0, 1e-4), (10.0, 20.0, 1e-4), (30.0, 40.0, 1e-4), (40.0, 50.0, 1e-4)]
    out = sdi.analyse({"queries": _queries(fast)}, writer, settle=1.0)
    assert all(out["kinds"][k]["verdict"] == "met" for k in sdi.KINDS)


def test_the_writers_stream_is_the_corpus_once_then_perturbed_copies_never_exact_duplicates() -> None:
    import numpy as np

    rng = np.random.default_rng(1)
    base = rng.standard_normal((50, 16)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    first = sdi.fresh_vectors(base, 40, 20)  # rows 40..59: the corpus's last 10, then 10 re-used
    assert np.array_equal(first[:10], base[40:])
    again = first[10:]
    assert np.allclose(np.linalg.norm(again, axis=1), 1.0, atol=1e-5)
    cos = (again * base[:10]).sum(axis=1)
    assert (cos < 0.999).all() and (cos > 0.6).all()  # near its original, never equal to it
    assert np.array_equal(sdi.fresh_vectors(base, 40, 20), first)  # seeded: the same on every run
    later = sdi.fresh_vectors(base, 100, 10)  # a third pass: other noise than the second's
    assert not np.allclose(later, sdi.fresh_vectors(base, 50, 10))


def test_explained_searches_are_summarised_per_kind_and_window_repetitions_pooled() -> None:
    import math

    edges = [(1.0, 10.0, "idle0"), (10.0, 20.0, "busy0"), (20.0, 30.0, "drain0"), (31.0, 40.0, "idle1"), (40.0, 50.0, "busy1")]
    explained = [
        (5.0, 0, 0, 0.10, math.nan, 0.2),  # idle, unfiltered: no delta (no delta scan timed)
        (35.0, 0, 0, 0.12, math.nan, 0.3),
        (12.0, 0, 8000, 0.11, 0.15, 0.40),  # busy: a delta beside the graph
        (45.0, 0, 4000, 0.13, 0.09, 0.30),
        (46.0, 0, 6000, 0.12, 0.12, 0.35),
        (25.0, 1, 9000, math.nan, 0.30, 0.50),  # draining, filtered: a plan with no index search
        (0.5, 1, 1, 1.0, 1.0, 1.0),  # (outside every window: left out)
    ]
    out = sdi.explained_summary([list(e) for e in explained], edges)
    un = out[list(sdi.KINDS)[0]]
    assert un["idle"]["n"] == 2 and un["idle"]["delta_rows"] == 0 and un["idle"]["delta_ms"] is None
    assert abs(un["idle"]["ann_ms"] - 0.11) < 1e-9  # (both idle repetitions pooled)
    assert un["busy"]["n"] == 3 and un["busy"]["delta_rows"] == 6000 and abs(un["busy"]["delta_ms"] - 0.12) < 1e-9
    assert "drain" not in un
    fil = out[list(sdi.KINDS)[1]]
    assert list(fil) == ["drain"] and fil["drain"]["ann_ms"] is None and fil["drain"]["delta_ms"] == 0.30
    assert sdi.explained_summary([], edges) == {}
