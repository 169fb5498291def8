"""A LlamaIndex vector store over a vecnest collection, embedded or remote (extra ``llamaindex``).

>>> from llama_index.core import StorageContext, VectorStoreIndex          # doctest: +SKIP
>>> store = VecnestVectorStore(vecnest.open("./data").get_or_create_collection("docs"))  # doctest: +SKIP
>>> index = VectorStoreIndex.from_documents(docs, storage_context=StorageContext.from_defaults(vector_store=store))  # doctest: +SKIP

Nodes carrying embeddings are stored with those vectors; nodes without are embedded by vecnest
with the collection's model (server-side for a remote collection), and so are queries given as
text only. Metadata filters become a vecnest ``where`` filter, evaluated exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vecnest._deps import require

require("llama_index.core", "llamaindex", "The LlamaIndex vector store")

from llama_index.core.bridge.pydantic import PrivateAttr  # noqa: E402
from llama_index.core.schema import BaseNode, MetadataMode  # noqa: E402
from llama_index.core.vector_stores.types import (  # noqa: E402
    BasePydanticVectorStore,
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryResult,
)
from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict  # noqa: E402

from vecnest.errors import InvalidFilterError  # noqa: E402

_OPS = {
    FilterOperator.EQ: "$eq", FilterOperator.NE: "$ne", FilterOperator.GT: "$gt", FilterOperator.GTE: "$gte",
    FilterOperator.LT: "$lt", FilterOperator.LTE: "$lte", FilterOperator.IN: "$in", FilterOperator.NIN: "$nin",
    FilterOperator.CONTAINS: "$contains", FilterOperator.ANY: "$contains_any", FilterOperator.ALL: "$contains_all",
}


def to_where(filters: MetadataFilters | None) -> dict[str, Any] | None:
    """LlamaIndex ``MetadataFilters`` as a vecnest ``where`` filter."""
    if filters is None or not filters.filters:
        return None
    parts = []
    for f in filters.filters:
        if isinstance(f, MetadataFilters):
            parts.append(to_where(f))
        elif isinstance(f, MetadataFilter):
            if f.operator is FilterOperator.IS_EMPTY:
                parts.append({f.key: {"$exists": False}})
            elif f.operator in _OPS:
                parts.append({f.key: {_OPS[f.operator]: f.value}})
            else:
                raise InvalidFilterError(
                    f"LlamaIndex filter operator {f.operator.value!r} has no vecnest equivalent; "
                    f"use one of {[op.value for op in _OPS]} or is_empty"
                )
    if filters.condition is FilterCondition.NOT:
        return {"$not": {"$and": parts}}
    return {"$or" if filters.condition is FilterCondition.OR else "$and": parts}


class VecnestVectorStore(BasePydanticVectorStore):
    """LlamaIndex's vector store interface on a vecnest ``Collection`` or ``RemoteCollection``."""

    stores_text: bool = True
    flat_metadata: bool = True
    _collection: Any = PrivateAttr()

    def __init__(self, collection: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._collection = collection

    @classmethod
    def class_name(cls) -> str:
        return "VecnestVectorStore"

    @property
    def client(self) -> Any:
        """The vecnest collection."""
        return self._collection

    def add(self, nodes: list[BaseNode], **kwargs: Any) -> list[str]:
        """Store nodes (replacing any with the same id); returns their ids."""
        if not nodes:
            return []
        ids = [n.node_id for n in nodes]
        texts = [n.get_content(metadata_mode=MetadataMode.NONE) or " " for n in nodes]
        metas = [node_to_metadata_dict(n, remove_text=True, flat_metadata=self.flat_metadata) for n in nodes]
        with_vectors = [n.embedding is not None for n in nodes]
        vectors = np.asarray([n.get_embedding() for n in nodes], dtype=np.float32) if all(with_vectors) else None
        self._collection.upsert(ids, texts, metas, vectors)
        return ids

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete every node of a source document."""
        self._collection.delete(where={"ref_doc_id": ref_doc_id})

    def delete_nodes(self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None, **kwargs: Any) -> None:
        """Delete nodes by id and/or filter."""
        self._collection.delete(ids=node_ids, where=to_where(filters))

    def get_nodes(self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None) -> list[BaseNode]:
        """Nodes by id and/or filter."""
        docs = self._collection.get(ids=node_ids, where=to_where(filters))
        return [metadata_dict_to_node(d.metadata, text=d.text) for d in docs]

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """The ``similarity_top_k`` nodes nearest the query vector (or text), filters applied."""
        where = to_where(query.filters)
        id_filter = query.node_ids or None
        if query.doc_ids:
            doc_filter = {"ref_doc_id": {"$in": list(query.doc_ids)}}
            where = doc_filter if where is None else {"$and": [where, doc_filter]}
        q: Any = query.query_str
        if query.query_embedding is not None:
            q = np.asarray(query.query_embedding, dtype=np.float32)
        k = query.similarity_top_k
        # LlamaIndex's query modes in vecnest's terms: sparse/text search -> BM25 alone,
        # hybrid -> fused with the embedding, everything else -> the embedding alone
        mode, text = "dense", None
        if query.mode.value in ("sparse", "text_search") and query.query_str:
            mode, q = "lexical", query.query_str
        elif query.mode.value in ("hybrid", "semantic_hybrid") and query.query_str:
            mode, text = "hybrid", (None if isinstance(q, str) else query.query_str)
        hits = self._collection.search(q, k=k if id_filter is None else max(k, 100), where=where, mode=mode, text=text)
        if id_filter is not None:
            wanted = set(id_filter)
            hits = [h for h in hits if h.id in wanted][:k]
        nodes = [metadata_dict_to_node(h.metadata, text=h.text) for h in hits]
        return VectorStoreQueryResult(nodes=nodes, similarities=[h.score for h in hits], ids=[h.id for h in hits])

    def clear(self) -> None:
        """Delete every node (the collection stays)."""
        ids = [d.id for d in self._collection.get()]
        for lo in range(0, len(ids), 1000):
            self._collection.delete(ids=ids[lo : lo + 1000])
