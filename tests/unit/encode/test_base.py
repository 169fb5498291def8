"""CallableEncoder validation, fingerprint comparison and model-spec resolution."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from vecnest.encode import (
    CallableEncoder,
    Encoder,
    MiniLMEncoder,
    default_encoder,
    encoder_from_fingerprint,
    encoders_match,
    fingerprint_diff,
    resolve_encoder,
)
from vecnest.encode.base import FINGERPRINT_KEYS
from vecnest.errors import (
    DimensionMismatchError,
    InvalidInputError,
    MissingDependencyError,
    ModelMismatchError,
)

HAS_ST = importlib.util.find_spec("sentence_transformers") is not None


def ones(texts: list[str]) -> np.ndarray:
    return np.ones((len(texts), 4), dtype=np.float64)


def unit(texts: list[str]) -> np.ndarray:
    out = np.zeros((len(texts), 4))
    out[:, 0] = 1.0
    return out


# -- CallableEncoder ------------------------------------------------------------------------------


def test_callable_encoder_returns_float32_c_contiguous() -> None:
    enc = CallableEncoder(lambda ts: np.asfortranarray(ones(ts)), dim=4, name="ones")
    out = enc.encode_documents(["a", "b", "c"])
    assert out.shape == (3, 4)
    assert out.dtype == np.float32
    assert out.flags.c_contiguous
    assert isinstance(enc, Encoder)
    assert enc.normalized is False


def test_callable_encoder_accepts_lists_and_ints() -> None:
    enc = CallableEncoder(lambda ts: [[1, 2]] * len(ts), dim=2, name="lists")
    np.testing.assert_array_equal(enc.encode_queries(["x"]), np.array([[1.0, 2.0]], np.float32))


def test_callable_encoder_empty_input_does_not_call_fn() -> None:
    def boom(texts: list[str]) -> np.ndarray:
        raise AssertionError("must not be called")

    out = CallableEncoder(boom, dim=7, name="boom").encode_documents([])
    assert out.shape == (0, 7)
    assert out.dtype == np.float32


def test_callable_encoder_batches_and_progress() -> None:
    calls: list[int] = []
    done: list[int] = []

    def fn(texts: list[str]) -> np.ndarray:
        calls.append(len(texts))
        return np.array([[float(t)] * 2 for t in texts])

    enc = CallableEncoder(fn, dim=2, name="echo")
    out = enc.encode_documents([str(i) for i in range(7)], batch_size=3, progress=done.append)
    assert calls == [3, 3, 1]
    assert done == [3, 3, 1]
    np.testing.assert_array_equal(out[:, 0], np.arange(7, dtype=np.float32))


def test_callable_encoder_query_fn_is_used_for_queries() -> None:
    enc = CallableEncoder(ones, dim=4, name="asym", query_fn=lambda ts: 2 * ones(ts))
    assert enc.encode_documents(["a"])[0, 0] == 1.0
    assert enc.encode_queries(["a"])[0, 0] == 2.0


@pytest.mark.parametrize(
    ("fn", "error", "match"),
    [
        (
            lambda ts: np.ones(len(ts)),
            InvalidInputError,
            r"shape \(2,\); expected a 2-D array of shape \(2, 4\)",
        ),
        (lambda ts: np.ones((len(ts) + 1, 4)), InvalidInputError, r"returned 3 rows for 2 texts"),
        (
            lambda ts: np.ones((len(ts), 5)),
            DimensionMismatchError,
            r"dim 5, but the encoder was declared with dim=4",
        ),
        (
            lambda ts: np.full((len(ts), 4), np.nan),
            InvalidInputError,
            r"non-finite values \(NaN or inf\) in 2 row\(s\), first at row 0",
        ),
        (
            lambda ts: np.array([[1, 2, 3, 4], [0, 0, np.inf, 0]]),
            InvalidInputError,
            r"non-finite .* first at row 1",
        ),
        (
            lambda ts: np.array([["a"] * 4] * len(ts)),
            InvalidInputError,
            r"dtype <U1; expected a real float array",
        ),
        (lambda ts: None, InvalidInputError, r"dtype object"),
        (lambda ts: [[1.0, 2.0], [1.0]], InvalidInputError, r"not convertible to an array"),
    ],
)
def test_callable_encoder_rejects_bad_output(fn, error: type[Exception], match: str) -> None:
    enc = CallableEncoder(fn, dim=4, name="bad")
    with pytest.raises(error, match=match):
        enc.encode_documents(["a", "b"])


def test_dimension_mismatch_is_an_invalid_input_error() -> None:
    enc = CallableEncoder(lambda ts: np.ones((len(ts), 3)), dim=4, name="bad")
    with pytest.raises(InvalidInputError, match="declared with dim=4"):
        enc.encode_queries(["a"])


def test_callable_encoder_checks_normalized_claim() -> None:
    CallableEncoder(unit, dim=4, name="unit", normalized=True).encode_documents(["a"])
    enc = CallableEncoder(ones, dim=4, name="ones", normalized=True)
    with pytest.raises(
        InvalidInputError, match=r"declared normalized=True, but row 0 has L2 norm 2"
    ):
        enc.encode_documents(["a"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"fn": 3, "dim": 4, "name": "x"}, r"needs a callable texts -> \(n, dim\) array, got int"),
        ({"fn": ones, "dim": 0, "name": "x"}, r"dim must be a positive int, got 0"),
        ({"fn": ones, "dim": 4.0, "name": "x"}, r"dim must be a positive int, got 4.0"),
        ({"fn": ones, "dim": True, "name": "x"}, r"dim must be a positive int, got True"),
        ({"fn": ones, "dim": 4, "name": " "}, r"name must be a non-empty string"),
        (
            {"fn": ones, "dim": 4, "name": "x", "batch_size": 0},
            r"batch_size must be a positive int or None, got 0",
        ),
        (
            {"fn": ones, "dim": 4, "name": "x", "query_fn": "no"},
            r"query_fn must be callable or None, got str",
        ),
    ],
)
def test_callable_encoder_rejects_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        CallableEncoder(**kwargs)


@pytest.mark.parametrize(
    ("texts", "match"),
    [
        ("one text", r"got a single str; wrap one text in a list: \[text\]"),
        (b"bytes", r"got a single bytes"),
        (42, r"expected a sequence of strings, got int"),
        (["ok", None], r"item 1 is a NoneType"),
        (["ok", 3], r"item 1 is a int \(3\)"),
    ],
)
def test_texts_are_validated(texts: object, match: str) -> None:
    enc = CallableEncoder(ones, dim=4, name="ones")
    with pytest.raises(InvalidInputError, match=match):
        enc.encode_documents(texts)  # type: ignore[arg-type]


def test_callable_fingerprint_is_json_and_complete() -> None:
    fp = CallableEncoder(unit, dim=4, name="unit", normalized=True).fingerprint()
    assert set(FINGERPRINT_KEYS) <= set(fp)
    assert json.loads(json.dumps(fp)) == fp
    assert fp == {
        "name": "unit",
        "backend": "callable",
        "dim": 4,
        "weights_sha256": None,
        "pooling": None,
        "normalize": True,
        "max_seq_length": None,
        "query_prompt": None,
        "document_prompt": None,
    }


# -- fingerprints ---------------------------------------------------------------------------------


def test_encoders_match_ignores_runtime_keys() -> None:
    a = default_encoder().fingerprint()
    b = dict(a, batch_size=64, intra_op_threads=1)
    assert encoders_match(a, b)
    assert encoders_match(a, MiniLMEncoder(intra_op_threads=1, max_batch_tokens=100).fingerprint())


def test_encoders_match_detects_identity_changes() -> None:
    a = default_encoder().fingerprint()
    assert fingerprint_diff(a, dict(a, dim=768)) == {"dim": (384, 768)}
    assert not encoders_match(a, dict(a, query_prompt="query: "))
    assert not encoders_match(a, dict(a, weights_sha256="0" * 64))
    assert not encoders_match(
        a, CallableEncoder(ones, dim=384, name="all-MiniLM-L6-v2").fingerprint()
    )


def test_unknown_weights_hash_is_not_a_mismatch() -> None:
    a = {"name": "m", "backend": "b", "dim": 3, "weights_sha256": "ab"}
    assert encoders_match(a, dict(a, weights_sha256=None))
    assert not encoders_match(a, dict(a, weights_sha256="cd"))


# -- resolution -----------------------------------------------------------------------------------


def test_resolve_default_names() -> None:
    assert resolve_encoder("default") is default_encoder()
    assert resolve_encoder("all-MiniLM-L6-v2") is default_encoder()
    assert resolve_encoder("ALL-minilm-l6-v2") is default_encoder()
    assert default_encoder().name == "all-MiniLM-L6-v2"
    assert default_encoder().dim == 384


def test_resolve_default_with_options_builds_a_new_encoder() -> None:
    enc = resolve_encoder("default", intra_op_threads=1)
    assert isinstance(enc, MiniLMEncoder)
    assert enc is not default_encoder()
    assert enc.intra_op_threads == 1


def test_resolve_passes_encoders_and_none_through() -> None:
    enc = CallableEncoder(ones, dim=4, name="ones")
    assert resolve_encoder(enc) is enc
    assert resolve_encoder(None) is None
    with pytest.raises(InvalidInputError, match=r"options \['device'\] apply only to a model spec"):
        resolve_encoder(enc, device="cpu")


def test_resolve_rejects_plain_callable() -> None:
    with pytest.raises(
        InvalidInputError,
        match=r"model=ones is a plain callable.*CallableEncoder\(ones, dim=\.\.\., name=\.\.\.\)",
    ):
        resolve_encoder(ones)


@pytest.mark.parametrize("spec", ["bge-small", "", "sentence-transformer:x"])
def test_resolve_rejects_unknown_strings(spec: str) -> None:
    with pytest.raises(
        InvalidInputError,
        match=r"unknown model .*\"default\" or \"all-MiniLM-L6-v2\".*"
        r"sentence-transformers:NAME_OR_PATH.*CallableEncoder.*None",
    ):
        resolve_encoder(spec)


def test_resolve_rejects_other_types() -> None:
    with pytest.raises(
        InvalidInputError, match=r"model must be a string, an Encoder or None, got int"
    ):
        resolve_encoder(3)


def test_resolve_sentence_transformers_needs_a_target() -> None:
    with pytest.raises(
        InvalidInputError, match=r"needs a model name or local path after the colon"
    ):
        resolve_encoder("sentence-transformers:  ")


@pytest.mark.skipif(HAS_ST, reason="sentence_transformers is installed")
def test_resolve_sentence_transformers_without_extra() -> None:
    with pytest.raises(MissingDependencyError, match=r"pip install 'vecnest\[torch\]'"):
        resolve_encoder("sentence-transformers:/some/model")


def test_encoder_from_fingerprint() -> None:
    assert encoder_from_fingerprint(default_encoder().fingerprint()) is default_encoder()
    assert encoder_from_fingerprint(CallableEncoder(ones, dim=4, name="o").fingerprint()) is None
    assert encoder_from_fingerprint({"name": "x", "backend": "mystery"}) is None
    stale = dict(default_encoder().fingerprint(), weights_sha256="0" * 64)
    with pytest.raises(ModelMismatchError, match=r"weights_sha256: recorded '0000"):
        encoder_from_fingerprint(stale)
