"""The store manifest: ``vecnest.json`` at the root of a store, carrying ``format_version``.

Format version history:
    1: SQLite catalog (``catalog.sqlite3``, WAL) holding collections, documents, metadata and the
       committed row count of each vector segment; vector segments as raw little-endian float32
       files ``segments/c<cid>.g<generation>.f32``, append-only, rows addressed by slot.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from vecnest.errors import FormatVersionError, NotAStoreError
from vecnest.store.files import fsync_dir, token

FORMAT_VERSION = 1
MANIFEST_NAME = "vecnest.json"
CATALOG_NAME = "catalog.sqlite3"
SEGMENTS_DIR = "segments"
_MAGIC = "vecnest-store"


def atomic_write_json(path: Path, data: dict[str, Any]) -> None:
    """Write JSON to ``path`` atomically: temp file, fsync, rename, fsync the directory."""
    tmp = path.with_name(f"{path.name}.{token()}.tmp")  # several processes may write at once
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def create_manifest(root: Path, version: str) -> dict[str, Any]:
    """Write a fresh manifest into an empty store directory."""
    data = {"format": _MAGIC, "format_version": FORMAT_VERSION, "created_by": f"vecnest {version}"}
    atomic_write_json(root / MANIFEST_NAME, data)
    return data


def read_manifest(root: Path) -> dict[str, Any]:
    """Read and check the manifest of an existing store.

    Raises:
        NotAStoreError: the directory has no readable vecnest manifest.
        FormatVersionError: the store was written by a newer format version.
    """
    path = root / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotAStoreError(
            f"{root} is not a vecnest store: it is a non-empty directory without {MANIFEST_NAME}. "
            "Pass an empty or new directory to create a store, or the directory of an existing one"
        ) from None
    except (OSError, ValueError) as exc:
        raise NotAStoreError(f"{path} is not a readable vecnest manifest: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != _MAGIC:
        raise NotAStoreError(f"{path} is not a vecnest manifest (no 'format': '{_MAGIC}')")
    found = data.get("format_version")
    if not isinstance(found, int) or found > FORMAT_VERSION or found < 1:
        raise FormatVersionError(
            f"store {root} has format_version {found!r}, but this vecnest reads format "
            f"versions 1..{FORMAT_VERSION}; it was written by {data.get('created_by', 'unknown')}. "
            "Upgrade vecnest (pip install -U vecnest) to open it"
        )
    return data
