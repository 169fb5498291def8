"""Rerankers: passage rescoring re-fused with the lexical side, feedback, a user's cross-encoder."""

from __future__ import annotations

import numpy as np
import pytest

from vecnest.errors import InvalidInputError
from vecnest.search.hybrid import Side, fuse
from vecnest.search.rerank import CrossEncoderReranker, FeedbackRescorer, PassageRescorer, refuse


def _setup():
    # four documents in 2-d; the query points along x. Document 3's own vector misses the query
    # but one of its passages (the text the model truncated) matches it exactly.
    vecs = np.array([[0.8, 0.6], [0.6, 0.8], [0.0, 1.0], [0.0, 1.0]], np.float32)
    q = np.array([1.0, 0.0], np.float32)
    owners = np.array([3, 3])
    passages = np.array([[0.0, 1.0], [1.0, 0.0]], np.float16)
    dense = vecs @ q
    d_top = np.argsort(-dense, kind="stable")
    lex = np.array([1.0, 0.0, 0.0, 1.0])
    l_top = np.array([0, 3])
    sides = [
        Side("dense", d_top, dense[d_top], lambda s: vecs[s] @ q),
        Side("lexical", l_top, lex[l_top], lambda s: lex[s], pad_to=4),
    ]
    return vecs, q, owners, passages, sides


def test_passages_lift_a_document_whose_tail_matches() -> None:
    vecs, q, owners, passages, sides = _setup()
    first = fuse(sides, 4, eligible=4)
    assert first.slots.tolist()[:2] == [0, 1]
    rescorer = PassageRescorer(lambda s: vecs[s], owners, passages)
    np.testing.assert_allclose(rescorer(q, first, np.array([3, 0])), [0.5, 0.8])
    second = refuse(sides, first, q, [rescorer], 4, eligible=4)
    assert second.slots.tolist()[0] == 0 and second.slots.tolist().index(3) < first.slots.tolist().index(3)
    dense_row = second.names.index("dense")
    assert second.side_scores[dense_row, second.slots.tolist().index(3)] == pytest.approx(0.5)


def test_feedback_uses_the_first_stage_top() -> None:
    vecs, q, _, _, sides = _setup()
    first = fuse(sides, 4, eligible=4)
    got = FeedbackRescorer(lambda s: vecs[s], top=1, beta=1.0)(q, first, np.array([0, 1, 2]))
    q2 = (q + vecs[first.slots[0]]) / np.linalg.norm(q + vecs[first.slots[0]])
    np.testing.assert_allclose(got, vecs[[0, 1, 2]] @ q2, rtol=1e-6)


def test_refuse_needs_a_dense_side() -> None:
    _, q, _, _, sides = _setup()
    first = fuse(sides[1:], 2, eligible=4)
    with pytest.raises(InvalidInputError, match="needs a dense side"):
        refuse(sides[1:], first, q, [], 2, eligible=4)


def test_cross_encoder_callable_reorders_the_top() -> None:
    _, _, _, _, sides = _setup()
    hits = fuse(sides, 4, eligible=4)
    texts = {0: "alpha", 1: "beta", 2: "gamma", 3: "delta"}
    seen = []

    def score(query: str, docs: list[str]) -> list[float]:
        seen.append((query, docs))
        return [len(d) for d in docs]  # longest text wins

    ce = CrossEncoderReranker(score, depth=3)
    out = ce.rerank("q", hits, lambda slots: [texts[s] for s in slots.tolist()])
    assert seen == [("q", [texts[s] for s in hits.slots[:3].tolist()])]
    top3 = sorted(hits.slots[:3].tolist(), key=lambda s: (-len(texts[s]), s))
    assert out.slots.tolist() == top3 + hits.slots[3:].tolist()
    with pytest.raises(InvalidInputError, match="returned"):
        CrossEncoderReranker(lambda q, d: [1.0], depth=3).rerank("q", hits, lambda s: ["x"] * len(s))


def test_load_cross_encoder_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    from vecnest.errors import MissingDependencyError
    from vecnest.search import rerank

    real = importlib.import_module

    def fake(name: str, *a: object) -> object:
        if name == "sentence_transformers":
            raise ImportError("No module named 'sentence_transformers'")
        return real(name, *a)

    monkeypatch.setattr(importlib, "import_module", fake)
    with pytest.raises(MissingDependencyError, match=r"vecnest\[torch\]"):
        rerank.load_cross_encoder("cross-encoder/ms-marco-MiniLM-L-6-v2")
