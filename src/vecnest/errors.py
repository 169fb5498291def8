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


class CompressionConfigError(InvalidInputError):
    """A compression pipeline is malformed or does not fit the collection (unknown code, more
    dimensions than the vectors have, a tier that cannot end a pipeline)."""


class BudgetError(InvalidInputError):
    """No candidate compression pipeline meets the asked memory budget or quality floor."""


class TierIntegrityError(VecnestError, RuntimeError):
    """Stored compressed codes are missing, damaged, or do not match their manifest; exact search
    still answers, and the tiers are rebuilt from the full-precision vectors."""

    http_status = 500
