"""A plain-Python BM25 (Lucene variant) over term lists: the oracle the index is checked against."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "omega",
    "sigma",
    "kappa",
    "theta",
    "lambda",
    "zeta",
    "eta",
    "rho",
]


def random_texts(rng: np.random.Generator, n: int, *, min_words: int = 0, max_words: int = 12) -> list[str]:
    """Texts over a small vocabulary (Zipf-ish), some empty."""
    p = 1.0 / np.arange(1, len(WORDS) + 1)
    p /= p.sum()
    return [
        " ".join(rng.choice(WORDS, size=int(rng.integers(min_words, max_words + 1)), p=p)) for _ in range(n)
    ]


def bm25(docs: dict[int, list[str]], query: list[str], k1: float = 1.2, b: float = 0.75) -> dict[int, float]:
    """Score of every document with at least one query term; statistics over ``docs`` (the live ones)."""
    n = len(docs)
    if n == 0:
        return {}
    avg = sum(len(t) for t in docs.values()) / n or 1.0
    tfs = {s: Counter(t) for s, t in docs.items()}
    out: dict[int, float] = {}
    for term in dict.fromkeys(query):
        df = sum(1 for c in tfs.values() if term in c)
        if df == 0:
            continue
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        for s, c in tfs.items():
            f = c.get(term, 0)
            if f:
                norm = k1 * (1 - b + b * len(docs[s]) / avg)
                out[s] = out.get(s, 0.0) + idf * f * (k1 + 1) / (f + norm)
    return out


def top(scores: dict[int, float], k: int, allowed: set[int] | None = None) -> list[tuple[int, float]]:
    """Best ``k`` (slot, score), ties by lower slot."""
    items = [(s, v) for s, v in scores.items() if v > 0 and (allowed is None or s in allowed)]
    items.sort(key=lambda x: (-x[1], x[0]))
    return items[:k]
