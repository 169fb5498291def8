"""API keys: hashed at rest, scoped (read / write), granted per collection.

A key is ``vn_<key id>_<secret>``: the id (public, shown by ``vecnest keys list``) finds the
record, the secret (32 random bytes) is checked against its SHA-256, compared in constant time.
A fast hash is right here: the secret is random, not a password, so there is nothing to guess.
The file (JSON, written by temp file + rename, mode 0600) is re-read when it changes, so keys
added or revoked while a server runs take effect on its next request. A key never appears in a
log line, an error message or the file.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import json
import os
import secrets
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from vecnest.errors import AccessDeniedError, AuthenticationError, InvalidInputError, NotFoundError

_FORMAT = "vecnest-keys"
_VERSION = 1
_PREFIX = "vn_"


class Scope(StrEnum):
    """What a key may do within the collections it is granted."""

    READ = "read"  #: list, count, get, search, info
    WRITE = "write"  #: also add, upsert, update, delete, create, drop, index


@dataclass(frozen=True)
class KeyRecord:
    """One stored key (never the key itself).

    Attributes:
        key_id: public identifier, part of the key.
        name: the operator's label.
        sha256: hex digest of the secret part.
        scope: :class:`Scope` value.
        collections: collection names or shell patterns (``"*"``: every collection).
        created_at: ISO timestamp.
        revoked: revoked keys are kept (for the record) and refused.
    """

    key_id: str
    name: str
    sha256: str
    scope: str
    collections: tuple[str, ...]
    created_at: str
    revoked: bool = False


@dataclass(frozen=True)
class Principal:
    """Who a request is: a key's grants, or everyone when the server has no keys (loopback)."""

    key_id: str | None
    scope: Scope
    collections: tuple[str, ...]

    def allows(self, collection: str) -> bool:
        """Whether the key is granted ``collection``."""
        return any(fnmatch.fnmatchcase(collection, pattern) for pattern in self.collections)

    def require(self, collection: str | None, write: bool) -> None:
        """Raise :class:`AccessDeniedError` unless this key may do it."""
        if write and self.scope is not Scope.WRITE:
            raise AccessDeniedError(
                f"API key {self.key_id} is read-only and this request writes; use a key created "
                "with vecnest keys add --scope write"
            )
        if collection is not None and not self.allows(collection):
            raise AccessDeniedError(
                f"API key {self.key_id} is not granted collection {collection!r} (it is granted "
                f"{list(self.collections)}); ask the operator for a key with --collections {collection}"
            )


OPEN = Principal(None, Scope.WRITE, ("*",))


def _check_scope(scope: str) -> Scope:
    try:
        return Scope(scope)
    except ValueError:
        raise InvalidInputError(f"scope must be one of {[s.value for s in Scope]}; got {scope!r}") from None


class KeyStore:
    """The API keys file. Thread-safe; reloads when the file changes on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._records: dict[str, KeyRecord] = {}

    # ------------------------------------------------------------------ reading
    def records(self) -> list[KeyRecord]:
        """Every key record, revoked ones included, as of the file now on disk."""
        with self._lock:
            self._refresh()
            return list(self._records.values())

    def active(self) -> int:
        """Number of keys not revoked: 0 means the server runs without authentication."""
        return sum(not r.revoked for r in self.records())

    def _refresh(self) -> None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._records = None, {}
            return
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("format") != _FORMAT or data.get("version") != _VERSION:
                raise ValueError("not a vecnest keys file")
            records = {
                r["key_id"]: KeyRecord(**{**r, "collections": tuple(r["collections"])})
                for r in data["keys"]
            }
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InvalidInputError(
                f"{self.path} is not a readable vecnest keys file ({exc}); recreate it with "
                "vecnest keys add"
            ) from None
        self._stamp, self._records = stamp, records

    # ------------------------------------------------------------------ checking
    def authenticate(self, key: str | None) -> Principal:
        """The :class:`Principal` of a request's key (:data:`OPEN` when no key is configured).

        Raises:
            AuthenticationError: keys are configured and ``key`` is missing, malformed, unknown
                or revoked (one message for all, naming only the key id if it parsed).
        """
        with self._lock:
            self._refresh()
            records = self._records
        if not any(not r.revoked for r in records.values()):
            return OPEN
        if not key:
            raise AuthenticationError(
                "this server requires an API key: send it as 'Authorization: Bearer <key>' (or "
                "the X-API-Key header); vecnest.Client(url, api_key=...) does this"
            )
        key_id, secret = _split(key)
        record = records.get(key_id) if key_id else None
        digest = hashlib.sha256(secret.encode()).hexdigest() if secret else ""
        if record is None or record.revoked or not hmac.compare_digest(digest, record.sha256):
            shown = f" (key id {key_id})" if record is not None else ""
            raise AuthenticationError(
                f"the API key{shown} is not valid on this server: unknown, mistyped or revoked. "
                "Check the key, or ask the operator for a new one (vecnest keys add)"
            )
        return Principal(record.key_id, Scope(record.scope), record.collections)

    # ------------------------------------------------------------------ managing
    def add(self, name: str, scope: str, collections: Sequence[str] = ("*",)) -> tuple[str, KeyRecord]:
        """Create a key; returns ``(the key, its record)``. The key is shown once, never stored."""
        scope_ = _check_scope(scope)
        grants = tuple(c.strip() for c in collections if c.strip())
        if not grants:
            raise InvalidInputError("a key needs at least one collection grant ('*' for all)")
        if not isinstance(name, str) or not name.strip():
            raise InvalidInputError("a key needs a non-empty --name to tell it apart")
        key_id = secrets.token_hex(4)
        secret = secrets.token_urlsafe(32)
        record = KeyRecord(
            key_id=key_id,
            name=name.strip(),
            sha256=hashlib.sha256(secret.encode()).hexdigest(),
            scope=scope_.value,
            collections=grants,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        with self._lock:
            self._refresh()
            records = dict(self._records)
            records[key_id] = record
            self._write(records)
        return f"{_PREFIX}{key_id}_{secret}", record

    def revoke(self, key_id: str) -> KeyRecord:
        """Revoke a key by id (or by its full key); the record stays, marked revoked."""
        if key_id.startswith(_PREFIX):
            key_id = _split(key_id)[0] or key_id
        with self._lock:
            self._refresh()
            record = self._records.get(key_id)
            if record is None:
                raise NotFoundError(
                    f"no API key with id {key_id!r} in {self.path}; list them with vecnest keys list"
                )
            records = dict(self._records)
            records[key_id] = KeyRecord(**{**asdict(record), "revoked": True})
            self._write(records)
            return records[key_id]

    def _write(self, records: dict[str, KeyRecord]) -> None:
        data: dict[str, Any] = {
            "format": _FORMAT,
            "version": _VERSION,
            "keys": [{**asdict(r), "collections": list(r.collections)} for r in records.values()],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self._stamp = None  # re-read on next use


def _split(key: str) -> tuple[str | None, str | None]:
    """``vn_<id>_<secret>`` → ``(id, secret)``; ``(None, None)`` when malformed."""
    if not isinstance(key, str) or not key.startswith(_PREFIX):
        return None, None
    key_id, sep, secret = key[len(_PREFIX) :].partition("_")
    if not sep or not key_id or not secret:
        return None, None
    return key_id, secret
