"""The effort-learning study's replay of the rules, on a recall table made by hand."""

from __future__ import annotations

import numpy as np
from effort_learning import BETWEEN, RULES, TARGET, learn, replay

from vecnest.index.calibrate import _LADDER


def _table(rng: np.random.Generator, n: int = 500) -> dict[int, np.ndarray]:
    """Per-query recall@10 of ``n`` queries growing with the effort (0.95 reached near ef 48)."""
    hard = rng.random(n)
    table = {}
    for ef in sorted({*_LADDER["ef_search"], *BETWEEN}):
        p = 1 - 0.9 * hard * 16 / (ef + 16) * 0.5
        table[ef] = np.minimum(1.0, np.round(rng.binomial(10, np.clip(p, 0, 1)) / 10 + (ef >= 1024) * 1.0, 1))
    for a, b in zip(sorted(table), sorted(table)[1:]):  # (monotone in the effort, per query)
        table[b] = np.maximum(table[a], table[b])
    return table


def test_the_replay_confirms_what_was_measured_and_misses_less_than_adopting_it() -> None:
    """Confirming what the first sample measured on a fresh one (stepping up, or one step down)
    leaves fewer draws below the target than adopting it at once, also where the calibrated
    effort is short of what the queries need (a raise, which the previous rule adopted)."""
    from vecnest.search import effort

    rng = np.random.default_rng(0)
    table = _table(rng)
    pop = {ef: float(r.mean()) for ef, r in table.items()}
    need = min(ef for ef in _LADDER["ef_search"] if pop[ef] >= TARGET)
    short = max(ef for ef in _LADDER["ef_search"] if ef < need)
    cheaper = []
    for calibrated in (short, need, 55, 96):
        rows = {r["rule"]: r for r in replay(table, calibrated, 300, np.random.default_rng(1))}
        assert tuple(rows) == RULES
        only, prev, now = rows["measure only"], rows["previous release (32 + 32, lower only)"], rows["measure + confirm"]
        assert now["p_below_target"] <= only["p_below_target"] and now["p_below_target"] <= prev["p_below_target"]
        # (pooling the first sample into the confirmation: no costlier than confirming on the fresh one alone)
        fresh = rows["confirm on the fresh sample"]
        assert now["mean_effort"] <= fresh["mean_effort"] * 1.05 and now["p_below_target"] <= fresh["p_below_target"] + 0.01
        # (the halfway efforts: cheaper than the ladder's steps alone, at nearly their safety)
        coarse = rows["measure + confirm, ladder steps"]
        assert now["mean_effort"] <= coarse["mean_effort"] and now["p_below_target"] <= coarse["p_below_target"] + 0.005
        cheaper.append(now["mean_effort"] < coarse["mean_effort"])
        assert all(r["calibrated"] == calibrated for r in rows.values())
        assert all(0 <= r["p_unreached"] <= 1 and r["mean_effort"] > 0 for r in rows.values())
    assert rows["measure + confirm"]["p_below_target"] <= 0.01
    assert any(cheaper)  # (the halfway efforts are tried: reverted, the two rules are the same)
    sample = np.arange(effort.SAMPLE)
    assert learn(table, sample, 96) in (*_LADDER["ef_search"], 96)
    assert float(table[max(table)].mean()) >= TARGET
