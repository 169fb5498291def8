"""On-disk cache of embeddings, keyed by (encoder fingerprint, corpus hash), so that comparing many
configurations embeds each (model, dataset) pair once. Plain ``.npy`` files, never pickle."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from vecnest.encode.base import Encoder


def default_cache_dir() -> Path:
    """``$VECNEST_CACHE_DIR``, else ``~/.cache/vecnest``."""
    return Path(os.environ.get("VECNEST_CACHE_DIR", Path.home() / ".cache" / "vecnest"))


def texts_hash(texts: Sequence[str]) -> str:
    """SHA-256 over the texts, in order."""
    h = hashlib.sha256()
    for text in texts:
        h.update(text.encode())
        h.update(b"\x00")
    return h.hexdigest()


def cache_key(encoder: Encoder, kind: str, texts: Sequence[str]) -> str | None:
    """Key for these texts under this encoder, or ``None`` if the encoder cannot be identified
    (a callable without a weights checksum is only trusted by name, so it is not cached)."""
    fp = encoder.fingerprint()
    if not fp.get("weights_sha256"):
        return None
    ident = json.dumps(fp, sort_keys=True) + kind + texts_hash(texts)
    return hashlib.sha256(ident.encode()).hexdigest()[:32]


def cached_embeddings(
    encoder: Encoder,
    texts: Sequence[str],
    *,
    kind: str,
    cache_dir: Path | None,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, bool]:
    """Embeddings of ``texts`` (``kind`` = "documents" or "queries"), from cache when possible.

    Returns:
        ``(n, dim) float32`` and whether they came from the cache.
    """
    key = cache_key(encoder, kind, texts) if cache_dir is not None else None
    path = cache_dir / f"{key}.{kind}.npy" if key and cache_dir is not None else None
    if path is not None and path.is_file():
        arr = np.load(path, allow_pickle=False)
        if arr.shape == (len(texts), encoder.dim):
            return arr, True
    encode = encoder.encode_documents if kind == "documents" else encoder.encode_queries
    arr = np.ascontiguousarray(encode(list(texts), progress=progress), dtype=np.float32)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npy")
        np.save(tmp, arr, allow_pickle=False)
        os.replace(tmp, path)
    return arr, False
