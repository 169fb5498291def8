"""Encoders: text → ``(n, dim) float32`` vectors.

The default model is all-MiniLM-L6-v2 as an int8 ONNX graph (offline, CPU). Any
sentence-transformers model can be used with the ``torch`` extra, and any callable through
:class:`CallableEncoder`.
"""

from __future__ import annotations

from vecnest.encode.base import CallableEncoder, Encoder, encoders_match, fingerprint_diff
from vecnest.encode.minilm import MODEL_NAME, MiniLMEncoder, default_encoder
from vecnest.encode.registry import encoder_from_fingerprint, resolve_encoder
from vecnest.encode.sentence_transformers import SentenceTransformerEncoder

__all__ = [
    "MODEL_NAME",
    "CallableEncoder",
    "Encoder",
    "MiniLMEncoder",
    "SentenceTransformerEncoder",
    "default_encoder",
    "encoder_from_fingerprint",
    "encoders_match",
    "fingerprint_diff",
    "resolve_encoder",
]
