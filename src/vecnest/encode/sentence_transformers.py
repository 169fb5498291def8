"""Adapter for any sentence-transformers model (extra ``torch``), loaded from local files only.

``sentence_transformers`` (and torch) are imported on first use, never at import of vecnest. Models
are loaded with ``local_files_only=True``: a hub name works only if it is already in the local
Hugging Face cache, because vecnest never downloads at run time.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vecnest._deps import require
from vecnest.encode.base import (
    Encoder,
    ProgressCallback,
    check_batch_size,
    check_output,
    check_texts,
)
from vecnest.errors import InvalidInputError, ModelMismatchError

__all__ = ["PREFIX", "BACKEND", "SentenceTransformerEncoder", "weights_sha256"]

#: Spec prefix understood by :func:`vecnest.encode.resolve_encoder`.
PREFIX = "sentence-transformers:"
#: ``backend`` value in fingerprints.
BACKEND = "sentence-transformers"

_PURPOSE = "Encoding with a sentence-transformers model"
_EXTRA = "torch"
#: Files holding weights that sentence-transformers loads with the torch backend.
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
#: Sub-folders of a model directory with alternative exports that the torch backend does not load.
_SKIP_DIRS = frozenset({"onnx", "openvino", ".git", ".cache"})
_DOCUMENT_PROMPT_KEYS = ("document", "passage", "corpus")
_PROGRESS_CHUNK_BATCHES = 8


def _require_sentence_transformers() -> Any:
    return require("sentence_transformers", _EXTRA, _PURPOSE)


def weights_sha256(directory: Path) -> str | None:
    """One SHA-256 over the weight files of a local model directory.

    Files ending in ``.safetensors``, ``.bin``, ``.pt`` or ``.pth`` anywhere under ``directory``
    (except ``onnx/``, ``openvino/`` and hidden caches) are hashed in sorted order of their relative
    paths; the digest covers each relative path and the file's own SHA-256.

    Args:
        directory: the model folder.

    Returns:
        Lowercase hex digest, or None if the folder holds no weight file.
    """
    files: list[tuple[str, Path]] = []
    for root, dirs, names in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        for fname in names:
            if fname.endswith(_WEIGHT_SUFFIXES):
                p = Path(root) / fname
                files.append((p.relative_to(directory).as_posix(), p))
    if not files:
        return None
    outer = hashlib.sha256()
    for rel, p in sorted(files):
        inner = hashlib.sha256()
        with p.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                inner.update(block)
        outer.update(f"{rel}\0{inner.hexdigest()}\n".encode())
    return outer.hexdigest()


class SentenceTransformerEncoder(Encoder):
    """Any sentence-transformers model, by hub name (already cached locally) or local directory.

    Construction only checks that the ``torch`` extra is installed; the model is loaded on first use
    (``dim``, ``fingerprint()`` or an encode). Encoding is serialised by a lock, so it is safe to
    call from several threads.

    Prompts are resolved the way sentence-transformers' ``encode_query`` / ``encode_document`` do:
    an explicit prompt, else the named prompt from the model's ``prompts``, else the model's
    ``"query"`` (resp. ``"document"`` / ``"passage"`` / ``"corpus"``) prompt, else its default
    prompt, else none. The resolved strings are what :meth:`fingerprint` records.

    Args:
        model_name_or_path: a local model folder, or a hub id present in the local cache.
        query_prompt: text prepended to every query (e.g. ``"query: "``).
        document_prompt: text prepended to every document (e.g. ``"passage: "``).
        query_prompt_name: key of the model's ``prompts`` to use for queries instead.
        document_prompt_name: key of the model's ``prompts`` to use for documents instead.
        normalize: L2-normalise the output rows (recommended for cosine search).
        device: torch device such as ``"cpu"`` or ``"cuda"``; ``None`` lets sentence-transformers
            choose.
        batch_size: default number of texts per forward pass.
        max_seq_length: override the model's truncation length in tokens.
        trust_remote_code: allow custom model code shipped in the model folder.
        weights_sha256: expected :func:`weights_sha256` of a local folder; checked when the model is
            loaded (used when re-opening a collection).

    Raises:
        MissingDependencyError: ``sentence_transformers`` is not installed (extra ``torch``).
        InvalidInputError: both a prompt and a prompt name for the same side, or bad numbers.
    """

    backend = BACKEND

    def __init__(
        self,
        model_name_or_path: str | os.PathLike[str],
        *,
        query_prompt: str | None = None,
        document_prompt: str | None = None,
        query_prompt_name: str | None = None,
        document_prompt_name: str | None = None,
        normalize: bool = True,
        device: str | None = None,
        batch_size: int = 32,
        max_seq_length: int | None = None,
        trust_remote_code: bool = False,
        weights_sha256: str | None = None,
    ) -> None:
        if importlib.util.find_spec("sentence_transformers") is None:
            _require_sentence_transformers()  # raises MissingDependencyError naming the extra
        model = os.fspath(model_name_or_path)
        if not isinstance(model, str) or not model.strip():
            raise InvalidInputError(
                f"model_name_or_path must be a non-empty string or path, got {model_name_or_path!r}"
            )
        for side, prompt, prompt_name in (
            ("query", query_prompt, query_prompt_name),
            ("document", document_prompt, document_prompt_name),
        ):
            if prompt is not None and prompt_name is not None:
                raise InvalidInputError(
                    f"give either {side}_prompt or {side}_prompt_name, not both "
                    f"(got {prompt!r} and {prompt_name!r})"
                )
        check_batch_size(batch_size)
        if max_seq_length is not None and (
            isinstance(max_seq_length, bool)
            or not isinstance(max_seq_length, int)
            or max_seq_length < 1
        ):
            raise InvalidInputError(
                f"max_seq_length must be a positive int or None, got {max_seq_length!r}"
            )
        self.model_name_or_path = model
        self.name = PREFIX + model
        self.normalize = bool(normalize)
        self.device = device
        self.batch_size = batch_size
        self.trust_remote_code = trust_remote_code
        self._query_prompt_arg = query_prompt
        self._document_prompt_arg = document_prompt
        self._query_prompt_name = query_prompt_name
        self._document_prompt_name = document_prompt_name
        self._max_seq_length_arg = max_seq_length
        self._expected_sha256 = weights_sha256
        self._model: Any = None
        self._weights_sha256: str | None = None
        self._query_prompt: str | None = None
        self._document_prompt: str | None = None
        self._load_lock = threading.Lock()
        self._encode_lock = threading.Lock()

    @classmethod
    def from_fingerprint(cls, fingerprint: Mapping[str, Any]) -> SentenceTransformerEncoder:
        """Re-create the encoder described by a fingerprint (prompts, normalisation, length, hash).

        Args:
            fingerprint: a dict from :meth:`fingerprint` whose name starts with ``PREFIX``.

        Returns:
            An unloaded encoder that checks the recorded weights hash when it loads.
        """
        name = str(fingerprint["name"])
        if not name.startswith(PREFIX):
            raise InvalidInputError(
                f"fingerprint name {name!r} is not a sentence-transformers spec ({PREFIX}...)"
            )
        return cls(
            name[len(PREFIX) :],
            query_prompt=fingerprint.get("query_prompt"),
            document_prompt=fingerprint.get("document_prompt"),
            normalize=bool(fingerprint.get("normalize", True)),
            max_seq_length=fingerprint.get("max_seq_length"),
            weights_sha256=fingerprint.get("weights_sha256"),
        )

    # -- loading --------------------------------------------------------------------------------

    def _load(self) -> Any:
        if self._model is not None:
            return self._model
        with self._load_lock:
            if self._model is not None:
                return self._model
            st = _require_sentence_transformers()
            path = Path(self.model_name_or_path).expanduser()
            local = path.is_dir()
            digest = weights_sha256(path) if local else None
            if (
                self._expected_sha256 is not None
                and digest is not None
                and digest != self._expected_sha256
            ):
                raise ModelMismatchError(
                    f"the weights in {path} have SHA-256 {digest}, but {self._expected_sha256} was "
                    "recorded; the model files changed since the collection was built. Restore "
                    "them, or re-embed into a new collection"
                )
            try:
                model = st.SentenceTransformer(
                    str(path) if local else self.model_name_or_path,
                    device=self.device,
                    trust_remote_code=self.trust_remote_code,
                    local_files_only=True,
                )
            except (OSError, ValueError) as exc:
                raise InvalidInputError(
                    f"could not load the sentence-transformers model {self.model_name_or_path!r} "
                    f"from local files ({exc}). vecnest never downloads models at run time: pass a "
                    "local model folder, or put the model in the Hugging Face cache beforehand"
                ) from exc
            if self._max_seq_length_arg is not None:
                model.max_seq_length = self._max_seq_length_arg
            prompts: dict[str, str] = dict(getattr(model, "prompts", None) or {})
            default_name: str | None = getattr(model, "default_prompt_name", None)
            self._query_prompt = self._resolve_prompt(
                "query",
                self._query_prompt_arg,
                self._query_prompt_name,
                ("query",),
                prompts,
                default_name,
            )
            self._document_prompt = self._resolve_prompt(
                "document",
                self._document_prompt_arg,
                self._document_prompt_name,
                _DOCUMENT_PROMPT_KEYS,
                prompts,
                default_name,
            )
            self._weights_sha256 = digest
            self._model = model
            return model

    @staticmethod
    def _resolve_prompt(
        side: str,
        prompt: str | None,
        prompt_name: str | None,
        role_keys: Sequence[str],
        prompts: Mapping[str, str],
        default_name: str | None,
    ) -> str | None:
        if prompt is not None:
            return prompt
        if prompt_name is not None:
            if prompt_name not in prompts:
                raise InvalidInputError(
                    f"{side}_prompt_name={prompt_name!r} is not among the model's prompts "
                    f"{sorted(prompts)}; pass {side}_prompt='...' instead"
                )
            return prompts[prompt_name]
        for key in role_keys:
            if key in prompts:
                return prompts[key]
        if default_name is not None:
            return prompts.get(default_name)
        return None

    # -- Encoder interface ----------------------------------------------------------------------

    @property
    def dim(self) -> int:  # type: ignore[override]
        """Output dimension (loads the model)."""
        model = self._load()
        getter = getattr(model, "get_embedding_dimension", None)
        if getter is None:  # older sentence-transformers
            getter = model.get_sentence_embedding_dimension
        dim = getter()
        if dim is None:  # the model does not declare it: measure it once
            dim = int(
                np.asarray(model.encode(["dimension probe"], show_progress_bar=False)).shape[-1]
            )
        return int(dim)

    @property
    def normalized(self) -> bool:  # type: ignore[override]
        """True if rows are unit-norm: ``normalize=True`` or the model has a Normalize module."""
        if self.normalize:
            return True
        model = self._load()
        return any(type(m).__name__ == "Normalize" for m in model)

    def _encode(
        self,
        side: str,
        texts: Sequence[str],
        batch_size: int | None,
        progress: ProgressCallback | None,
    ) -> np.ndarray:
        items = check_texts(texts)
        check_batch_size(batch_size)
        model = self._load()
        dim = self.dim
        n = len(items)
        if n == 0:
            return np.empty((0, dim), dtype=np.float32)
        bs = batch_size or self.batch_size
        if side == "query":
            prompt, method = self._query_prompt, getattr(model, "encode_query", None)
        else:
            prompt, method = self._document_prompt, getattr(model, "encode_document", None)
        if method is None:  # sentence-transformers < 5
            method = model.encode
        step = n if progress is None else bs * _PROGRESS_CHUNK_BATCHES
        out = np.empty((n, dim), dtype=np.float32)
        with self._encode_lock:
            for start in range(0, n, step):
                chunk = items[start : start + step]
                raw = method(
                    chunk,
                    prompt=prompt,
                    batch_size=bs,
                    show_progress_bar=False,
                    convert_to_numpy=True,
                    normalize_embeddings=self.normalize,
                )
                out[start : start + len(chunk)] = check_output(
                    raw, len(chunk), dim, self.name, normalized=False
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
        """Encode documents with the document prompt (if any).

        Returns:
            ``(len(texts), dim) float32`` C-contiguous array, rows in the order of ``texts``.
        """
        return self._encode("document", texts, batch_size, progress)

    def encode_queries(
        self,
        texts: Sequence[str],
        *,
        batch_size: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Encode queries with the query prompt (if any).

        Returns:
            ``(len(texts), dim) float32`` C-contiguous array, rows in the order of ``texts``.
        """
        return self._encode("query", texts, batch_size, progress)

    def fingerprint(self) -> dict[str, Any]:
        """Identity of the model (loads it).

        Returns:
            Fingerprint dict with ``backend="sentence-transformers"``, ``weights_sha256`` over the
            weight files of a local folder (None for a cached hub model), the pooling mode of its
            Pooling module, its truncation length and the resolved prompts.
        """
        model = self._load()
        pooling: str | None = None
        for module in model:
            if type(module).__name__ == "Pooling":
                mode = getattr(module, "pooling_mode", None)  # sentence-transformers >= 6
                if mode is None and callable(getattr(module, "get_pooling_mode_str", None)):
                    mode = module.get_pooling_mode_str()
                if isinstance(mode, list | tuple):
                    mode = "+".join(str(m) for m in mode)
                pooling = None if mode is None else str(mode)
                break
        max_len = getattr(model, "max_seq_length", None)
        return {
            "name": self.name,
            "backend": self.backend,
            "dim": self.dim,
            "weights_sha256": self._weights_sha256,
            "pooling": pooling,
            "normalize": self.normalized,
            "max_seq_length": None if max_len is None else int(max_len),
            "query_prompt": self._query_prompt,
            "document_prompt": self._document_prompt,
        }
