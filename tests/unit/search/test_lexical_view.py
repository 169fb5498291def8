from __future__ import annotations

import pytest

from vecnest.lexical.analyzer import AnalyzerConfig
from vecnest.search import lexical_view


def test_the_analyser_is_built_at_first_use_then_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[AnalyzerConfig] = []

    class Counting:
        def __init__(self, config: AnalyzerConfig) -> None:
            built.append(config)

    monkeypatch.setattr(lexical_view, "Analyzer", Counting)
    config = AnalyzerConfig()
    view = lexical_view.LexicalView(rows=None, config=config)  # type: ignore[arg-type]
    assert built == []  # opening a collection builds nothing (no tantivy import for a dense search)
    first = view.analyzer
    assert isinstance(first, Counting) and view.analyzer is first and built == [config]
