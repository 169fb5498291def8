"""The baseline for the ingest benchmark: all-MiniLM-L6-v2 run by hand with tokenizers + onnxruntime.

Two loops over the same model file and tokenizer file vecnest uses, written the way the model card
suggests (no vecnest code involved):

* :func:`encode_fixed` — fixed batches of 32 texts in input order, padded to the longest text of
  each batch, masked mean pooling, L2 normalisation.
* :func:`encode_sorted` — the same, but batched like vecnest: within each chunk of texts (the
  CLI's 512-document writes) texts are sorted by token length (longest first) and cut into
  batches whose padded size stays under a token budget; order restored at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

MAX_SEQ_LENGTH = 256
DIM = 384

Progress = Callable[[int], None] | None


def tokenizer_path(repo_root: Path) -> Path:
    """The tokenizer file shipped in vecnest's source tree."""
    return repo_root / "src" / "vecnest" / "encode" / "assets" / "all-MiniLM-L6-v2.tokenizer.json"


def load_tokenizer(path: Path, *, pad: bool):  # noqa: ANN201 - tokenizers.Tokenizer
    """The tokenizer with truncation at 256; padding to the longest text of a batch if ``pad``."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    tok.enable_truncation(max_length=MAX_SEQ_LENGTH)
    if pad:
        tok.enable_padding()  # no length: pad each batch to its longest text
    else:
        tok.no_padding()
    return tok


def load_session(model_file: str | Path, threads: int | None = None):  # noqa: ANN201
    """An onnxruntime CPU session with default options (``threads`` sets intra-op threads)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(model_file), sess_options=opts, providers=["CPUExecutionProvider"])


def _pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    m = mask[:, :, None].astype(np.float32)
    pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
    return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)


def encode_fixed(
    texts: list[str], session, tokenizer, *, batch_size: int = 32, progress: Progress = None  # noqa: ANN001
) -> np.ndarray:
    """``(n, 384) float32``: fixed batches in input order, each padded to its longest text."""
    out = np.empty((len(texts), DIM), dtype=np.float32)
    for start in range(0, len(texts), batch_size):
        encs = tokenizer.encode_batch(texts[start : start + batch_size])
        input_ids = np.array([e.ids for e in encs], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encs], dtype=np.int64)
        type_ids = np.array([e.type_ids for e in encs], dtype=np.int64)
        (hidden,) = session.run(
            ["last_hidden_state"],
            {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": type_ids},
        )
        out[start : start + len(encs)] = _pool(hidden, mask)
        if progress is not None:
            progress(len(encs))
    return out


def encode_sorted(
    texts: list[str],
    session,  # noqa: ANN001
    tokenizer,  # noqa: ANN001 - unpadded tokenizer
    *,
    chunk: int = 512,
    max_batch_tokens: int = 8192,
    progress: Progress = None,
) -> np.ndarray:
    """``(n, 384) float32``: per ``chunk`` of texts, length-sorted batches under a token budget."""
    out = np.empty((len(texts), DIM), dtype=np.float32)
    for c0 in range(0, len(texts), chunk):
        part = texts[c0 : c0 + chunk]
        token_ids = [e.ids for e in tokenizer.encode_batch(part)]
        lengths = np.array([len(t) for t in token_ids], dtype=np.int64)
        order = np.argsort(-lengths, kind="stable")
        start = 0
        while start < len(part):
            longest = max(1, int(lengths[order[start]]))
            rows = order[start : start + max(1, max_batch_tokens // longest)]
            input_ids = np.zeros((len(rows), longest), dtype=np.int64)
            mask = np.zeros((len(rows), longest), dtype=np.int64)
            for r, i in enumerate(rows):
                input_ids[r, : lengths[i]] = token_ids[i]
                mask[r, : lengths[i]] = 1
            (hidden,) = session.run(
                ["last_hidden_state"],
                {
                    "input_ids": input_ids,
                    "attention_mask": mask,
                    "token_type_ids": np.zeros_like(input_ids),
                },
            )
            out[c0 + rows] = _pool(hidden, mask)
            start += len(rows)
            if progress is not None:
                progress(len(rows))
    return out


def token_lengths(texts: list[str], tokenizer) -> np.ndarray:  # noqa: ANN001
    """``(n,) int64`` truncated token counts (special tokens included) with an unpadded tokenizer."""
    return np.array([len(e.ids) for e in tokenizer.encode_batch(texts)], dtype=np.int64)
