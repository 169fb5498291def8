"""A smoke run of the harness on the tiny set, with a cheap deterministic encoder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import vecnest
from conftest import REPO
from vecnest.eval.cache import cached_embeddings

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
    """The harness's RSS reading grows by what a fresh array touches. Measured in a fresh process:
    in the test session, other tests' threads may free or fault pages at the same moment."""
    script = (
        "import numpy as np\n"
        "from vecnest.eval.evaluate import _rss_bytes\n"
        "before = _rss_bytes()\n"
        "block = np.ones((64, 1024, 1024), dtype=np.uint8)\n"
        "print(before, _rss_bytes() - before)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120)
    before, grown = (int(x) for x in out.stdout.split())
    assert before > 0, "VmRSS could not be read from /proc/self/status"
    assert 60 * 2**20 <= grown <= 80 * 2**20, f"a touched 64 MiB array grew RSS by {grown} bytes"


def test_ann_recall_of_faiss_hnsw_matches_a_direct_faiss_computation(tmp_path: Path) -> None:
    """The harness's ANN recall for an HNSW configuration equals recall@10 computed straight from
    FAISS: an ``IndexFlatIP`` ground truth over the same vectors, scored against the same results."""
    import faiss

    from conftest import arxiv_titles
    from vecnest.config import IndexConfig, IndexKind

    ids, vecs, _, queries = arxiv_titles(3000, n_queries=40, seed=21)
    texts = [f"doc {i}" for i in ids]
    qtexts = [f"query {i}" for i in range(len(queries))]
    table = dict(zip(texts + qtexts, np.vstack([vecs, queries]), strict=True))
    enc = vecnest.CallableEncoder(lambda ts: np.stack([table[t] for t in ts]), dim=384, name="arxiv-title-lookup")
    base = tmp_path / "set"
    (base / "qrels").mkdir(parents=True)
    (base / "corpus.jsonl").write_text("".join(json.dumps({"_id": i, "title": "", "text": t}) + "\n" for i, t in zip(ids, texts, strict=True)))
    (base / "queries.jsonl").write_text("".join(json.dumps({"_id": f"q{j}", "text": t}) + "\n" for j, t in enumerate(qtexts)))
    (base / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"q{j}\t{ids[j]}\t1\n" for j in range(len(qtexts))))

    with vecnest.open(tmp_path / "store") as db:
        cfg = IndexConfig(kind=IndexKind.HNSW, min_rows=1000, ef_construction=40, m=8)
        col = db.create_collection("c", enc, index=cfg)
        col.add(ids, texts)
        search = {"ef_search": 10, "strategy": "ann"}  # low effort: recall well below 1
        report = vecnest.evaluate(col, base, ["ndcg@10"], k=10, search=search, cache_dir=None, latency_queries=5)
        got = col.search_batch(enc.encode_queries(qtexts), k=10, include=(), **search)

    unit = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    flat = faiss.IndexFlatIP(384)
    flat.add(unit)
    _, truth = flat.search(q, 10)
    pos = {d: i for i, d in enumerate(ids)}
    direct = np.mean([len({pos[h.id] for h in hits} & set(t.tolist())) / 10 for hits, t in zip(got, truth, strict=True)])
    assert 0.3 < direct < 0.999  # the check is only meaningful when the index misses some
    assert report.ann_recall["recall@10"] == pytest.approx(direct, abs=1e-9)
