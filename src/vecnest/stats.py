"""``Collection.stats()``: what a collection holds and what it costs, measured.

Bytes per vector by component, RAM resident now against disk: the float32 segment (the process's
resident pages of its mapping, from ``/proc/self/smaps``), the compression tiers (their codes in
RAM measured page by page with ``mincore``; disk tiers are read with positioned reads and never
mapped), the approximate index (its mapping's resident pages) and the lexical index (disk).
"""

from __future__ import annotations

from typing import Any

from vecnest.compress.memory import mapped_rss
from vecnest.config import CollectionConfig
from vecnest.index.ann import AnnIndex
from vecnest.index.state import read_state
from vecnest.lexical.maintain import read_lexical_dir
from vecnest.search.snapshot import Snapshot
from vecnest.store.files import folder_bytes
from vecnest.store.rows import Rows


def _resident(path: Any) -> int | None:
    if path is None:
        return None
    return mapped_rss([path]).get(str(path.resolve()), 0)


def collection_stats(
    snap: Snapshot, ann: AnnIndex | None, rows: Rows, config: CollectionConfig, disk: dict[str, int | None]
) -> dict[str, Any]:
    """The stats of ``snap`` (see module docstring); ``ann``: its index, loaded (``None``: it has
    none, or it proved damaged)."""
    n = max(snap.n_live, 1)
    with rows.catalog.read() as conn:
        index_file = read_state(conn, rows.cid).file
        lexical = read_lexical_dir(conn, rows.cid)
    per: dict[str, Any] = {}
    seg_rss = _resident(rows.segment(snap.generation).path)
    per["float32"] = {"where": "segment (mapped)", "disk": (disk["vectors"] or 0) / n, "ram_resident": None if seg_rss is None else seg_rss / n}
    if snap.tiers is not None:
        for key, part in snap.tiers.memory().items():
            if key != "float32":
                per[key] = {"where": part["where"], "disk": (part["disk"] or 0) / n,
                            "ram_resident": (part["ram_resident"] or 0) / n, "fixed_ram_bytes": part["fixed_ram"]}
    if ann is not None and index_file is not None:
        components = ann.component_bytes()
        if ann.promoted:  # (a private copy: see vecnest.index.promotion)
            where, rss = "index in process memory (huge pages)", sum(components.values())
        else:
            where, rss = "index file (mapped)", _resident(rows.segments_dir / index_file)
        per["index"] = {"where": where, "disk": (disk["index"] or 0) / n,
                        "ram_resident": None if rss is None else rss / n,
                        "components": {k: v / n for k, v in components.items()}}
    if lexical is not None:
        folder = rows.segments_dir / lexical
        size = folder_bytes(folder)
        per["lexical"] = {"where": "lexical index", "disk": size / n}
    return {
        "documents": snap.n_live,
        "rows": snap.n_slots,
        "dead_rows": snap.n_slots - snap.n_live,
        "compression": config.compression,
        "disk_bytes": dict(disk),
        "index_bytes": ann.component_bytes() if ann is not None else {},
        "bytes_per_vector": per,
    }


def disk_bytes(rows: Rows) -> dict[str, int | None]:
    """Bytes on disk by component: vector segment, catalog tables (with their indexes) and the
    approximate index file."""
    with rows.catalog.read() as conn:
        gen = rows.state(conn).generation
        tables = rows.catalog.table_bytes(conn, rows.table)
        file = read_state(conn, rows.cid).file
    index = 0
    if file:
        try:
            index = (rows.segments_dir / file).stat().st_size
        except FileNotFoundError:
            index = 0
    return {"vectors": rows.segment(gen).disk_bytes(), "documents": tables, "index": index}
