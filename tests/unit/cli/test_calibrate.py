"""``vecnest calibrate``: fits a cut-off on a judged dataset, prints the held-out table, saves JSON."""

from __future__ import annotations

from pathlib import Path

import pytest

from vecnest.cli.main import main
from vecnest.search.relevance import RelevanceKind, RelevanceModel

TINY = Path(__file__).resolve().parents[2] / "data" / "tiny-beir"


def test_calibrate_writes_a_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VECNEST_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "rel.json"
    assert main(["calibrate", "--dataset", str(TINY), "--out", str(out), "--holdout", "0.34"]) == 0
    text = capsys.readouterr().out
    assert "relevance cut-off on tiny-beir" in text and "fitted (logistic)" in text and "label-free" in text
    model = RelevanceModel.load(out)
    assert model.kind is RelevanceKind.LOGISTIC and model.fitted_on["heldout_queries"] == 1


def test_calibrate_bad_dataset_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "--dataset", str(tmp_path / "missing")]) == 2
    assert "is not a directory" in capsys.readouterr().err
