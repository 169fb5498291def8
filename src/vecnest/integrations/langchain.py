"""A LangChain ``VectorStore`` over a vecnest collection, embedded or remote (extra ``langchain``).

>>> import vecnest
>>> from vecnest.integrations.langchain import VecnestVectorStore
>>> col = vecnest.open("./data").get_or_create_collection("docs")        # doctest: +SKIP
>>> store = VecnestVectorStore(col)            # vecnest embeds with the collection's model
>>> store.add_texts(["Attention is all you need"], metadatas=[{"year": 2017}])  # doctest: +SKIP
>>> store.similarity_search("transformers", k=4, filter={"year": {"$gte": 2015}})  # doctest: +SKIP

Works the same with ``vecnest.Client(url).get_collection(...)``. Pass ``embedding=`` (any
LangChain ``Embeddings``) to embed on the caller's side instead; the collection then stores those
vectors (create it with ``model=None, dim=...``). ``filter`` is a vecnest ``where`` filter;
``where_document`` filters on the text. Adding an id that exists replaces that document.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from vecnest._deps import require

require("langchain_core", "langchain", "The LangChain vector store")

from langchain_core.documents import Document  # noqa: E402
from langchain_core.embeddings import Embeddings  # noqa: E402
from langchain_core.vectorstores import VectorStore  # noqa: E402
from langchain_core.vectorstores.utils import maximal_marginal_relevance  # noqa: E402

from vecnest.config import Metric  # noqa: E402
from vecnest.errors import InvalidInputError  # noqa: E402


class VecnestVectorStore(VectorStore):
    """LangChain's vector store interface on a vecnest ``Collection`` or ``RemoteCollection``.

    Args:
        collection: the collection (embedded or through ``vecnest.Client``).
        embedding: embed texts and queries with this instead of the collection's own model.
    """

    def __init__(self, collection: Any, embedding: Embeddings | None = None, *, mode: str = "dense") -> None:
        """Args:
            collection: an embedded or remote vecnest collection.
            embedding: LangChain embeddings (``None``: vecnest embeds with the collection's model).
            mode: the search mode (``"dense"``, ``"lexical"``, ``"hybrid"``, ``"auto"``). Dense
                by default: LangChain reads scores as similarities (relevance scores in 0-1);
                hybrid scores are fused z-scores, so relevance scores are then the hits'
                probabilities of relevance.
        """
        self.collection = collection
        self._embedding = embedding
        self.mode = mode

    @property
    def embeddings(self) -> Embeddings | None:
        """The caller-side embeddings, or ``None`` when vecnest embeds with the collection's model."""
        return self._embedding

    # ------------------------------------------------------------------ writes
    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Store texts (replacing documents whose id exists); returns their ids."""
        texts = list(texts)
        ids = [str(i) if i is not None else str(uuid.uuid4()) for i in ids] if ids else [str(uuid.uuid4()) for _ in texts]
        if not texts:
            return []
        vectors = None
        if self._embedding is not None:
            vectors = np.asarray(self._embedding.embed_documents(texts), dtype=np.float32)
        self.collection.upsert(ids, texts, metadatas, vectors)
        return ids

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete by ids (unknown ids are ignored), or by ``where=`` given as a keyword."""
        if ids is None and not kwargs.get("where"):
            raise InvalidInputError("delete() needs ids= or where=; to remove everything, drop the collection")
        if ids is not None and not ids:
            return True
        self.collection.delete(ids=list(ids) if ids is not None else None, where=kwargs.get("where"))
        return True

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Documents by id, in the order given; missing ids are skipped."""
        return [Document(page_content=d.text or "", metadata=d.metadata, id=d.id) for d in self.collection.get(ids=list(ids))] if ids else []

    # ------------------------------------------------------------------ search
    def _hits(self, query: str | list[float], k: int, filter: dict | None, where_document: dict | None, **kwargs: Any) -> Any:
        if k < 1:
            return []
        if isinstance(query, str) and self._embedding is not None:
            query = self._embedding.embed_query(query)
        q = query if isinstance(query, str) else np.asarray(query, dtype=np.float32)
        kwargs.setdefault("mode", self.mode if isinstance(q, str) or self.mode == "dense" else "dense")
        return self.collection.search(q, k=k, where=filter, where_document=where_document, **kwargs)

    def similarity_search_with_score(
        self, query: str, k: int = 4, filter: dict | None = None, where_document: dict | None = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Documents most similar to ``query`` with vecnest's score (higher is better)."""
        return [(_doc(h), h.score) for h in self._hits(query, k, filter, where_document, **kwargs)]

    def similarity_search(
        self, query: str, k: int = 4, filter: dict | None = None, where_document: dict | None = None, **kwargs: Any
    ) -> list[Document]:
        """Documents most similar to ``query``, best first."""
        return [d for d, _ in self.similarity_search_with_score(query, k, filter, where_document, **kwargs)]

    def similarity_search_by_vector(
        self, embedding: list[float], k: int = 4, filter: dict | None = None, where_document: dict | None = None, **kwargs: Any
    ) -> list[Document]:
        """Documents most similar to a query vector."""
        return [_doc(h) for h in self._hits(list(embedding), k, filter, where_document, **kwargs)]

    def max_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: dict | None = None,
        where_document: dict | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """Diverse results: ``fetch_k`` candidates re-ranked by maximal marginal relevance."""
        hits = self._hits(list(embedding), max(fetch_k, k), filter, where_document, include_vectors=True, **kwargs)
        if not hits:
            return []
        chosen = maximal_marginal_relevance(
            np.asarray(embedding, dtype=np.float32), [h.vector for h in hits], lambda_mult=lambda_mult, k=k
        )
        return [_doc(hits[i]) for i in chosen]

    def max_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: dict | None = None,
        where_document: dict | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """MMR for a text query (needs ``embedding=``: the query vector is compared locally)."""
        if self._embedding is None:
            raise InvalidInputError(
                "max_marginal_relevance_search needs embedding= on the store (it compares the "
                "query vector with the candidates' vectors); or call the _by_vector variant"
            )
        return self.max_marginal_relevance_search_by_vector(
            self._embedding.embed_query(query), k, fetch_k, lambda_mult, filter, where_document, **kwargs
        )

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        metric = self.collection.metric
        if metric is Metric.COSINE:
            return lambda score: (1.0 + score) / 2.0
        if metric is Metric.L2:
            return lambda score: 1.0 - math.sqrt(max(-score, 0.0)) / math.sqrt(2)
        return lambda score: score  # dot: as given (normalised models give cosine)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings | None = None,
        metadatas: list[dict] | None = None,
        *,
        ids: list[str] | None = None,
        collection: Any = None,
        **kwargs: Any,
    ) -> VecnestVectorStore:
        """A store on ``collection`` (required: a vecnest collection, embedded or remote) holding
        ``texts``."""
        if collection is None:
            raise InvalidInputError(
                "VecnestVectorStore.from_texts needs collection=: e.g. "
                "vecnest.open(path).get_or_create_collection(name) or vecnest.Client(url).get_collection(name)"
            )
        store = cls(collection, embedding)
        store.add_texts(texts, metadatas, ids=ids)
        return store


def _doc(hit: Any) -> Document:
    return Document(page_content=hit.text or "", metadata=hit.metadata, id=hit.id)
