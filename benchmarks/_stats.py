"""Pure statistics of the benchmark harness: latency summaries, ratios of medians with their
spread, verdicts against targets, effort selection. Arrays in, numbers out; no I/O, no clocks.

Conventions used by every benchmark:

* Latencies are seconds, one per query (or per call). A *repetition* is one pass of a system over
  a workload's queries; repetitions of different systems are interleaved by the caller.
* A ratio between two systems is a ratio of **medians of per-query latency**, computed on the
  queries both answered. Its spread is the min..max of the per-repetition ratios, widened to a
  percentile-bootstrap interval over queries when that is wider (:func:`ratio_of_medians`).
* A target is **met** only when the whole spread clears it; **not met** when the whole spread
  misses it; otherwise the result is **inside noise** (:func:`verdict`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import numpy as np

#: Bootstrap resamples and seed (fixed: the interval is part of the published result).
BOOTSTRAP = 2000
BOOTSTRAP_SEED = 0


# ---------------------------------------------------------------------------------------------
# HIGH-LEVEL API
# ---------------------------------------------------------------------------------------------


class Verdict(StrEnum):
    """How a measured spread compares with a target."""

    MET = "met"  #: the whole spread clears the target
    NOT_MET = "not met"  #: the whole spread misses the target
    NOISE = "inside noise"  #: the target lies inside the spread
    NO_DATA = "no data"  #: nothing to compare (a system failed or never reached the recall)


@dataclass(frozen=True)
class Spread:
    """A ratio (or any statistic) with the range it moved in.

    Attributes:
        point: the estimate from all repetitions pooled.
        lo / hi: the envelope used for verdicts: min..max of ``per_rep``, widened to the
            bootstrap interval ``ci_lo..ci_hi`` where that is wider.
        per_rep: the statistic of each repetition on its own.
        ci_lo / ci_hi: 95 % percentile-bootstrap interval over queries (``None`` if not computed).
        n: number of queries (or calls) the point estimate is based on.
    """

    point: float
    lo: float
    hi: float
    per_rep: tuple[float, ...]
    ci_lo: float | None
    ci_hi: float | None
    n: int

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["per_rep"] = list(self.per_rep)
        return out


def latency_summary(seconds: Sequence[float] | np.ndarray) -> dict[str, float | int]:
    """Distribution of per-call times: ``n``, ``p50_ms``/``p95_ms``/``p99_ms``/``max_ms``/``mean_ms``
    and ``qps`` (calls / summed time). Empty input gives ``{"n": 0}``."""
    arr = np.asarray(seconds, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return {"n": 0}
    ms = arr * 1e3
    total = float(arr.sum())
    return {
        "n": int(arr.size),
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "p99_ms": float(np.percentile(ms, 99)),
        "max_ms": float(ms.max()),
        "mean_ms": float(ms.mean()),
        "qps": float(arr.size / total) if total > 0 else float("inf"),
    }


def ratio_of_medians(num: np.ndarray, den: np.ndarray, *, bootstrap: int = BOOTSTRAP, seed: int = BOOTSTRAP_SEED) -> Spread | None:
    """``median(num) / median(den)`` over paired queries, with its spread.

    Args:
        num, den: ``(reps, n_queries) float64`` per-query latencies of the two systems; ``nan``
            where a query was not answered in that repetition. Column ``j`` is the same query
            in both arrays (pairing).

    Returns:
        The pooled ratio (per query the median over repetitions, then the median over the
        queries both systems answered), the ratio of each repetition on its own (over the
        queries both answered in it) and a percentile-bootstrap 95 % interval that resamples
        queries. ``None`` when no query was answered by both.

    Example: with ``num`` = latencies of the reference peer and ``den`` = vecnest's, the result is
    vecnest's speed relative to that peer (> 1: vecnest faster).
    """
    num = np.atleast_2d(np.asarray(num, dtype=np.float64))
    den = np.atleast_2d(np.asarray(den, dtype=np.float64))
    n_q = min(num.shape[1], den.shape[1])
    num, den = num[:, :n_q], den[:, :n_q]
    per_rep = []
    for r in range(min(num.shape[0], den.shape[0])):
        both = np.isfinite(num[r]) & np.isfinite(den[r])
        if both.any():
            d = float(np.median(den[r, both]))
            if d > 0:
                per_rep.append(float(np.median(num[r, both])) / d)
    qn, qd = _nanmedian_rows(num), _nanmedian_rows(den)
    both = np.isfinite(qn) & np.isfinite(qd)
    if not both.any() or not per_rep:
        return None
    qn, qd = qn[both], qd[both]
    point = float(np.median(qn) / np.median(qd))
    ci_lo = ci_hi = None
    if bootstrap and len(qn) >= 5:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, len(qn), size=(bootstrap, len(qn)))
        ratios = np.median(qn[idx], axis=1) / np.median(qd[idx], axis=1)
        ci_lo, ci_hi = (float(x) for x in np.percentile(ratios, [2.5, 97.5]))
    lo = min([*per_rep, point] + ([ci_lo] if ci_lo is not None else []))
    hi = max([*per_rep, point] + ([ci_hi] if ci_hi is not None else []))
    return Spread(point, lo, hi, tuple(per_rep), ci_lo, ci_hi, int(len(qn)))


def ratio_unpaired(num: Sequence[np.ndarray], den: Sequence[np.ndarray], *, bootstrap: int = BOOTSTRAP, seed: int = BOOTSTRAP_SEED) -> Spread | None:
    """``median(num) / median(den)`` for samples that are not paired query by query (e.g.
    latencies of whatever queries fell in a busy and in an idle time window).

    Args:
        num, den: one 1-d array of latencies per repetition each; repetition ``i`` of ``num``
            is compared with repetition ``i`` of ``den`` for the per-repetition ratios.

    The point estimate pools all repetitions; the bootstrap resamples each pooled sample
    independently.
    """
    per_rep = []
    for a, b in zip(num, den, strict=False):
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        if a.size and b.size and np.median(b) > 0:
            per_rep.append(float(np.median(a) / np.median(b)))
    pa = np.concatenate([np.asarray(a, dtype=np.float64) for a in num]) if len(num) else np.empty(0)
    pb = np.concatenate([np.asarray(b, dtype=np.float64) for b in den]) if len(den) else np.empty(0)
    if not per_rep or pa.size == 0 or pb.size == 0:
        return None
    point = float(np.median(pa) / np.median(pb))
    ci_lo = ci_hi = None
    if bootstrap and pa.size >= 5 and pb.size >= 5:
        rng = np.random.default_rng(seed)
        ma = np.median(pa[rng.integers(0, pa.size, size=(bootstrap, pa.size))], axis=1)
        mb = np.median(pb[rng.integers(0, pb.size, size=(bootstrap, pb.size))], axis=1)
        ci_lo, ci_hi = (float(x) for x in np.percentile(ma / mb, [2.5, 97.5]))
    lo = min([*per_rep, point] + ([ci_lo] if ci_lo is not None else []))
    hi = max([*per_rep, point] + ([ci_hi] if ci_hi is not None else []))
    return Spread(point, lo, hi, tuple(per_rep), ci_lo, ci_hi, int(min(pa.size, pb.size)))


def ratio_of_totals(num: Sequence[float], den: Sequence[float]) -> Spread | None:
    """Ratio of two quantities measured once per repetition (e.g. total ingest seconds):
    point = ``median(num) / median(den)``, per-repetition ratios pair ``num[i]`` with ``den[i]``
    (the runs of one interleaved round)."""
    a, b = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    n = min(len(a), len(b))
    if n == 0 or np.median(b[:n]) <= 0:
        return None
    per_rep = tuple(float(x / y) for x, y in zip(a[:n], b[:n], strict=True) if y > 0)
    point = float(np.median(a[:n]) / np.median(b[:n]))
    return Spread(point, min((*per_rep, point)), max((*per_rep, point)), per_rep, None, None, n)


def verdict(spread: Spread | None, target: float, *, higher_is_better: bool) -> Verdict:
    """Compare a spread with a target: met only if the whole spread clears it.

    ``higher_is_better=True``: the goal is ``value >= target`` (e.g. a speed ratio ≥ 1.0);
    ``False``: the goal is ``value <= target`` (e.g. a cost ratio ≤ 1.1).
    """
    if spread is None:
        return Verdict.NO_DATA
    lo, hi = spread.lo, spread.hi
    if higher_is_better:
        if lo >= target:
            return Verdict.MET
        if hi < target:
            return Verdict.NOT_MET
        return Verdict.NOISE
    if hi <= target:
        return Verdict.MET
    if lo > target:
        return Verdict.NOT_MET
    return Verdict.NOISE


def verdict_exact(value: float | None, target: float, *, higher_is_better: bool) -> Verdict:
    """Verdict for a quantity without sampling noise across repetitions (e.g. recall of a
    deterministic search on a fixed query set)."""
    if value is None:
        return Verdict.NO_DATA
    ok = value >= target if higher_is_better else value <= target
    return Verdict.MET if ok else Verdict.NOT_MET


def pick_effort(recalls: Sequence[float | None], target: float) -> int | None:
    """Index of the cheapest effort reaching ``target``.

    ``recalls`` follow a sweep ordered by increasing effort (cost grows with effort), so the
    cheapest setting that reaches the target is the first one that does. ``None`` entries (the
    setting failed or was not run) are skipped. Returns ``None`` if no setting reaches it.
    """
    for i, r in enumerate(recalls):
        if r is not None and r >= target:
            return i
    return None


def overshoot_steps(grid: Sequence[float], needed: float, used: float) -> int:
    """How many steps of the sweep ``grid`` an effort ``used`` lies above the effort ``needed``.

    ``grid`` is the sweep (ascending) and ``needed`` one of its values: the least effort that
    reached the target. ``used`` (e.g. a calibrated default, not necessarily on the grid) counts as
    ``s`` steps above when ``grid[i + s]`` is the first grid value ``>= used``, ``i`` being the
    position of ``needed``; an effort beyond the grid counts as ``len(grid) - i``. Example:
    grid ``[64, 96, 128, 192]``, needed 96: used 96 → 0, 120 → 1, 149 → 2.
    """
    g = sorted(float(x) for x in grid)
    if float(needed) not in g:
        raise ValueError(f"needed effort {needed} is not a value of the sweep grid {g}")
    i = g.index(float(needed))
    if used <= needed:
        return 0
    for j in range(i, len(g)):
        if g[j] >= used:
            return j - i
    return len(g) - i


def window_of(times: np.ndarray, edges: Sequence[tuple[float, float, str]]) -> list[str | None]:
    """Label each time with the window ``(start, end, label)`` it falls in (``[start, end)``;
    ``None`` outside every window)."""
    out: list[str | None] = []
    for t in np.asarray(times, dtype=np.float64).tolist():
        label = None
        for start, end, name in edges:
            if start <= t < end:
                label = name
                break
        out.append(label)
    return out


def subtract_intervals(span: tuple[float, float], remove: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The parts of ``span = (start, end)`` not covered by any interval of ``remove``.

    >>> subtract_intervals((0, 10), [(2, 3), (8, 12)])
    [(0, 2), (3, 8)]
    """
    parts = [span]
    for a, b in remove:
        nxt = []
        for s, e in parts:
            if b <= s or a >= e:
                nxt.append((s, e))
                continue
            if a > s:
                nxt.append((s, a))
            if b < e:
                nxt.append((b, e))
        parts = nxt
    return [(s, e) for s, e in parts if e > s]


# ---------------------------------------------------------------------------------------------
# LOW-LEVEL
# ---------------------------------------------------------------------------------------------


def _nanmedian_rows(x: np.ndarray) -> np.ndarray:
    """Per column, the median over rows ignoring ``nan`` (``nan`` where a column has none)."""
    out = np.full(x.shape[1], np.nan)
    ok = np.isfinite(x).any(axis=0)
    if ok.any():
        out[ok] = np.nanmedian(x[:, ok], axis=0)
    return out
