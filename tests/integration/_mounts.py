"""Small file systems for the hostile-storage tests: a size-capped tmpfs (a full disk) and a
folder made read-only (a read-only mount when root, permissions otherwise)."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """Mount a tmpfs of ``size`` at ``path`` (skips, saying why, where mounting is not permitted)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CAP_SYS_ADMIN); this test runs where it is allowed")
    path.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True)
    if res.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip() or res.returncode}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@contextmanager
def read_only(mount: Path, store: Path) -> Iterator[None]:
    """Make ``store`` (inside the tmpfs ``mount`` when root) read-only for this process."""
    if os.geteuid() == 0:
        res = subprocess.run(["mount", "-o", "remount,ro", str(mount)], capture_output=True, text=True)
        if res.returncode:
            pytest.skip(f"cannot remount read-only here: {res.stderr.strip()}")
        try:
            yield
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(mount)], capture_output=True)
        return
    paths = [store, *store.rglob("*")]
    modes = {p: p.stat().st_mode for p in paths}
    for p in paths:
        p.chmod(stat.S_IMODE(modes[p]) & ~0o222)
    try:
        yield
    finally:
        for p in paths:
            p.chmod(stat.S_IMODE(modes[p]))


@contextmanager
def mounted_or_plain(path: Path, size: str = "64m") -> Iterator[Path]:
    """A tmpfs at ``path`` when root (so it can be remounted read-only), else a plain folder."""
    if os.geteuid() != 0:
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tmpfs(path, size) as mount:
        yield mount
