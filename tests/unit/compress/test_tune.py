from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vecnest.compress import tune
from vecnest.errors import BudgetError, CompressionConfigError, InvalidInputError


def _ev(name: str, quality: float, ram: float, ms: float = 1.0) -> tune.Evaluation:
    return tune.Evaluation(name, quality, "recall@10 vs float32", ram, ram, 0, 0.0, ms, 0.0)


def test_pick_by_hand() -> None:
    evs = [_ev("a", 0.999, 100.0), _ev("b", 0.990, 48.0, ms=2.0), _ev("c", 0.990, 40.0, ms=3.0), _ev("d", 0.95, 24.0), _ev("e", 0.80, 12.0)]
    # under 48 B: b and c tie on quality; b is faster
    assert tune.pick(evs, budget=48).pipeline == "b"
    assert tune.pick(evs, budget=39.9).pipeline == "d"
    # the least RAM reaching 0.99 is c (40 B); 0.95 -> d; 0.9991 -> nothing
    assert tune.pick(evs, min_quality=0.99).pipeline == "c"
    assert tune.pick(evs, min_quality=0.95).pipeline == "d"
    with pytest.raises(BudgetError, match=r"no candidate pipeline reaches quality 0.9991 .* the best is 'a' at 0.9990"):
        tune.pick(evs, min_quality=0.9991)
    with pytest.raises(BudgetError, match=r"no candidate pipeline fits in 10 bytes .* smallest is 'e' at 12.0 B .* at least 12B"):
        tune.pick(evs, budget=10)
    with pytest.raises(InvalidInputError, match="exactly one of budget"):
        tune.pick(evs)
    assert [e.pipeline for e in tune.pareto_front(evs)] == ["e", "d", "c", "a"]


def test_parse_budget() -> None:
    assert tune.parse_budget("48B", 384) == 48 and tune.parse_budget(24, 384) == 24
    assert tune.parse_budget("1/32", 384) == 48 and tune.parse_budget(" 12.5 bytes", 384) == 12.5
    for bad in ("48MB", "-3", 0, "lots"):
        with pytest.raises(InvalidInputError, match="budget must be"):
            tune.parse_budget(bad, 384)


def test_tune_on_a_tiny_dataset_picks_what_the_hand_computation_says(tmp_path: Path, rng: np.random.Generator) -> None:
    """40,000 rows of 16 dims, k = 5, multiplier 12: each first tier keeps 60 candidates per query,
    so with float32 rescoring every row the exact top 5 needs is found whenever it ranks in the
    code's top 60 — true for int8 and float16 (measured quality 1.0). RAM per row: binary 2 B,
    int8 16 B, float16 32 B, plus fixed arrays over 40,000 rows (the mean: 64 B; int8's ranges:
    128 B more), so well under 0.01 B per row. So a 3-byte
    budget can only take binary, a 20-byte one int8 (binary if it also reaches int8's quality),
    a quality floor of 1.0 takes the cheapest pipeline reaching 1.0, and 1.5 bytes is impossible."""
    centres = rng.standard_normal((50, 16))
    x = (centres[rng.integers(0, 50, 40_000)] + 0.3 * rng.standard_normal((40_000, 16))).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    cands = ["binary > float32", "int8 > float32", "float16 > float32"]
    kwargs = {"k": 5, "multipliers": (12,), "n_queries": 100, "workdir": tmp_path / "w"}
    result = tune.tune(x, budget="3B", candidates=cands, plot=tmp_path / "p.png", **kwargs)
    by = {e.pipeline.split(" >")[0]: e for e in result.evaluations}
    assert set(by) == {"binary@12", "int8@12", "float16@12"}
    assert by["binary@12"].codes_bytes_per_vector == 2.0 and by["binary@12"].fixed_ram_bytes == 64  # measured: all resident
    assert by["int8@12"].codes_bytes_per_vector == 16.0 and by["int8@12"].fixed_ram_bytes == 64 + 128
    assert by["float16@12"].codes_bytes_per_vector == 32.0
    assert by["binary@12"].ram_bytes_per_vector == 2.0 + 64 / 40_000
    assert by["int8@12"].quality == 1.0 and by["float16@12"].quality == 1.0
    assert result.choice is not None and result.choice.pipeline == "binary@12 > float32"
    assert result.baseline is not None and result.baseline.quality == 1.0 and result.baseline.ram_bytes_per_vector == 64
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not any(p.name.startswith("tiers-") for p in (tmp_path / "w").iterdir())  # builds cleaned up
    want = "binary@12 > float32" if by["binary@12"].quality == 1.0 else "int8@12 > float32"
    assert tune.pick(result.evaluations, min_quality=1.0).pipeline == want
    assert tune.pick(result.evaluations, budget=20).pipeline == want
    with pytest.raises(BudgetError, match="no candidate pipeline fits in 1.5 bytes"):
        tune.tune(x, budget=1.5, candidates=cands, **kwargs)
    with pytest.raises(CompressionConfigError, match="keeps 32 dimensions, but the vectors have 16"):
        tune.tune(x, budget=3, candidates=["binary-rot32 > float32"], **kwargs)
    with pytest.raises(InvalidInputError, match="not both"):
        tune.tune(x, budget=3, min_quality=0.9, candidates=cands, **kwargs)


def test_table_marks_choice_and_front(rng: np.random.Generator) -> None:
    from rich.console import Console

    evs = [_ev("x > float32", 0.99, 48.0), _ev("y > float32", 0.9, 60.0)]
    result = tune.TuneResult(evs, tune.pareto_front(evs), evs[0], _ev("float32", 1.0, 1536.0))
    console = Console(record=True, width=160)
    console.print(tune.table(result))
    text = console.export_text()
    assert "chosen" in text and "float32" in text and "y > float32" in text


def test_default_candidates_all_parse() -> None:
    from vecnest.compress.spec import parse_pipeline

    for dim in (16, 64, 384):
        cands = tune.default_candidates(dim)
        assert len(cands) >= 8
        for c in cands:
            parse_pipeline(c, dim)
