"""A directory of derived data (a lexical index, passage vectors …): numpy arrays under names that
are never reused, published by one atomic manifest replace.

Everything in it can be rebuilt from the catalog; the manifest records what it covers, so it is
the commit: data files are written and fsynced first under fresh names (``<prefix>-<token>``),
then the manifest is replaced (write-temp, fsync, rename, fsync the directory). Files the
manifest does not name — replaced ones, or leftovers of a crash — are removed after a publish;
a reader that already mapped one keeps its mapping (POSIX), and a reader that lost the race
to open it re-reads the manifest (:meth:`DerivedDir.read_consistent`).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from vecnest.errors import DerivedDataError
from vecnest.store.manifest import atomic_write_json, fsync_dir

__all__ = ["DerivedDir"]

T = TypeVar("T")


class DerivedDir:
    """One derived-data directory with its manifest.

    Args:
        directory: the directory (created by :meth:`init`).
        manifest_name: the manifest's file name, e.g. ``"lexical.json"``.
        magic: the manifest's ``format`` value, checked on read.
        format_version: the ``format_version`` this code reads and writes.
        error: the :class:`DerivedDataError` subclass raised for this kind of data.
    """

    def __init__(
        self,
        directory: Path,
        manifest_name: str,
        magic: str,
        format_version: int,
        error: type[DerivedDataError] = DerivedDataError,
    ) -> None:
        self.directory, self.manifest_name, self.magic, self.format_version, self.error = (
            Path(directory),
            manifest_name,
            magic,
            format_version,
            error,
        )

    @property
    def manifest_path(self) -> Path:
        """Where the manifest lives."""
        return self.directory / self.manifest_name

    def init(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        """Create the directory with a first manifest; refuses a directory that already has one
        (derived data is rebuilt into a fresh directory, never in place)."""
        if self.manifest_path.exists():
            raise self.error(
                f"{self.directory} already holds {self.manifest_name}; open it, or build the new one in a fresh directory"
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        data = {"format": self.magic, "format_version": self.format_version, "commit": 0, **manifest}
        atomic_write_json(self.manifest_path, data)
        return data

    def read_manifest(self) -> dict[str, Any]:
        """The current manifest, checked for its magic and version."""
        path = self.manifest_path
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise self.error(
                f"{self.directory} holds no {self.manifest_name}; build the derived data first (or rebuild it)"
            ) from None
        except (OSError, ValueError) as exc:
            raise self.error(f"{path} is unreadable ({exc}); rebuild it") from None
        if not isinstance(data, dict) or data.get("format") != self.magic:
            raise self.error(f"{path} is not a {self.magic} manifest; rebuild it")
        if data.get("format_version") != self.format_version:
            raise self.error(
                f"{path} has format_version {data.get('format_version')!r}; this vecnest reads "
                f"{self.format_version}. Rebuild it (it is derived data)"
            )
        return data

    def read_consistent(
        self, load: Callable[[dict[str, Any]], T], attempts: int = 5
    ) -> tuple[dict[str, Any], T]:
        """``(manifest, load(manifest))`` of one commit, retrying when a concurrent publish
        removed files between reading the manifest and loading them."""
        for _ in range(attempts):
            manifest = self.read_manifest()
            try:
                return manifest, load(manifest)
            except DerivedDataError:
                if self.read_manifest()["commit"] == manifest["commit"]:
                    raise
        raise self.error(f"{self.directory} changed under {attempts} consecutive reads; retry")

    def write_arrays(self, prefix: str, arrays: Mapping[str, np.ndarray]) -> tuple[str, dict[str, int]]:
        """Write ``arrays`` as ``.npy`` files in a new directory ``<prefix>-<token>``.

        Returns:
            The entry's name and ``{file name: bytes}`` (record both in the manifest).
        """
        name = f"{prefix}-{secrets.token_hex(8)}"
        tmp = self.directory / (name + ".tmp")
        tmp.mkdir()
        sizes: dict[str, int] = {}
        for key, arr in arrays.items():
            file = tmp / f"{key}.npy"
            with open(file, "wb") as fh:
                np.save(fh, np.asarray(arr), allow_pickle=False)
                fh.flush()
                os.fsync(fh.fileno())
            sizes[file.name] = file.stat().st_size
        fsync_dir(tmp)
        os.replace(tmp, self.directory / name)
        return name, sizes

    def load_arrays(
        self, name: str, sizes: Mapping[str, int] | None, *, mmap: tuple[str, ...] = ()
    ) -> dict[str, np.ndarray]:
        """Arrays written by :meth:`write_arrays` (those named in ``mmap`` memory-mapped).

        Raises:
            DerivedDataError: a file is missing, unreadable or not the size the manifest says.
        """
        path = self.directory / name
        out: dict[str, np.ndarray] = {}
        try:
            files = sizes if sizes is not None else {p.name: None for p in path.glob("*.npy")}
            for file, size in files.items():
                if size is not None and (got := (path / file).stat().st_size) != size:
                    raise self.error(
                        f"{path / file} has {got} bytes, the manifest says {size}; the data is damaged: rebuild it"
                    )
                key = file[: -len(".npy")]
                out[key] = np.load(path / file, mmap_mode="r" if key in mmap else None, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise self.error(f"{path} cannot be read ({exc}); rebuild it") from exc
        return out

    def publish(self, manifest: dict[str, Any], keep: set[str]) -> dict[str, Any]:
        """Commit ``manifest`` (its ``commit`` counter is advanced), then remove every entry
        with a prefix-token name that ``keep`` does not list.

        Returns:
            The manifest as written.
        """
        fsync_dir(self.directory)
        manifest = {**manifest, "commit": int(manifest.get("commit", 0)) + 1}
        atomic_write_json(self.manifest_path, manifest)
        for entry in os.scandir(self.directory):
            if entry.name == self.manifest_name or entry.name in keep or "-" not in entry.name:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
        return manifest
