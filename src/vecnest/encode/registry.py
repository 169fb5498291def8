"""Turn the ``model=`` argument of a collection into an :class:`~vecnest.encode.base.Encoder`.

Accepted specs:

- ``"default"`` or ``"all-MiniLM-L6-v2"``: the built-in int8 ONNX model (offline, no extra needed);
- ``"sentence-transformers:NAME_OR_PATH"``: any sentence-transformers model found locally (extra
  ``torch``);
- an :class:`Encoder` instance, e.g. ``CallableEncoder(fn, dim=..., name=...)``;
- ``None``: no encoder (a collection of precomputed vectors).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vecnest.encode.base import Encoder, fingerprint_diff
from vecnest.encode.minilm import MODEL_NAME, MiniLMEncoder, default_encoder
from vecnest.encode.sentence_transformers import BACKEND as ST_BACKEND
from vecnest.encode.sentence_transformers import PREFIX as ST_PREFIX
from vecnest.encode.sentence_transformers import SentenceTransformerEncoder
from vecnest.errors import InvalidInputError, ModelMismatchError

__all__ = ["DEFAULT_MODEL", "resolve_encoder", "encoder_from_fingerprint"]

#: The spec that selects the built-in model.
DEFAULT_MODEL = "default"

_OPTIONS = (
    f'"{DEFAULT_MODEL}" or "{MODEL_NAME}" (built-in ONNX model), '
    f'"{ST_PREFIX}NAME_OR_PATH" (a local sentence-transformers model, extra "torch"), '
    "an Encoder instance such as CallableEncoder(fn, dim=..., name=...), "
    "or None (precomputed vectors only)"
)


def resolve_encoder(model: object, **options: Any) -> Encoder | None:
    """Resolve a model spec to an encoder.

    Args:
        model: ``"default"``, ``"all-MiniLM-L6-v2"``, ``"sentence-transformers:NAME_OR_PATH"``, an
            :class:`Encoder`, or ``None``.
        **options: keyword arguments for the encoder's constructor (e.g. ``intra_op_threads`` for
            the default model; ``query_prompt``, ``normalize``, ``device`` for
            sentence-transformers). Without options the default model is the shared
            :func:`default_encoder`.

    Returns:
        The encoder, or ``None`` when ``model`` is ``None``.

    Raises:
        InvalidInputError: an unknown spec, a bare callable (wrap it in ``CallableEncoder``),
            options given with an Encoder instance or None, or any other type.
        MissingDependencyError: a ``sentence-transformers:`` spec without the ``torch`` extra.
    """
    if model is None or isinstance(model, Encoder):
        if options:
            raise InvalidInputError(
                f"encoder options {sorted(options)} apply only to a model spec string, not to "
                f"{'None' if model is None else type(model).__name__}"
            )
        return model
    if isinstance(model, str):
        spec = model.strip()
        if spec == DEFAULT_MODEL or spec.lower() == MODEL_NAME.lower():
            return MiniLMEncoder(**options) if options else default_encoder()
        if spec.startswith(ST_PREFIX):
            target = spec[len(ST_PREFIX) :].strip()
            if not target:
                raise InvalidInputError(
                    f'"{ST_PREFIX}" needs a model name or local path after the colon, e.g. '
                    f'"{ST_PREFIX}/path/to/model"'
                )
            return SentenceTransformerEncoder(target, **options)
        raise InvalidInputError(f"unknown model {model!r}; expected one of: {_OPTIONS}")
    if callable(model):
        fn_name = getattr(model, "__name__", type(model).__name__)
        raise InvalidInputError(
            f"model={fn_name} is a plain callable; vecnest needs to know its output dimension and "
            f"a name to record. Wrap it: CallableEncoder({fn_name}, dim=..., name=...) "
            "(from vecnest import CallableEncoder)"
        )
    raise InvalidInputError(
        f"model must be a string, an Encoder or None, got {type(model).__name__}; "
        f"expected one of: {_OPTIONS}"
    )


def encoder_from_fingerprint(fingerprint: Mapping[str, Any]) -> Encoder | None:
    """Re-create the encoder a collection recorded in its manifest.

    Args:
        fingerprint: a dict produced by :meth:`Encoder.fingerprint`.

    Returns:
        The encoder, or ``None`` when it cannot be re-created from the record alone (a
        ``CallableEncoder`` or an unknown backend): the caller must attach one explicitly.

    Raises:
        ModelMismatchError: the record names the built-in model but with other weights or settings
            than this vecnest version ships.
        MissingDependencyError: a sentence-transformers model without the ``torch`` extra.
    """
    backend = fingerprint.get("backend")
    name = fingerprint.get("name")
    if backend == MiniLMEncoder.backend and name == MODEL_NAME:
        enc = default_encoder()
        diff = fingerprint_diff(fingerprint, enc.fingerprint())
        if diff:
            details = "; ".join(
                f"{k}: recorded {a!r}, available {b!r}" for k, (a, b) in diff.items()
            )
            raise ModelMismatchError(
                f"the collection was built with a different build of {MODEL_NAME} than this "
                f"vecnest ships ({details}); re-embed into a new collection, or open it with "
                "model=None for vector queries only"
            )
        return enc
    if backend == ST_BACKEND and isinstance(name, str) and name.startswith(ST_PREFIX):
        return SentenceTransformerEncoder.from_fingerprint(fingerprint)
    return None
