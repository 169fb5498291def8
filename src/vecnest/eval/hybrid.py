"""Hybrid retrieval on a BEIR dataset without a collection: exact dense scores over given vectors,
a lexical index of the corpus, fusion, reranking, relevance calibration.

The reference pipeline behind ``benchmarks/hybrid.py`` and ``vecnest calibrate``, and the
building blocks ``vecnest eval --mode/--rerank`` will share with ``Collection.search`` once the
collection wires hybrid search in (slots here are corpus row numbers).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vecnest.errors import InvalidInputError
from vecnest.eval.beir import BeirDataset
from vecnest.lexical import AnalyzerConfig, LexicalIndex, LexicalResult, LexicalSearcher
from vecnest.search.hybrid import FusedHits, FusionConfig, Side, fuse
from vecnest.search.relevance import RelevanceModel, hit_inputs
from vecnest.search.rerank import DenseRescorer, refuse

__all__ = [
    "HybridPipeline",
    "MODES",
    "bm25_run",
    "runs",
    "relevance_examples",
    "cut_quality",
    "calibrate",
    "calibrate_dataset",
]

#: Search modes.
MODES = ("dense", "lexical", "hybrid")


@dataclass
class HybridPipeline:
    """Dense + lexical retrieval over one corpus (rows are slots).

    Attributes:
        doc_vecs: ``(n, dim) float32`` unit document vectors (or ``None``: lexical only).
        lexical: a searcher over the corpus.
        fusion: how sides are fused.
    """

    doc_vecs: np.ndarray | None
    lexical: LexicalSearcher
    fusion: FusionConfig

    @classmethod
    def build(
        cls,
        texts: Sequence[str],
        doc_vecs: np.ndarray | None,
        *,
        analyzer: AnalyzerConfig | None = None,
        fusion: FusionConfig | None = None,
        directory: str | Path | None = None,
    ) -> HybridPipeline:
        """Index ``texts`` (in ``directory``, else a temporary one) and wrap the vectors."""
        n = len(texts)
        if doc_vecs is not None and doc_vecs.shape[0] != n:
            raise InvalidInputError(f"{n} texts but {doc_vecs.shape[0]} document vectors")
        with tempfile.TemporaryDirectory(prefix="vecnest-lexical-") as tmp:
            index = LexicalIndex.rebuild(
                Path(directory or tmp) / "lexical", np.arange(n), list(texts), upto=n, config=analyzer
            )
            searcher = index.searcher(n_slots=n, alive=np.ones(n, bool))
        return cls(doc_vecs, searcher, fusion or FusionConfig())

    @property
    def n_docs(self) -> int:
        """Documents in the corpus."""
        return self.lexical.n_slots

    def dense_side(self, query_vec: np.ndarray, window: int) -> Side:
        """The dense side: exact inner products, top ``window``."""
        if self.doc_vecs is None:
            raise InvalidInputError("this pipeline has no document vectors: use mode='lexical'")
        vecs = self.doc_vecs
        q = np.asarray(query_vec, dtype=np.float32)
        scores = vecs @ q
        w = min(window, scores.size)
        top = np.argpartition(-scores, w - 1)[:w]
        top = top[np.lexsort((top, -scores[top]))]
        return Side("dense", top, scores[top], lambda slots: vecs[slots] @ q)

    def lexical_side(self, result: LexicalResult, window: int) -> Side:
        """The lexical side of a scored query: top ``window`` (documents with a query term)."""
        slots, scores = result.top(window)
        return Side("lexical", slots, scores, result.scores, pad_to=window)

    def search(
        self,
        query_text: str,
        query_vec: np.ndarray | None,
        k: int,
        *,
        mode: str = "hybrid",
        rescorers: Sequence[DenseRescorer] = (),
    ) -> tuple[FusedHits, LexicalResult | None]:
        """One query: fused hits (any mode) and the lexical result (for its ``max_score``)."""
        if mode not in MODES:
            raise InvalidInputError(f"mode must be one of {list(MODES)}; got {mode!r}")
        window = max(self.fusion.window, k)
        sides: list[Side] = []
        result = None
        if mode in ("dense", "hybrid"):
            if query_vec is None:
                raise InvalidInputError(f"mode={mode!r} needs a query vector")
            sides.append(self.dense_side(query_vec, window))
        if mode in ("lexical", "hybrid"):
            result = self.lexical.query(query_text)
            sides.append(self.lexical_side(result, window))
        hits = fuse(sides, k, eligible=self.n_docs, config=self.fusion)
        if rescorers:
            hits = refuse(
                sides,
                hits,
                np.asarray(query_vec, dtype=np.float32),
                rescorers,
                k,
                eligible=self.n_docs,
                config=self.fusion,
            )
        return hits, result


def runs(
    pipeline: HybridPipeline,
    data: BeirDataset,
    query_vecs: np.ndarray | None,
    *,
    mode: str = "hybrid",
    k: int = 100,
    rescorers: Sequence[DenseRescorer] = (),
    progress: Callable[[int], None] | None = None,
) -> dict[str, dict[str, float]]:
    """A ranx-style run (query id → {doc id: score}) over the dataset's judged queries.

    Args:
        query_vecs: ``(q, dim)`` vectors of ``data.queries`` in order (``None`` for lexical).
    """
    out: dict[str, dict[str, float]] = {}
    for i, (qid, text) in enumerate(data.queries.items()):
        qv = None if query_vecs is None else query_vecs[i]
        hits, _ = pipeline.search(text, qv, k, mode=mode, rescorers=rescorers)
        out[qid] = {
            data.doc_ids[s]: float(v) for s, v in zip(hits.slots.tolist(), hits.scores.tolist(), strict=True)
        }
        if progress is not None:
            progress(1)
    return out


def bm25_run(
    data: BeirDataset, *, k: int = 100, analyzer: AnalyzerConfig | None = None
) -> dict[str, dict[str, float]]:
    """The BM25 baseline run of a dataset (default analyser: the published SciFact setting)."""
    pipeline = HybridPipeline.build(data.doc_texts, None, analyzer=analyzer)
    return runs(pipeline, data, None, mode="lexical", k=k)


def relevance_examples(
    pipeline: HybridPipeline,
    data: BeirDataset,
    query_vecs: np.ndarray | None,
    query_ids: Sequence[str],
    *,
    mode: str = "hybrid",
    k: int = 10,
) -> tuple[list[np.ndarray], list[np.ndarray], list[FusedHits], list[float | None]]:
    """Per query: the top-``k`` hits' features and labels (judged relevant or not), the hits, and
    the lexical bound — the material a relevance model is fitted and scored on."""
    index = {q: i for i, q in enumerate(data.queries)}
    xs, ys, all_hits, bounds = [], [], [], []
    for qid in query_ids:
        i = index[qid]
        hits, result = pipeline.search(
            data.queries[qid], None if query_vecs is None else query_vecs[i], k, mode=mode
        )
        bound = result.max_score if result is not None else None
        judged = data.qrels.get(qid, {})
        xs.append(hit_inputs(hits, bound))
        ys.append(np.array([judged.get(data.doc_ids[s], 0) > 0 for s in hits.slots.tolist()], dtype=bool))
        all_hits.append(hits)
        bounds.append(bound)
    return xs, ys, all_hits, bounds


def cut_quality(
    model: RelevanceModel,
    hits: Sequence[FusedHits],
    bounds: Sequence[float | None],
    labels: Sequence[np.ndarray],
    min_relevance: float = 0.5,
) -> dict[str, float]:
    """Precision and recall of the hits kept at ``min_relevance`` (recall: of the judged-relevant
    hits among the top ``k``), and how often nothing is kept."""
    tp = fp = pos = empty = 0
    for h, b, y in zip(hits, bounds, labels, strict=True):
        keep = model.probabilities(h, b) >= min_relevance
        tp += int((keep & y).sum())
        fp += int((keep & ~y).sum())
        pos += int(y.sum())
        empty += int(not keep.any())
    return {
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / pos if pos else 0.0,
        "empty_rate": empty / len(hits) if hits else 0.0,
        "queries": len(hits),
    }


def calibrate(
    data: BeirDataset,
    doc_vecs: np.ndarray | None,
    query_vecs: np.ndarray | None,
    *,
    mode: str = "hybrid",
    holdout: float = 0.5,
    seed: int = 0,
    k: int = 10,
    min_relevance: float = 0.5,
    analyzer: AnalyzerConfig | None = None,
) -> RelevanceModel:
    """Fit a relevance model from a dataset's judgements (the core of ``vecnest calibrate``).

    The judged queries are split (seeded) into a fitting part and a held-out part; the model is
    fitted on the first, and its precision/recall at ``min_relevance`` on the held-out queries
    — next to the label-free ``distribution`` model's — is stored in ``fitted_on``.
    """
    if not 0.0 < holdout < 1.0:
        raise InvalidInputError(f"holdout must be in (0, 1); got {holdout!r}")
    pipeline = HybridPipeline.build(data.doc_texts, doc_vecs, analyzer=analyzer)
    qids = list(data.queries)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(qids))
    n_fit = max(1, int(round(len(qids) * (1.0 - holdout))))
    fit_ids = [qids[i] for i in sorted(order[:n_fit])]
    test_ids = [qids[i] for i in sorted(order[n_fit:])]
    x, y, _, _ = relevance_examples(pipeline, data, query_vecs, fit_ids, mode=mode, k=k)
    model = RelevanceModel.fit(np.vstack(x), np.concatenate(y), mode=mode)
    _, yt, ht, bt = relevance_examples(pipeline, data, query_vecs, test_ids, mode=mode, k=k)
    report: dict[str, Any] = {
        "dataset": data.name,
        "fit_queries": len(fit_ids),
        "heldout_queries": len(test_ids),
        "k": k,
        "seed": seed,
        "min_relevance": min_relevance,
        "heldout": cut_quality(model, ht, bt, yt, min_relevance),
        "heldout_distribution_model": cut_quality(RelevanceModel(), ht, bt, yt, min_relevance),
    }
    return model.with_report(**report)


def calibrate_dataset(
    path: str | Path,
    *,
    model: Any = "default",
    mode: str = "hybrid",
    holdout: float = 0.5,
    seed: int = 0,
    min_relevance: float = 0.5,
    cache_dir: Path | None = None,
) -> RelevanceModel:
    """``vecnest calibrate --dataset DIR``: embed a BEIR dataset with ``model`` (cached), then
    :func:`calibrate`.

    Args:
        path: BEIR directory (corpus.jsonl, queries.jsonl, qrels/test.tsv).
        model: the collection's model spec (the scores a model is fitted on are model-specific).
        cache_dir: embedding cache (``None``: the default, ``$VECNEST_CACHE_DIR`` or
            ``~/.cache/vecnest``).
    """
    from vecnest.encode.registry import resolve_encoder
    from vecnest.eval.beir import load_beir
    from vecnest.eval.cache import cached_embeddings, default_cache_dir

    data = load_beir(path)
    if not data.queries:
        raise InvalidInputError(f"dataset {data.name} has no judged queries to calibrate on")
    doc_vecs = query_vecs = None
    if mode != "lexical":
        encoder = resolve_encoder(model)
        if encoder is None:
            raise InvalidInputError(
                "calibrating a dense or hybrid cut-off needs a model (model=None only with mode='lexical')"
            )
        cache = cache_dir or default_cache_dir()
        doc_vecs, _ = cached_embeddings(encoder, data.doc_texts, kind="documents", cache_dir=cache)
        query_vecs, _ = cached_embeddings(
            encoder, list(data.queries.values()), kind="queries", cache_dir=cache
        )
    fitted = calibrate(
        data, doc_vecs, query_vecs, mode=mode, holdout=holdout, seed=seed, min_relevance=min_relevance
    )
    return fitted.with_report(model=str(model) if isinstance(model, str) else type(model).__name__)
