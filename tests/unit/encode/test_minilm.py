"""The default encoder (all-MiniLM-L6-v2, int8 ONNX) against the precomputed embeddings."""

from __future__ import annotations

import itertools
import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from vecnest.encode import MiniLMEncoder, default_encoder, minilm
from vecnest.errors import InvalidInputError, ModelIntegrityError

REPO_ROOT = Path(__file__).resolve().parents[3]


def shared_path(*parts: str) -> Path:
    """A path under $VECNEST_SHARED_DIR (default: ``shared`` beside the repo); fails if missing."""
    path = Path(os.environ.get("VECNEST_SHARED_DIR", REPO_ROOT.parent / "shared")).joinpath(*parts)
    if not path.exists():
        pytest.fail(f"shared data missing: {path} (set VECNEST_SHARED_DIR)")
    return path


def read_jsonl_head(path: Path, n: int) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in itertools.islice(f, n)]


def reference_rows(stem: str, ids: list[str]) -> np.ndarray:
    """Rows of ``shared/embeddings/<stem>.f16.npy`` for ``ids``, as ``(len(ids), 384) float32``."""
    all_ids = json.loads(shared_path("embeddings", f"{stem}.ids.json").read_text(encoding="utf-8"))
    pos = {doc_id: i for i, doc_id in enumerate(all_ids)}
    table = np.load(shared_path("embeddings", f"{stem}.f16.npy"), mmap_mode="r")
    return np.asarray(table[[pos[i] for i in ids]], dtype=np.float32)


def row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def encoder() -> MiniLMEncoder:
    return default_encoder()


@pytest.fixture(scope="module")
def scifact_docs() -> list[dict]:
    return read_jsonl_head(shared_path("datasets", "scifact", "corpus.jsonl"), 32)


def doc_text(d: dict) -> str:
    return (d["title"] + " " + d["text"]).strip()


# -- agreement with the reference recipe ----------------------------------------------------------


def test_matches_reference_arxiv_titles(encoder: MiniLMEncoder) -> None:
    rows = read_jsonl_head(shared_path("datasets", "arxiv-daily-cs", "corpus.jsonl"), 64)
    out = encoder.encode_documents([r["title"].strip() for r in rows])
    ref = reference_rows("arxiv-daily-cs.titles", [r["_id"] for r in rows])
    cos = row_cosines(out, ref)
    assert cos.min() >= 0.999, f"worst title cosine {cos.min():.6f} at row {int(cos.argmin())}"


def test_matches_reference_scifact_docs(encoder: MiniLMEncoder, scifact_docs: list[dict]) -> None:
    texts = [doc_text(d) for d in scifact_docs]
    assert max(len(t.split()) for t in texts) > 256  # the sample exercises truncation
    out = encoder.encode_documents(texts)
    ref = reference_rows("scifact.docs", [d["_id"] for d in scifact_docs])
    cos = row_cosines(out, ref)
    assert cos.min() >= 0.999, f"worst doc cosine {cos.min():.6f} at row {int(cos.argmin())}"


def test_matches_reference_scifact_queries(encoder: MiniLMEncoder) -> None:
    rows = read_jsonl_head(shared_path("datasets", "scifact", "queries.jsonl"), 32)
    out = encoder.encode_queries([r["text"] for r in rows])
    cos = row_cosines(out, reference_rows("scifact.queries", [r["_id"] for r in rows]))
    assert cos.min() >= 0.999


# -- output contract ------------------------------------------------------------------------------


def test_output_dtype_shape_and_unit_norm(encoder: MiniLMEncoder) -> None:
    out = encoder.encode_documents(["hello world", "", "a much longer sentence about retrieval"])
    assert out.shape == (3, 384)
    assert out.dtype == np.float32
    assert out.flags.c_contiguous
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert encoder.normalized is True
    assert encoder.dim == 384


def test_empty_list(encoder: MiniLMEncoder) -> None:
    for out in (encoder.encode_documents([]), encoder.encode_queries(())):
        assert out.shape == (0, 384)
        assert out.dtype == np.float32


