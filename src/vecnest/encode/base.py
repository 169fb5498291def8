"""The :class:`Encoder` interface, the :class:`CallableEncoder` wrapper and fingerprint comparison.

An encoder turns texts into ``(n, dim) float32`` C-contiguous arrays. Every encoder can describe
itself with :meth:`Encoder.fingerprint`, a small JSON-serialisable dict that a collection records
in its manifest; :func:`encoders_match` compares two fingerprints on the keys that change the
vectors.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from vecnest.errors import DimensionMismatchError, InvalidInputError

__all__ = [
    "Encoder",
    "CallableEncoder",
    "ProgressCallback",
    "FINGERPRINT_KEYS",
    "check_texts",
    "check_batch_size",
    "check_output",
    "fingerprint_diff",
    "encoders_match",
]

#: ``progress(n_done_increment)``: called as batches complete, with the number of texts just done.
ProgressCallback = Callable[[int], None]

#: The keys of a fingerprint that decide which vectors an encoder produces, in manifest order.
FINGERPRINT_KEYS: tuple[str, ...] = (
    "name",
    "backend",
    "dim",
    "weights_sha256",
    "pooling",
    "normalize",
    "max_seq_length",
    "query_prompt",
    "document_prompt",
)

#: Tolerance on ``| ||row|| - 1 |`` when an encoder claims unit-norm output.
_UNIT_NORM_TOL = 1e-3


class Encoder(abc.ABC):
    """Turns texts into dense vectors.

    Subclasses set ``name``, ``dim`` and ``normalized`` (plain attributes or properties) and
    implement :meth:`encode_documents`, :meth:`encode_queries` and :meth:`fingerprint`.

    Attributes:
        name: identity of the model, e.g. ``"all-MiniLM-L6-v2"``. For the built-in encoders it is
            also a spec that :func:`vecnest.encode.resolve_encoder` accepts.
        dim: number of columns of every array the encoder returns.
        normalized: True if every output row has unit L2 norm (cosine = dot product).
    """

    name: str
    dim: int
    normalized: bool

    @abc.abstractmethod
    def encode_documents(
        self,
        texts: Sequence[str],
        *,
        batch_size: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Encode documents (passages) to be stored.

        Args:
            texts: the documents, already composed (e.g. ``title + " " + body``). A list of one
                for a single text; a bare ``str`` is rejected.
            batch_size: upper bound on the number of texts per model call; ``None`` lets the encoder
                choose.
            progress: optional ``progress(n)`` called after each batch with its number of texts.

        Returns:
            ``(len(texts), dim) float32`` C-contiguous array, rows in the order of ``texts``.

        Raises:
            InvalidInputError: ``texts`` is not a sequence of strings.
        """

    @abc.abstractmethod
    def encode_queries(
        self,
        texts: Sequence[str],
        *,
        batch_size: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Encode search queries. Same contract as :meth:`encode_documents`.

        Models trained with asymmetric prompts apply their query prompt here.

        Returns:
            ``(len(texts), dim) float32`` C-contiguous array, rows in the order of ``texts``.
        """

    @abc.abstractmethod
    def fingerprint(self) -> dict[str, Any]:
        """JSON-serialisable identity of the encoder, recorded in a collection's manifest.

        Returns:
            A dict with at least the keys of :data:`FINGERPRINT_KEYS`: ``name`` (str), ``backend``
            (str), ``dim`` (int), ``weights_sha256`` (hex str or None), ``pooling`` (str or None),
            ``normalize`` (bool), ``max_seq_length`` (int or None), ``query_prompt`` and
            ``document_prompt`` (str or None).
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def check_texts(texts: object) -> list[str]:
    """Validate a batch of texts and return it as a list.

    Args:
        texts: a sequence (or other finite iterable) of ``str``.

    Returns:
        The texts as a new ``list[str]``.

    Raises:
        InvalidInputError: ``texts`` is a single string, not iterable, or holds a non-string.
    """
    if isinstance(texts, str | bytes):
        raise InvalidInputError(
            f"expected a sequence of strings, got a single {type(texts).__name__}; "
            "wrap one text in a list: [text]"
        )
    if not isinstance(texts, Iterable):
        raise InvalidInputError(f"expected a sequence of strings, got {type(texts).__name__}")
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise InvalidInputError(
                f"expected a sequence of strings, but item {i} is a {type(t).__name__} "
                f"({t!r:.60}); convert it with str() or drop it"
            )
    return out


def check_batch_size(batch_size: int | None) -> None:
    """Validate a ``batch_size`` argument.

    Raises:
        InvalidInputError: ``batch_size`` is not None or a positive int.
    """
    if batch_size is None:
        return
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInputError(f"batch_size must be a positive int or None, got {batch_size!r}")


def check_output(raw: object, n: int, dim: int, name: str, normalized: bool) -> np.ndarray:
    """Check what a model or user callable returned for ``n`` texts.

    Args:
        raw: the returned array-like.
        n: number of texts it was given.
        dim: the declared dimension.
        name: the encoder's name, for messages.
        normalized: also require unit rows (within 1e-3).

    Returns:
        ``(n, dim) float32`` C-contiguous array.

    Raises:
        InvalidInputError: not a real 2-D array of ``n`` rows, non-finite values, or non-unit rows
            when ``normalized``.
        DimensionMismatchError: ``dim`` columns expected, another number found.
    """
    try:
        arr = np.asarray(raw)
    except Exception as exc:  # a ragged list, an object numpy cannot convert
        raise InvalidInputError(
            f"encoder {name!r}: the callable returned {type(raw).__name__}, which is not "
            f"convertible to an array ({exc}); it must return an (n, {dim}) float array"
        ) from exc
    if arr.dtype.kind not in "fiu":
        raise InvalidInputError(
            f"encoder {name!r}: the callable returned an array of dtype {arr.dtype}; expected a "
            f"real float array of shape ({n}, {dim})"
        )
    if arr.ndim != 2:
        raise InvalidInputError(
            f"encoder {name!r}: the callable returned an array of shape {arr.shape}; expected a "
            f"2-D array of shape ({n}, {dim}), one row per text"
        )
    if arr.shape[0] != n:
        raise InvalidInputError(
            f"encoder {name!r}: the callable returned {arr.shape[0]} rows for {n} texts; expected "
            f"shape ({n}, {dim}), one row per text, in order"
        )
    if arr.shape[1] != dim:
        raise DimensionMismatchError(
            f"encoder {name!r}: the callable returned vectors of dim {arr.shape[1]}, but the "
            f"encoder was declared with dim={dim}; fix the dim= argument or the callable"
        )
    out = np.ascontiguousarray(arr, dtype=np.float32)
    finite = np.isfinite(out)
    if not finite.all():
        bad_rows = np.flatnonzero(~finite.all(axis=1))
        raise InvalidInputError(
            f"encoder {name!r}: the callable returned non-finite values (NaN or inf) in "
            f"{bad_rows.size} row(s), first at row {int(bad_rows[0])}; every value must be finite"
        )
    if normalized and n:
        norms = np.linalg.norm(out, axis=1)
        off = np.flatnonzero(np.abs(norms - 1.0) > _UNIT_NORM_TOL)
        if off.size:
            i = int(off[0])
            raise InvalidInputError(
                f"encoder {name!r} was declared normalized=True, but row {i} has L2 norm "
                f"{float(norms[i]):.6g}; normalise the rows in the callable or pass "
                "normalized=False"
            )
    return out


class CallableEncoder(Encoder):
    """Wraps any ``texts -> (n, dim)`` callable as an :class:`Encoder`.

    The output of the callable is checked on every call (2-D, ``n`` rows, ``dim`` columns, real
    numbers, all finite, unit rows if ``normalized``) and converted to ``float32`` C-contiguous.

    Example:
        >>> import numpy as np
        >>> enc = CallableEncoder(lambda ts: np.ones((len(ts), 3)), dim=3, name="ones")
        >>> enc.encode_documents(["a", "b"]).shape
        (2, 3)

    Args:
        fn: called with a ``list[str]``; returns an array-like of shape ``(len(texts), dim)``.
        dim: the dimension of the vectors ``fn`` returns.
        name: a name that identifies the model (recorded in manifests; change it when the model
            changes).
        normalized: True if ``fn`` returns unit-norm rows (checked on every call).
        query_fn: optional different callable for queries (asymmetric models); defaults to ``fn``.
        batch_size: default number of texts per call of ``fn``; ``None`` passes all in one call.

    Raises:
        InvalidInputError: ``fn`` is not callable, ``dim`` is not a positive int, or ``name`` is
            empty.
    """

    backend = "callable"

    def __init__(
        self,
        fn: Callable[[list[str]], Any],
        dim: int,
        name: str,
        normalized: bool = False,
        *,
        query_fn: Callable[[list[str]], Any] | None = None,
        batch_size: int | None = None,
    ) -> None:
        if isinstance(fn, Encoder) or not callable(fn):
            raise InvalidInputError(
                f"CallableEncoder needs a callable texts -> (n, dim) array, got {type(fn).__name__}"
            )
        if query_fn is not None and not callable(query_fn):
            raise InvalidInputError(
                f"query_fn must be callable or None, got {type(query_fn).__name__}"
            )
        if isinstance(dim, bool) or not isinstance(dim, int | np.integer) or dim < 1:
            raise InvalidInputError(f"dim must be a positive int, got {dim!r}")
        if not isinstance(name, str) or not name.strip():
            raise InvalidInputError(
                f"name must be a non-empty string that identifies the model, got {name!r}"
            )
        check_batch_size(batch_size)
        self.fn = fn
        self.query_fn = query_fn
        self.dim = int(dim)
        self.name = name
        self.normalized = bool(normalized)
        self.batch_size = batch_size

    def _run(
        self,
        fn: Callable[[list[str]], Any],
        texts: Sequence[str],
        batch_size: int | None,
        progress: ProgressCallback | None,
    ) -> np.ndarray:
        items = check_texts(texts)
        check_batch_size(batch_size)
        n = len(items)
        if n == 0:
            return np.empty((0, self.dim), dtype=np.float32)
        step = batch_size or self.batch_size or n
        if step >= n:
            out = check_output(fn(items), n, self.dim, self.name, self.normalized)
            if progress is not None:
                progress(n)
            return out
        out = np.empty((n, self.dim), dtype=np.float32)
        for start in range(0, n, step):
            chunk = items[start : start + step]
            out[start : start + len(chunk)] = check_output(
                fn(chunk), len(chunk), self.dim, self.name, self.normalized
            )
            if progress is not None:
                progress(len(chunk))
        return out

    def encode_documents(
        self,
        texts: Sequence[str],
        *,
        batch_size: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Encode documents with ``fn``; see :meth:`Encoder.encode_documents`.

        Returns:
            ``(len(texts), dim) float32`` C-contiguous array.

        Raises:
            InvalidInputError: bad ``texts``, or ``fn`` returned a wrong shape, dtype or non-finite
                values (:class:`DimensionMismatchError` for a wrong number of columns).
        """
        return self._run(self.fn, texts, batch_size, progress)

    def encode_queries(
        self,
        texts: Sequence[str],
        *,
        batch_size: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Encode queries with ``query_fn`` (or ``fn``); see :meth:`Encoder.encode_queries`.

        Returns:
            ``(len(texts), dim) float32`` C-contiguous array.
        """
        return self._run(self.query_fn or self.fn, texts, batch_size, progress)

    def fingerprint(self) -> dict[str, Any]:
        """Identity of the wrapped callable: only its name, dim and normalisation are known.

        Returns:
            Fingerprint dict with ``backend="callable"`` and the unknown fields set to None.
        """
        return {
            "name": self.name,
            "backend": self.backend,
            "dim": self.dim,
            "weights_sha256": None,
            "pooling": None,
            "normalize": self.normalized,
            "max_seq_length": None,
            "query_prompt": None,
            "document_prompt": None,
        }


def fingerprint_diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The identity keys on which two encoder fingerprints disagree.

    Only :data:`FINGERPRINT_KEYS` are compared (runtime settings such as batch size or thread count
    are ignored); a missing key counts as None. ``weights_sha256`` is compared only when both sides
    know it, since a model loaded by hub name has no local files to hash.

    Args:
        a: a fingerprint, e.g. the one stored in a manifest.
        b: another fingerprint, e.g. the one of the encoder at hand.

    Returns:
        ``{key: (a_value, b_value)}`` for every differing key; empty if they match.
    """
    diff: dict[str, tuple[Any, Any]] = {}
    for key in FINGERPRINT_KEYS:
        va, vb = a.get(key), b.get(key)
        if key == "weights_sha256" and (va is None or vb is None):
            continue
        if va != vb:
            diff[key] = (va, vb)
    return diff


def encoders_match(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """True if two fingerprints describe encoders that produce the same vectors.

    Args:
        a: a fingerprint dict (see :meth:`Encoder.fingerprint`).
        b: another fingerprint dict.

    Returns:
        ``not fingerprint_diff(a, b)``.
    """
    return not fingerprint_diff(a, b)
