"""Helpers for server tests: a checksum of a store's contents through the public API."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import vecnest


def store_digest(root: Path) -> str:
    """SHA-256 of everything a store holds, read through the public API (read-only, so it can
    run beside a live server): each collection's manifest and every document's id, text,
    metadata and stored vector bytes, in id order."""
    h = hashlib.sha256()
    with vecnest.open(root, read_only=True) as db:
        for name in db.list_collections():
            col = db.get_collection(name, model=None)
            h.update(json.dumps(col.config.to_json(), sort_keys=True).encode())
            for doc in sorted(col.get(include_vectors=True), key=lambda d: d.id):
                h.update(json.dumps([doc.id, doc.text, doc.metadata], sort_keys=True).encode())
                h.update(doc.vector.tobytes())
    return h.hexdigest()
