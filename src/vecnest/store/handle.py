"""What a collection needs of its open store: the catalog, the segments folder, the worker."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vecnest.store.catalog import Catalog
from vecnest.store.worker import Worker


@dataclass(frozen=True)
class StoreHandle:
    """An open store's shared parts (owned and closed by its ``Database``)."""

    root: Path
    catalog: Catalog
    segments_dir: Path
    worker: Worker
