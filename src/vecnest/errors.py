"""The whole vecnest exception tree.

Every error subclasses :class:`VecnestError` and the builtin it behaves like, and carries an
``http_status`` for the server edge. Messages say what was expected, what arrived and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "VecnestError",
    "InvalidInputError",
    "DimensionMismatchError",
    "InvalidFilterError",
    "DuplicateIdError",
    "NotFoundError",
    "CollectionNotFoundError",
    "CollectionExistsError",
    "ModelMismatchError",
    "NoEncoderError",
    "FormatVersionError",
    "NotAStoreError",
    "StorageLockedError",
    "ReadOnlyError",
    "MissingDependencyError",
    "ModelIntegrityError",
    "CorruptStoreError",
    "StoreClosedError",
    "StorageFullError",
    "LimitExceededError",
    "PayloadTooLargeError",
    "AuthenticationError",
    "AccessDeniedError",
    "RequestTimeoutError",
    "ServerUnavailableError",
    "error_class",
    "DerivedDataError",
    "LexicalIndexError",
    "PassageIndexError",
    "CompressionConfigError",
    "BudgetError",
    "TierIntegrityError",
]


class VecnestError(Exception):
    """Base of every error vecnest raises on purpose."""

    http_status: int = 500


class InvalidInputError(VecnestError, ValueError):
    """An argument has the wrong type, shape or value."""

    http_status = 400


class DimensionMismatchError(InvalidInputError):
    """A vector's dimension differs from the collection's."""


class InvalidFilterError(InvalidInputError):
    """A ``where`` / ``where_document`` filter is malformed."""


class DuplicateIdError(VecnestError, ValueError):
    """An id appears twice in one batch, or ``add`` was given an id that is already stored."""

    http_status = 409


class NotFoundError(VecnestError, KeyError):
    """Something asked for by name or id does not exist."""

    http_status = 404

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class CollectionNotFoundError(NotFoundError):
    """No collection of that name exists in the store."""


class CollectionExistsError(VecnestError, ValueError):
    """``create_collection`` was asked for a name that is already taken."""

    http_status = 409


class ModelMismatchError(VecnestError, ValueError):
    """A collection was opened with an encoder other than the one it was built with."""

    http_status = 409


class NoEncoderError(VecnestError, ValueError):
    """Text was given to a collection that has no encoder attached."""

    http_status = 400


class FormatVersionError(VecnestError, RuntimeError):
    """The store was written by a newer (or unknown) on-disk format version."""

    http_status = 500


class NotAStoreError(VecnestError, ValueError):
    """A path that should hold a vecnest store holds something else."""

    http_status = 400


class StorageLockedError(VecnestError, RuntimeError):
    """Another process holds the store's write lock for longer than ``lock_timeout``."""

    http_status = 423


class ReadOnlyError(VecnestError, PermissionError):
    """A write was attempted through a store opened with ``read_only=True``."""

    http_status = 403


class MissingDependencyError(VecnestError, ImportError):
    """An optional part was used without its extra installed."""

    http_status = 501


class ModelIntegrityError(VecnestError, RuntimeError):
    """The model's weight file does not match its pinned checksum."""

    http_status = 500


class CorruptStoreError(VecnestError, RuntimeError):
    """Stored data is damaged (a truncated or missing segment, a checksum mismatch, an
    unreadable catalog): vecnest refuses to answer from it rather than answer wrongly.
    ``vecnest check --db PATH`` reports what is damaged; ``--repair`` rebuilds what can be."""

    http_status = 500


class DerivedDataError(VecnestError, RuntimeError):
    """Derived data on disk (an index rebuilt from the catalog) is missing, damaged, or from
    another format version: rebuild it (``vecnest check --repair``)."""

    http_status = 500


class StoreClosedError(VecnestError, RuntimeError):
    """The store (``Database``) was closed; open it again to use it."""

    http_status = 410


class StorageFullError(VecnestError, OSError):
    """The disk (or quota) is full: the write was not stored; free space and retry."""

    http_status = 507


class LimitExceededError(InvalidInputError):
    """A request is larger than a limit the server enforces (batch size, ``k``, query length,
    filter depth or size); the message names the limit and its configured value."""

    http_status = 422


class PayloadTooLargeError(LimitExceededError):
    """A request body is larger than the server's ``max_body_bytes``."""

    http_status = 413


class AuthenticationError(VecnestError, PermissionError):
    """A request to a server that requires an API key came without one, or with an unknown or
    revoked key."""

    http_status = 401


class AccessDeniedError(VecnestError, PermissionError):
    """An API key is valid but lacks the scope (read-only key writing) or the grant (a key for
    another collection) the request needs."""

    http_status = 403


class RequestTimeoutError(VecnestError, TimeoutError):
    """A read took longer than the server's per-request timeout (writes are never cut off: a
    write that started runs to its commit)."""

    http_status = 408


class ServerUnavailableError(VecnestError, ConnectionError):
    """The HTTP client could not reach the server, or the server answered without a vecnest
    error body (a proxy, another service on that port, a crash)."""

    http_status = 503


def error_class(name: str) -> type[VecnestError]:
    """The error class called ``name`` in this module (for errors that crossed HTTP); an unknown
    name maps to :class:`VecnestError` itself."""
    cls = globals().get(name)
    if isinstance(cls, type) and issubclass(cls, VecnestError):
        return cls
    return VecnestError


class LexicalIndexError(DerivedDataError):
    """A lexical index on disk is missing, damaged, or inconsistent with its collection."""


class PassageIndexError(DerivedDataError):
    """The stored passage vectors of a collection are missing, damaged, or inconsistent."""


class CompressionConfigError(InvalidInputError):
    """A compression pipeline is malformed or does not fit the collection (unknown code, more
    dimensions than the vectors have, a tier that cannot end a pipeline)."""


class BudgetError(InvalidInputError):
    """No candidate compression pipeline meets the asked memory budget or quality floor."""


class TierIntegrityError(DerivedDataError):
    """Stored compressed codes are missing, damaged, or do not match their manifest; exact search
    still answers, and the tiers are rebuilt from the full-precision vectors."""

    http_status = 500
