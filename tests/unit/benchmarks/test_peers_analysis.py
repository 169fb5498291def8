"""Peer-suite selection and comparison logic on synthetic rows (no worker, no library)."""

from __future__ import annotations

import numpy as np
import pytest

from peers.analysis import operating, workload_table
from peers.fleet import build_decision, estimate_build_s
from peers.schedule import efforts_to_time

FAMILIES = {"vecnest-hnsw": "vecnest", "faiss-hnsw": "faiss", "hnswlib": "hnswlib"}


def _row(system: str, label: str, recall: float, p50: float, role: str = "R>=0.95") -> dict:
    return {"system": system, "label": label, "knob": {"ef": label}, "role": role, "recall": recall, "pooled": {"p50_ms": p50, "qps": 1e3 / p50}}


def test_efforts_to_time_takes_the_cheapest_effort_per_target_and_the_default() -> None:
    rows = [
        {"knob": {}, "label": "default", "recall": 0.97},
        {"knob": {"ef": 16}, "label": "ef=16", "recall": 0.90},
        {"knob": {"ef": 32}, "label": "ef=32", "recall": 0.96},
        {"knob": {"ef": 64}, "label": "ef=64", "recall": 0.995},
    ]
    assert efforts_to_time(rows, (0.95, 0.99)) == {"default": {}, "R>=0.95": {"ef": 32}, "R>=0.99": {"ef": 64}}


def test_efforts_to_time_keeps_the_best_recall_when_no_target_is_reached() -> None:
    rows = [{"knob": {"nprobe": 1}, "label": "nprobe=1", "recall": 0.5}, {"knob": {"nprobe": 2}, "label": "nprobe=2", "recall": 0.8}, {"knob": {"nprobe": 4}, "label": "nprobe=4", "skipped": "sweep stopped"}]
    assert efforts_to_time(rows, (0.95, 0.99)) == {"best recall": {"nprobe": 2}}
    exact = [{"knob": {}, "label": "default", "recall": 1.0}]
    assert efforts_to_time(exact, (0.95, 0.99)) == {"default": {}}


def test_operating_setting_is_the_fastest_reaching_the_target() -> None:
    rows = [_row("faiss-hnsw", "16", 0.93, 0.05), _row("faiss-hnsw", "32", 0.96, 0.08), _row("faiss-hnsw", "64", 0.99, 0.12)]
    assert operating(rows, 0.95)["faiss-hnsw"]["label"] == "32"
    assert operating(rows, 0.99)["faiss-hnsw"]["label"] == "64"
    assert operating(rows, 0.999) == {}


def test_workload_table_compares_vecnest_default_with_the_fastest_peer() -> None:
    rng = np.random.default_rng(0)
    rows = [
        _row("faiss-hnsw", "32", 0.96, 0.10),
        _row("hnswlib", "24", 0.97, 0.08),  # the reference: fastest peer reaching 0.95
        _row("hnswlib", "10", 0.90, 0.04),  # faster but below the target: not the reference
        _row("vecnest-hnsw", "default", 0.97, 0.16, role="default"),
    ]
    base = rng.lognormal(np.log(0.08e-3), 0.05, size=(3, 200))
    lat = {
        ("faiss-hnsw", "32"): base * 1.25,
        ("hnswlib", "24"): base,
        ("hnswlib", "10"): base * 0.5,
        ("vecnest-hnsw", "default"): base * 2.0,
    }
    t = workload_table(rows, lat, FAMILIES)
    ref = t["targets"]["0.95"]["reference"]
    assert (ref["system"], ref["label"]) == ("hnswlib", "24")
    (v,) = t["vecnest_default"]
    assert v["speed_vs_ref"]["point"] == pytest.approx(0.5, rel=0.02)
    assert v["speed_verdict"] == "not met" and v["recall_verdict"] == "met"
    by = {r["system"]: r for r in t["targets"]["0.99"]["rows"]}
    assert by["faiss-hnsw"]["reaches"] is False and by["faiss-hnsw"]["max_recall"] == 0.96


def test_build_estimate_from_a_smaller_point() -> None:
    smaller = {"n": 75_000, "builds": {"faiss-hnsw": {"status": "ok", "build_s": 60.0}, "faiss-flat": {"status": "ok", "build_s": 1.0}, "chroma": {"status": "error"}}}
    est, how = estimate_build_s("faiss-hnsw", 1_000_000, smaller)
    assert est == pytest.approx(60.0 * 1_000_000 / 75_000 * 1.3) and "graph growth" in how
    assert estimate_build_s("faiss-flat", 1_000_000, smaller)[0] == pytest.approx(1_000_000 / 75_000)
    assert estimate_build_s("chroma", 1_000_000, smaller) == (None, None)
    assert estimate_build_s("faiss-hnsw", 1_000_000, None) == (None, None)


def test_build_decision_budgets_and_skips_with_a_reason() -> None:
    smaller = {"n": 75_000, "builds": {"faiss-hnsw": {"status": "ok", "build_s": 100.0}, "faiss-flat": {"status": "ok", "build_s": 1.0}}}
    gib = 2**30
    # fits: builds with the smaller of the per-system budget and what is left of the point
    assert build_decision("faiss-flat", 1_000_000, 256, smaller=smaller, left_s=3000, build_budget_s=1200, avail_bytes=20 * gib) == (1200, None)
    # ~29 min estimated > 20 min budget
    budget, reason = build_decision("faiss-hnsw", 1_000_000, 256, smaller=smaller, left_s=3000, build_budget_s=1200, avail_bytes=20 * gib)
    assert budget is None and "estimated build 28.9 min" in reason
    # no estimate (not built at 75k): attempted under the budget
    assert build_decision("usearch", 1_000_000, 256, smaller=smaller, left_s=600, build_budget_s=1200, avail_bytes=None) == (600, None)
    assert build_decision("usearch", 1_000_000, 256, smaller=None, left_s=30, build_budget_s=1200, avail_bytes=None)[1] == "no time left in the point's budget"
    assert "not enough free memory" in build_decision("faiss-flat", 1_000_000, 256, smaller=smaller, left_s=3000, build_budget_s=1200, avail_bytes=gib)[1]
