"""The analyser: English defaults, per-collection options, config round trip, fast batch path."""

from __future__ import annotations

import numpy as np
import pytest

from vecnest.errors import InvalidInputError
from vecnest.lexical.analyzer import Analyzer, AnalyzerConfig, Language, TokenizerKind


def test_english_default_lowercases_drops_stop_words_and_stems() -> None:
    an = Analyzer()
    assert an.analyze("The Running dogs are chasing the CATS") == ["run", "dog", "chase", "cat"]
    # the simple tokenizer splits on every non-alphanumeric character
    assert an.analyze("COVID-19 and IL-6") == ["covid", "19", "il", "6"]


def test_options_change_the_terms() -> None:
    text = "The Running dogs"
    assert Analyzer(AnalyzerConfig(stemming=False)).analyze(text) == ["running", "dogs"]
    assert Analyzer(AnalyzerConfig(stop_words=False)).analyze(text) == ["the", "run", "dog"]
    assert Analyzer(AnalyzerConfig(stop_words=("running",), stemming=False)).analyze(text) == ["the", "dogs"]
    assert Analyzer(AnalyzerConfig(lowercase=False, stemming=False, stop_words=False)).analyze(text) == [
        "The",
        "Running",
        "dogs",
    ]
    assert Analyzer(AnalyzerConfig(ascii_folding=True, stemming=False)).analyze("naïve café") == [
        "naive",
        "cafe",
    ]
    assert Analyzer(AnalyzerConfig(tokenizer=TokenizerKind.WHITESPACE, stemming=False)).analyze(
        "covid-19 x"
    ) == ["covid-19", "x"]
    assert Analyzer(AnalyzerConfig(max_token_length=5, stemming=False)).analyze("short lengthy") == ["short"]
    assert Analyzer(AnalyzerConfig(language=Language.FRENCH)).analyze("les chevaux mangeaient") == [
        "cheval",
        "mang",
    ]


def test_query_terms_are_distinct_in_order() -> None:
    assert Analyzer().query_terms("cat dog cats Dog") == ["cat", "dog"]


def test_config_json_round_trip_and_strings_accepted() -> None:
    cfg = AnalyzerConfig(language="german", stop_words=["der", "die"], tokenizer="whitespace")
    assert cfg.language is Language.GERMAN and cfg.stop_words == ("der", "die")
    assert AnalyzerConfig.from_json(cfg.to_json()) == cfg
    assert AnalyzerConfig.from_json(AnalyzerConfig().to_json()) == AnalyzerConfig()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"language": "klingon"}, "language must be one of"),
        ({"stop_words": "yes"}, "stop_words must be True"),
        ({"stop_words": ("ok", "")}, "tuple of non-empty strings"),
        ({"stemming": 1}, "stemming must be a bool"),
        ({"max_token_length": 0}, "max_token_length must be an int in 1..1024"),
    ],
)
def test_bad_config_is_a_clear_error(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        AnalyzerConfig(**kwargs)


def test_from_json_rejects_unknown_fields() -> None:
    with pytest.raises(InvalidInputError, match="unknown field"):
        AnalyzerConfig.from_json({"language": "english", "stemmer": "porter"})


def test_batch_path_equals_per_document_analysis() -> None:
    texts = [
        "The Running dogs",
        None,
        "",
        "Dogs RUN; the dog runs — naïve Café!",
        "a an the",
        "x" * 60 + " ok",
    ]
    for cfg in (
        AnalyzerConfig(),
        AnalyzerConfig(lowercase=False, stop_words=False),
        AnalyzerConfig(max_token_length=3),
    ):
        an = Analyzer(cfg)
        batch = an.analyze_batch(texts)
        per_doc = an.analyze_many(texts)
        got = [[batch.terms[i] for i in batch.ids[batch.doc == d]] for d in range(len(texts))]
        assert got == per_doc
        assert batch.lengths.tolist() == [len(t) for t in per_doc]
        assert batch.ids.dtype == np.int64
