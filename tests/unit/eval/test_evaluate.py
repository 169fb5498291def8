"""A smoke run of the harness on the tiny set, with a cheap deterministic encoder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import vecnest
from conftest import REPO
from vecnest.eval.cache import cached_embeddings
from vecnest.eval.evaluate import _rss_bytes

TINY = REPO / "tests" / "data" / "tiny-beir"


def test_evaluate_builds_and_measures(hashing_encoder: vecnest.CallableEncoder) -> None:
    report = vecnest.evaluate(hashing_encoder, TINY, ["ndcg@10", "recall@5"], k=5, cache_dir=None)
    assert report.n_docs == 6 and report.n_queries == 3
    assert 0.5 < report.quality["ndcg@10"] <= 1.0  # lexical overlap makes this set easy
    assert report.ann_recall["recall@5"] == 1.0  # exact search agrees with the numpy oracle
    assert report.latency_ms["p50"] > 0 and report.latency_ms["p99"] >= report.latency_ms["p50"]
    assert report.bytes_per_vector["vectors_float32"] == 64 * 4
    assert report.disk_bytes > 6 * 64 * 4
    json.dumps(report.to_json())
    assert "ndcg@10" in report.to_markdown()


def test_evaluate_existing_collection_and_mismatch(store: vecnest.Database, hashing_encoder: vecnest.CallableEncoder) -> None:
    data = vecnest.eval.load_beir(TINY)
    col = store.create_collection("tiny", hashing_encoder)
    col.add(data.doc_ids[:3], data.doc_texts[:3])
    with pytest.raises(vecnest.InvalidInputError, match="ingest the dataset"):
        vecnest.evaluate(col, data, cache_dir=None)
    col.add(data.doc_ids[3:], data.doc_texts[3:])
    report = vecnest.evaluate(col, data, ["ndcg@10"], k=6, cache_dir=None)
    built = vecnest.evaluate(hashing_encoder, data, ["ndcg@10"], k=6, cache_dir=None)
    assert report.quality == built.quality


def test_embedding_cache_reuses_vectors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    class Fake(vecnest.CallableEncoder):
        def fingerprint(self) -> dict:
            return {**super().fingerprint(), "weights_sha256": "ab" * 32}

    enc = Fake(lambda t: (calls.append(len(t)), np.ones((len(t), 4)))[1], dim=4, name="fake")
    a, hit_a = cached_embeddings(enc, ["x", "y"], kind="documents", cache_dir=tmp_path)
    b, hit_b = cached_embeddings(enc, ["x", "y"], kind="documents", cache_dir=tmp_path)
    c, hit_c = cached_embeddings(enc, ["x", "z"], kind="documents", cache_dir=tmp_path)
    assert (hit_a, hit_b, hit_c) == (False, True, False)
    np.testing.assert_array_equal(a, b)
    assert calls == [2, 2]
    assert not list(tmp_path.glob("*.tmp*"))


def test_memory_accounting_on_a_known_array() -> None:
    before = _rss_bytes()
    block = np.ones((64, 1024, 1024), dtype=np.uint8)  # 64 MiB, touched
    grown = _rss_bytes() - before
    assert 60 * 2**20 <= grown <= 80 * 2**20
    del block
