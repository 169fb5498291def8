"""What a collection needs of its open store: the catalog, the segments folder, the worker."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
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
    #: searches copy a large HNSW graph that stays current onto huge pages (``open(huge_pages=)``)
    huge_pages: bool = True
    #: set when the store closes (no index of it is promoted to huge pages after that)
    closed: threading.Event = field(default_factory=threading.Event)
