"""Store administration by path: check (and repair) a store, delete one safely.

The command line's ``vecnest check`` and ``vecnest demo --fresh`` call these.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from vecnest.database import Database
from vecnest.errors import NotAStoreError
from vecnest.store.files import fsync_dir, remove
from vecnest.store.layout import MANIFEST_TMP, ROOT_ENTRIES
from vecnest.store.manifest import CATALOG_NAME, MANIFEST_NAME, read_manifest
from vecnest.store.repair import rewrite_manifest
from vecnest.store.report import CheckReport, CollectionReport, Finding, Severity


def check(
    path: str | os.PathLike[str], *, repair: bool = False, models: Mapping[str, Any] | None = None
) -> CheckReport:
    """Check (and with ``repair`` repair) the store at ``path``: :meth:`Database.check` on a
    store opened for it (read-only unless repairing), and an unreadable manifest rewritten
    from the catalog when repairing (reported as damaged otherwise).

    Raises:
        NotAStoreError: ``path`` holds no vecnest store at all.
    """
    root = Path(path)
    rewritten = None
    try:
        read_manifest(root)
    except NotAStoreError as exc:
        if not (root / CATALOG_NAME).is_file():
            raise
        if not repair or not rewrite_manifest(root):
            return CheckReport(str(root), repair, CollectionReport(None, 0, (
                Finding("manifest", Severity.DAMAGED, f"{exc}; --repair rewrites it from the catalog"),
            )), ())
        rewritten = Finding("manifest", Severity.DAMAGED, "rewrote the unreadable manifest from the catalog", repaired=True)
    with Database(root, read_only=not repair, lock_timeout=10.0, background=False, huge_pages=False) as db:
        report = db.check(repair=repair, models=models)
    if rewritten is not None:
        report = replace(report, store=replace(report.store, findings=(rewritten, *report.store.findings)))
    return report


def delete_store(path: str | os.PathLike[str]) -> None:
    """Delete the vecnest store at ``path`` (an empty folder or a missing path is fine).

    Refuses anything else: a file, a symlink, a folder without a vecnest manifest, or a store
    folder holding entries vecnest did not create (they are listed), so a mistyped path never
    loses data. Links inside the store are removed, never followed.

    Raises:
        NotAStoreError: ``path`` is not a vecnest store or an empty folder.
    """
    root = Path(path)
    if not root.exists() and not root.is_symlink():
        return
    if root.is_symlink() or not root.is_dir():
        raise NotAStoreError(f"{root} is not a folder (a file or a symlink); refusing to delete it")
    entries = sorted(p.name for p in root.iterdir())
    if not entries:
        return
    read_manifest(root)  # NotAStoreError unless it is a store
    foreign = [e for e in entries if e not in ROOT_ENTRIES and not MANIFEST_TMP.fullmatch(e)]
    if foreign:
        raise NotAStoreError(
            f"{root} is a vecnest store but also holds {foreign[:5]} which vecnest did not create; "
            "refusing to delete it. Move those out first"
        )
    remove(root / MANIFEST_NAME)  # first: what is left is no longer a store
    fsync_dir(root)
    for name in entries:
        remove(root / name)
    remove(root)