def test_order_preserved_with_mixed_lengths(
    encoder: MiniLMEncoder, scifact_docs: list[dict]
) -> None:
    long_docs = [doc_text(d) for d in scifact_docs[:6]]
    short = ["graph neural networks", "x", "protein folding with deep learning", "cats", "", "BM25"]
    # short, long, short, long, ...
    texts = [t for pair in zip(short, long_docs, strict=True) for t in pair]
    alone = np.vstack([encoder.encode_documents([t]) for t in texts])
    together = encoder.encode_documents(texts)
    np.testing.assert_allclose(together, alone, atol=1e-5)
    # Many small batches (a tiny token budget) and a row cap give the same rows in the same order.
    split = MiniLMEncoder(max_batch_tokens=300).encode_documents(texts, batch_size=2)
    np.testing.assert_allclose(split, alone, atol=1e-5)


def test_queries_and_documents_agree(encoder: MiniLMEncoder) -> None:
    texts = ["what causes diabetes", "insulin resistance in adipose tissue"]
    np.testing.assert_array_equal(encoder.encode_queries(texts), encoder.encode_documents(texts))


def test_progress_and_batch_size_cap(encoder: MiniLMEncoder) -> None:
    done: list[int] = []
    texts = [f"sentence number {i}" for i in range(10)]
    encoder.encode_documents(texts, batch_size=4, progress=done.append)
    assert done == [4, 4, 2]
    done.clear()
    MiniLMEncoder(max_batch_tokens=16).encode_queries(texts, progress=done.append)
    assert done == [3, 3, 3, 1]  # 5 tokens per text ([CLS] sentence number i [SEP]): 3 fit in 16


def test_truncation_at_256_tokens(encoder: MiniLMEncoder) -> None:
    words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "home"]  # one token each
    tokens = [words[(i * 7) % len(words)] for i in range(2000)]
    prefix_256 = " ".join(tokens[:254])  # + [CLS] and [SEP] = 256 tokens
    prefix_128 = " ".join(tokens[:126])
    assert len(minilm._tokenizer().encode(prefix_256).ids) == 256
    full, at_256, at_128 = encoder.encode_documents([" ".join(tokens), prefix_256, prefix_128])
    np.testing.assert_allclose(full, at_256, atol=1e-5)
    # The shipped tokenizer.json says 128; the encoder must not inherit that.
    assert np.abs(full - at_128).max() > 1e-3


# -- integrity, laziness, threads, identity -------------------------------------------------------


def test_checksum_mismatch_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(minilm, "WEIGHTS_SHA256", "0" * 64)
    enc = MiniLMEncoder()
    with pytest.raises(
        ModelIntegrityError, match=r"has SHA-256 8199be6f.*, expected 0{64}.*force-reinstall"
    ):
        enc.encode_documents(["hello"])
    assert enc._session is None


def test_construction_is_lazy() -> None:
    enc = MiniLMEncoder(intra_op_threads=1)
    assert enc._session is None
    enc.fingerprint()
    assert enc._session is None
    enc.encode_queries(["build it now"])
    assert enc._session is not None


def test_concurrent_calls_give_the_same_vectors(encoder: MiniLMEncoder) -> None:
    texts = [f"document {i} about topic {i % 3}" for i in range(24)]
    expected = encoder.encode_documents(texts)
    results: dict[int, np.ndarray] = {}

    def work(k: int) -> None:
        results[k] = encoder.encode_documents(texts[k:] + texts[:k])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k, out in results.items():
        np.testing.assert_allclose(out, np.roll(expected, -k, axis=0), atol=1e-5)


def test_fingerprint(encoder: MiniLMEncoder) -> None:
    fp = encoder.fingerprint()
    assert json.loads(json.dumps(fp)) == fp
    assert fp == {
        "name": "all-MiniLM-L6-v2",
        "backend": "onnxruntime",
        "dim": 384,
        "weights_sha256": "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
        "pooling": "mean",
        "normalize": True,
        "max_seq_length": 256,
        "query_prompt": None,
        "document_prompt": None,
    }


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"intra_op_threads": 0}, r"intra_op_threads must be a positive int or None, got 0"),
        ({"max_batch_tokens": 0}, r"max_batch_tokens must be a positive int, got 0"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        MiniLMEncoder(**kwargs)
