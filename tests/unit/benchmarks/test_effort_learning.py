"""The effort-learning study's replay of the rules, on a recall table made by hand."""

from __future__ import annotations

import numpy as np
from effort_learning import BETWEEN, TARGET, learn, replay

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


def test_the_replay_confirms_or_steps_up_never_below_what_was_measured() -> None:
    """Per draw, confirming can only raise the measured effort, and stepping up never above the
    fallback to the calibrated effort: so the shares below the target order the same way."""
    rng = np.random.default_rng(0)
    table = _table(rng)
    for calibrated in (48, 55, 96):
        rows = {r["rule"]: r for r in replay(table, calibrated, 300, np.random.default_rng(1))}
        assert set(rows) == {"measure only", "confirm, else calibrated", "measure + confirm"}
        only, back, up = rows["measure only"], rows["confirm, else calibrated"], rows["measure + confirm"]
        assert only["mean_effort"] <= up["mean_effort"] <= back["mean_effort"]
        assert back["p_below_target"] <= up["p_below_target"] <= only["p_below_target"]
        assert all(r["calibrated"] == calibrated for r in rows.values())
    sample = np.arange(32)
    assert learn(table, sample, 96) in (*_LADDER["ef_search"], 96)
    assert float(table[max(table)].mean()) >= TARGET
