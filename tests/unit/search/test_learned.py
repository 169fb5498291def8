"""The planner's side of effort learning (search.learned): the selectivity a filtered index
search is planned by, and what the plan says of a filter's effort."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import vecnest
from vecnest.config import IndexConfig, IndexKind

from ._planned import N, SMALL, recall_of, titles


@pytest.fixture(scope="module")
def data() -> tuple[list[str], np.ndarray, list[dict], np.ndarray]:
    return titles()


def test_a_filters_effort_is_calibrated_on_its_selectivity_among_the_indexed_rows(tmp_path: Path, data: tuple) -> None:
    """A filter matching mostly rows still in the exact delta (a recency window) is far more
    selective in the graph, which is what the index search walks under: its calibrated effort is
    the one of its selectivity among the indexed rows, not overall; once merged, overall."""
    ids, vecs, metas, queries = data
    tagged = [{**m, "recent": i >= 4000 or i % 50 == 0, "n": i} for i, m in enumerate(metas)]
    with vecnest.open(tmp_path / "s", background=False) as db:
        col = db.create_collection("t", model=None, dim=384, index=IndexConfig(kind=IndexKind.HNSW, **SMALL))
        col.add(ids[:4000], vectors=vecs[:4000], metadatas=tagged[:4000])
        col.add(ids[4000:], vectors=vecs[4000:], metadatas=tagged[4000:])  # the delta
        snap = col._source.current()
        cal, cfg = snap.calibration, snap.ann.config
        base = cal.knob_for_recall(cfg.target_recall)[0]
        in_graph, overall = 80 / 4000, 2080 / N
        assert cal.knob_for_selectivity(in_graph, base) > cal.knob_for_selectivity(overall, base)  # (the data makes them differ)
        kw = dict(k=10, where={"recent": True}, strategy="ann_filtered", explain=True)
        plan = col.search(queries[0], **kw).plan
        assert plan.delta_rows == 2000 and plan.knob["ef_search"] == cal.knob_for_selectivity(in_graph, base)
        recent = np.array([t["recent"] for t in tagged])
        assert recall_of(col, ids, vecs, queries, recent, where={"recent": True}, strategy="ann_filtered") >= 0.95
        # planned by default: chosen by that selectivity too, said so; no indexed match at all: exact
        chosen = col.search(queries[0], k=10, where={"recent": True}, explain=True).plan
        assert "selectivity among the indexed rows" in chosen.reason and chosen.estimated_selectivity == overall
        only_new = col.search(queries[0], k=10, where={"n": {"$gte": 4000}}, explain=True)
        assert only_new.plan.strategy.value == "exact_filtered" and only_new[0].id in ids[4000:]
        col.optimize()
        merged = col._source.current()
        plan = col.search(queries[0], **kw).plan
        assert plan.delta_rows == 0
        assert plan.knob["ef_search"] == merged.calibration.knob_for_selectivity(overall, merged.calibration.knob_for_recall(cfg.target_recall)[0])


def test_the_plan_says_how_a_filters_effort_was_settled() -> None:
    """Each way a filter's effort settles reads as what happened, whatever the calibrated effort
    has drifted to since (found by review: a fallback read as "stepped up" once it moved)."""
    from vecnest.search.effort import CONFIRM_SAMPLE, SAMPLE, Learned
    from vecnest.search.learned import effort_note

    def note(learned: Learned, calibrated: int = 59) -> str:
        return effort_note(learned, "ef_search", 0.95, calibrated)

    kept = Learned(32, 0.97, CONFIRM_SAMPLE, 1000, calibrated=58, confirmed=True, measured=32)
    assert f"ef_search 32 confirmed on this filter's last {CONFIRM_SAMPLE} queries" in note(kept) and "step" not in note(kept)
    up = Learned(48, 0.97, CONFIRM_SAMPLE, 1000, calibrated=58, confirmed=True, measured=32)
    assert "ef_search 48 confirmed on" in note(up) and "stepped up from the measured 32" in note(up)
    assert "stepped up from the measured 32" in note(up, calibrated=48)  # (the calibration drifted to it)
    for cal in (56, 58, 60):
        back = Learned(58, 0.97, CONFIRM_SAMPLE, 1000, calibrated=58, confirmed=True, measured=32)
        assert "ef_search 58 confirmed on" in note(back, cal) and "stepped up from the measured 32" in note(back, cal)
    down = Learned(24, 0.97, CONFIRM_SAMPLE, 1000, calibrated=58, confirmed=True, measured=32)
    assert "ef_search 24 confirmed on" in note(down) and "below the measured 32" in note(down)
    stalled = Learned(58, 0.0, 0, 1000, calibrated=58, confirmed=True, measured=32)
    assert "the ef_search 32 measured on this filter's queries could not be confirmed" in note(stalled)
    assert "the calibrated 58" in note(stalled)
    raised = Learned(96, 0.0, 0, 1000, calibrated=58, confirmed=True, measured=96)
    assert "could not be confirmed" in note(raised) and "the measured 96" in note(raised)
    measured = Learned(64, 0.97, 3, 1000, calibrated=58)  # (a few repeated queries: not confirmed)
    assert "ef_search 64 measured on this filter's last 3" in note(measured) and "step" not in note(measured)
    assert "no ef_search up to" in note(Learned(232, 0.9, SAMPLE, 1000, reached=False, calibrated=58))
