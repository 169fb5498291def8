"""Lexical (BM25) retrieval: an analyser, postings kept in step with the catalog, exact search.

``LexicalIndex`` is the stateful part (one per collection, in a directory of derived data);
``LexicalSearcher`` answers queries at one snapshot. Scoring kernels live in
``vecnest.kernels.bm25``.
"""

from __future__ import annotations

from vecnest.lexical.analyzer import Analyzer, AnalyzerConfig, Language, TokenizerKind
from vecnest.lexical.index import CheckReport, LexicalIndex
from vecnest.lexical.search import LexicalResult, LexicalSearcher

__all__ = [
    "Analyzer",
    "AnalyzerConfig",
    "CheckReport",
    "Language",
    "LexicalIndex",
    "LexicalResult",
    "LexicalSearcher",
    "TokenizerKind",
]
