"""vecnest: an embedded embedding-retrieval engine.

>>> import vecnest
>>> db = vecnest.open("./data")                      # doctest: +SKIP
>>> col = db.create_collection("papers")             # default local model, cosine
>>> col.add(["a"], ["Attention is all you need"], [{"year": 2017}])
>>> col.search("transformers", k=5, where={"year": {"$gte": 2015}})
"""

from __future__ import annotations

from vecnest._version import __version__
from vecnest.admin import check, delete_store
from vecnest.collection import Collection
from vecnest.config import IndexConfig
from vecnest.database import Database, open
from vecnest.encode.base import CallableEncoder, Encoder
from vecnest.errors import (
    CollectionExistsError,
    CollectionNotFoundError,
    CorruptStoreError,
    DimensionMismatchError,
    DuplicateIdError,
    FormatVersionError,
    InvalidFilterError,
    InvalidInputError,
    MissingDependencyError,
    ModelMismatchError,
    NoEncoderError,
    NotAStoreError,
    NotFoundError,
    ReadOnlyError,
    StorageFullError,
    StorageLockedError,
    VecnestError,
)
from vecnest.eval.evaluate import EvalReport, evaluate
from vecnest.records import Document, Hit, Hits
from vecnest.store.report import CheckReport

__all__ = [
    "CallableEncoder",
    "CheckReport",
    "Collection",
    "CollectionExistsError",
    "CollectionNotFoundError",
    "CorruptStoreError",
    "Database",
    "DimensionMismatchError",
    "Document",
    "DuplicateIdError",
    "Encoder",
    "EvalReport",
    "FormatVersionError",
    "Hit",
    "Hits",
    "IndexConfig",
    "InvalidFilterError",
    "InvalidInputError",
    "MissingDependencyError",
    "ModelMismatchError",
    "NoEncoderError",
    "NotAStoreError",
    "NotFoundError",
    "ReadOnlyError",
    "StorageFullError",
    "StorageLockedError",
    "VecnestError",
    "__version__",
    "check",
    "delete_store",
    "evaluate",
    "open",
]
