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
    AccessDeniedError,
    AuthenticationError,
    CollectionExistsError,
    CollectionNotFoundError,
    CorruptStoreError,
    DimensionMismatchError,
    DuplicateIdError,
    FormatVersionError,
    InvalidFilterError,
    InvalidInputError,
    LimitExceededError,
    MissingDependencyError,
    ModelMismatchError,
    NoEncoderError,
    NotAStoreError,
    NotFoundError,
    PayloadTooLargeError,
    ReadOnlyError,
    RequestTimeoutError,
    ServerUnavailableError,
    StorageFullError,
    StorageLockedError,
    StoreClosedError,
    VecnestError,
)
from vecnest.eval.evaluate import EvalReport, evaluate
from vecnest.lexical.analyzer import AnalyzerConfig
from vecnest.search.hybrid import FusionConfig
from vecnest.search.relevance import RelevanceModel
from vecnest.search.rerank import CrossEncoderReranker
from vecnest.records import Document, Hit, Hits
from vecnest.store.report import CheckReport


def __getattr__(name: str) -> object:
    """``vecnest.Client`` is imported on first use (it needs the ``client`` extra)."""
    if name == "Client":
        from vecnest.client import Client

        return Client
    raise AttributeError(f"module 'vecnest' has no attribute {name!r}")

__all__ = [
    "AnalyzerConfig",
    "CrossEncoderReranker",
    "FusionConfig",
    "RelevanceModel",
    "AccessDeniedError",
    "AuthenticationError",
    "CallableEncoder",
    "CheckReport",
    "Client",
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
    "LimitExceededError",
    "MissingDependencyError",
    "ModelMismatchError",
    "NoEncoderError",
    "NotAStoreError",
    "NotFoundError",
    "PayloadTooLargeError",
    "ReadOnlyError",
    "RequestTimeoutError",
    "ServerUnavailableError",
    "StorageFullError",
    "StorageLockedError",
    "StoreClosedError",
    "VecnestError",
    "__version__",
    "check",
    "delete_store",
    "evaluate",
    "open",
]
