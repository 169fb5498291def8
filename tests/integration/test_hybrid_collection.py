"""Lexical and hybrid search through the collection: exact BM25 under filters, churn and pending
rows (an oracle rebuilt from the live documents decides), the LIMIT-small recall targets."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

import vecnest
from tests.conftest import hashing_embed, require_shared
from vecnest.eval.beir import load_beir
from vecnest.eval.metrics import ir_metrics
from vecnest.lexical import LexicalIndex
from vecnest.lexical.maintain import LexicalMaintainer

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma".split()
QUERIES = ["alpha", "beta gamma", "delta delta epsilon", "zeta theta pi", "kappa", "omicron rho sigma alpha"]
FILTERS = [None, {"g": 0}, {"g": {"$in": [1, 2]}}, {"n": {"$lt": 40}}, {"$not": {"g": 3}}]


def _texts(rng: np.random.Generator, n: int) -> list[str]:
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 12)))) for _ in range(n)]


def _oracle(col: vecnest.Collection, query: str, where: dict | None, k: int) -> list[tuple[str, float]]:
    """BM25 from an index built now over the live documents (statistics over every live one)."""
    docs = col.get()  # in slot order: the same tie-break as the collection's
    allowed = {d.id for d in col.get(where=where)} if where else {d.id for d in docs}
    with tempfile.TemporaryDirectory() as tmp:
        index = LexicalIndex.rebuild(Path(tmp) / "x", np.arange(len(docs)), [d.text for d in docs], upto=len(docs))
        mask = np.array([d.id in allowed for d in docs])
        slots, scores = index.search(query, k, n_slots=len(docs), alive=np.ones(len(docs), bool), match=mask)
    return [(docs[s].id, float(sc)) for s, sc in zip(slots, scores, strict=True)]


def _check_lexical(col: vecnest.Collection, k: int = 7) -> None:
    for q in QUERIES:
        for where in FILTERS:
            got = [(h.id, h.score) for h in col.search(q, k=k, mode="lexical", where=where, include=())]
            want = _oracle(col, q, where, k)
            assert [g[0] for g in got] == [w[0] for w in want], (q, where)
            np.testing.assert_allclose([g[1] for g in got], [w[1] for w in want], rtol=1e-5)
            hybrid = col.search(q, k=k, mode="hybrid", where=where)
            allowed = {d.id for d in col.get(where=where)} if where else None
            assert allowed is None or all(h.id in allowed for h in hybrid)


@pytest.fixture
def encoder() -> vecnest.CallableEncoder:
    return vecnest.CallableEncoder(hashing_embed, dim=64, name="hash")


def test_lexical_search_is_exact_under_filters_and_churn(tmp_path: Path, encoder: vecnest.CallableEncoder) -> None:
    rng = np.random.default_rng(0)
    with vecnest.open(tmp_path / "s", background=False) as db:
        col = db.create_collection("c", encoder)
        n = 120
        col.add([f"d{i}" for i in range(n)], _texts(rng, n), [{"g": i % 4, "n": i} for i in range(n)])
        _check_lexical(col)
        for round_ in range(10):  # upsert and delete 20 % per round
            ids = [d.id for d in col.get()]
            chosen = rng.choice(ids, size=len(ids) // 5, replace=False).tolist()
            half = len(chosen) // 2
            col.upsert(chosen[:half], _texts(rng, half), [{"g": int(rng.integers(4)), "n": round_} for _ in range(half)])
            col.delete(ids=chosen[half:])
            col.add([f"r{round_}-{j}" for j in range(half)], _texts(rng, half), [{"g": j % 4, "n": j} for j in range(half)])
        col.wait_for_maintenance()
        _check_lexical(col)  # after churn: exactly a fresh index's results


def test_rows_not_yet_indexed_are_found_and_deleted_ones_never(tmp_path: Path, encoder: vecnest.CallableEncoder, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    with vecnest.open(tmp_path / "s", background=False) as db:
        col = db.create_collection("c", encoder)
        col.add([f"d{i}" for i in range(60)], _texts(rng, 60), [{"g": i % 4, "n": i} for i in range(60)])
        monkeypatch.setattr(LexicalMaintainer, "run_if_needed", lambda self: None)  # the index falls behind
        col.add(["new"], ["omicron omicron omicron rho"], [{"g": 0, "n": 1}])
        col.delete(ids=[h.id for h in col.search("alpha", k=5, mode="lexical", include=())])
        assert col.search("omicron rho", k=1, mode="lexical", include=())[0].id == "new"
        _check_lexical(col)
        monkeypatch.undo()
        col.add(["after"], ["sigma"], [{"g": 1, "n": 2}])  # maintenance runs again
        _check_lexical(col)


def test_a_new_process_and_a_read_only_store_search_lexically(tmp_path: Path, encoder: vecnest.CallableEncoder) -> None:
    rng = np.random.default_rng(2)
    with vecnest.open(tmp_path / "s") as db:
        col = db.create_collection("c", encoder)
        col.add([f"d{i}" for i in range(80)], _texts(rng, 80), [{"g": i % 4, "n": i} for i in range(80)])
        want = [h.id for h in col.search("beta gamma", k=5, mode="lexical", include=())]
    with vecnest.open(tmp_path / "s", read_only=True) as db:
        col = db.get_collection("c", model=encoder)
        assert [h.id for h in col.search("beta gamma", k=5, mode="lexical", include=())] == want
        _check_lexical(col)


def test_modes_and_options(tmp_path: Path, encoder: vecnest.CallableEncoder) -> None:
    with vecnest.open(tmp_path / "s", background=False) as db:
        col = db.create_collection("c", encoder)
        col.add(["a", "b", "c"], ["cats purr softly", "dogs bark loudly", "stock markets fell"])
        plain = db.create_collection("v", model=None, dim=4, lexical=False)
        plain.add(["x"], vectors=np.ones((1, 4)))
        hits = col.search("the cats", k=2, explain=True)  # auto: hybrid for a text query
        assert hits[0].id == "a" and hits.plan.hybrid["mode"] == "hybrid"
        assert {"dense_rank", "lexical_rank", "probability"} <= set(hits.plan.hybrid["hits"][0])
        assert col.search("the cats", k=2, mode="dense")[0].score == pytest.approx(
            col.search(hashing_embed(["the cats"])[0], k=2)[0].score, rel=1e-5
        )
        assert col.search(hashing_embed(["stock"])[0], k=1, text="stock markets", mode="hybrid")[0].id == "c"
        with pytest.raises(vecnest.InvalidInputError, match="mode must be one of"):
            col.search("x", mode="semantic")
        with pytest.raises(vecnest.InvalidInputError, match="lexical=None"):
            plain.search(np.ones(4), mode="hybrid", text="x")
        with pytest.raises(vecnest.InvalidInputError, match="min_relevance"):
            col.search("cats", min_relevance=1.5)
        with pytest.raises(vecnest.InvalidInputError, match="rerank must be"):
            col.search("cats", rerank="cross")
        with pytest.raises(vecnest.InvalidInputError, match="strategy must be one of"):
            col.search("cats", strategy="lexical")
        assert col.search("cats", k=3, rerank="feedback")[0].id == "a"


@pytest.mark.slow
def test_limit_small_hybrid_recall_through_the_collection(tmp_path: Path) -> None:
    data = load_beir(require_shared("datasets", "limit-small"))
    with vecnest.open(tmp_path / "s") as db:
        col = db.create_collection("limit")  # the default model
        col.add(data.doc_ids, data.doc_texts)
        qids, qtexts = list(data.queries), list(data.queries.values())

        def run(mode: str) -> dict[str, dict[str, float]]:
            results = col.search_batch(qtexts, k=10, mode=mode, include=())
            return {q: {h.id: float(10 - i) for i, h in enumerate(hits)} for q, hits in zip(qids, results, strict=True)}

        hybrid = ir_metrics(data.qrels, run("auto"), ["recall@2", "recall@10"])
        dense = ir_metrics(data.qrels, run("dense"), ["recall@2"])
    assert dense["recall@2"] < 0.25  # a single vector fails this set (the LIMIT paper's point) ...
    assert hybrid["recall@2"] >= 0.97 and hybrid["recall@10"] >= 0.995  # ... the default fusion does not
