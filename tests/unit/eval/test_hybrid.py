"""The dataset-level hybrid pipeline: modes, BM25 baseline run, calibration core."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import hashing_embed
from vecnest.errors import InvalidInputError
from vecnest.eval.beir import load_beir
from vecnest.eval.hybrid import HybridPipeline, bm25_run, calibrate, runs
from vecnest.search.relevance import RelevanceKind, RelevanceModel

TINY = Path(__file__).resolve().parents[2] / "data" / "tiny-beir"


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_modes_and_runs() -> None:
    data = load_beir(TINY)
    docs = _unit(hashing_embed(data.doc_texts))
    queries = _unit(hashing_embed(list(data.queries.values())))
    pipe = HybridPipeline.build(data.doc_texts, docs)
    for mode in ("dense", "lexical", "hybrid"):
        run = runs(pipe, data, queries, mode=mode, k=3)
        assert set(run) == set(data.queries) and all(len(v) <= 3 for v in run.values())
    lexical = runs(pipe, data, None, mode="lexical", k=6)
    # q1 "cats and kittens": d2 holds both terms (kitten twice), d1 only "cats"; nothing else matches
    assert list(lexical["q1"]) == ["d2", "d1"] and list(lexical["q3"]) == ["d6"]
    assert bm25_run(data, k=6) == lexical
    hits, result = pipe.search("cats", queries[0], 2, mode="hybrid")
    assert hits.names == ("dense", "lexical") and result is not None and result.max_score > 0
    with pytest.raises(InvalidInputError, match="mode must be one of"):
        pipe.search("cats", None, 2, mode="sparse")
    with pytest.raises(InvalidInputError, match="needs a query vector"):
        pipe.search("cats", None, 2, mode="dense")
    with pytest.raises(InvalidInputError, match="6 texts but 2 document vectors"):
        HybridPipeline.build(data.doc_texts, docs[:2])


def test_calibrate_fits_and_reports_heldout(tmp_path: Path) -> None:
    data = load_beir(TINY)
    docs = _unit(hashing_embed(data.doc_texts))
    queries = _unit(hashing_embed(list(data.queries.values())))
    model = calibrate(data, docs, queries, holdout=0.34, k=6)
    assert model.kind is RelevanceKind.LOGISTIC
    report = model.fitted_on
    assert report["dataset"] == "tiny-beir" and report["fit_queries"] == 2 and report["heldout_queries"] == 1
    for key in ("heldout", "heldout_distribution_model"):
        assert set(report[key]) == {"precision", "recall", "empty_rate", "queries"}
    model.save(tmp_path / "m.json")
    assert RelevanceModel.load(tmp_path / "m.json") == model
    with pytest.raises(InvalidInputError, match=r"holdout must be in \(0, 1\)"):
        calibrate(data, docs, queries, holdout=1.0)
