"""The LlamaIndex vector store: a VectorStoreIndex built on it answers retrievals, with
metadata filters and document deletion, on an embedded collection and through a real server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from llama_index.core import Document, StorageContext, VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.vector_stores.types import FilterOperator, MetadataFilter, MetadataFilters, VectorStoreQuery

import vecnest
from tests.conftest import hashing_embed
from tests.integration.server_proc import ServerProcess
from vecnest.integrations.llamaindex import VecnestVectorStore, to_where


class HashingEmbedding(BaseEmbedding):
    """The test suite's bag-of-words hashing embedder as a LlamaIndex embedding (no model)."""

    def _get_text_embedding(self, text: str) -> list[float]:
        return hashing_embed([text])[0].tolist()

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._get_text_embedding(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)


DOCS = [
    Document(text="Cats purr and sleep on warm sofas", metadata={"animal": "cat", "year": 2021}, id_="doc-cat"),
    Document(text="Dogs bark loudly at the postman", metadata={"animal": "dog", "year": 2022}, id_="doc-dog"),
    Document(text="Kittens are young cats that play", metadata={"animal": "cat", "year": 2024}, id_="doc-kitten"),
]


@pytest.fixture(params=["embedded", "server"])
def collection(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    root = tmp_path_factory.mktemp("llama") / "store"
    if request.param == "embedded":
        with vecnest.open(root) as db:
            yield db.create_collection("llama", None, dim=64)
    else:
        with ServerProcess(root) as server, vecnest.Client(server.url) as client:
            yield client.create_collection("llama", None, dim=64)


def test_index_retrieve_filter_delete(collection: object) -> None:
    store = VecnestVectorStore(collection)
    index = VectorStoreIndex.from_documents(
        DOCS, storage_context=StorageContext.from_defaults(vector_store=store), embed_model=HashingEmbedding()
    )
    found = index.as_retriever(similarity_top_k=1).retrieve("dogs bark")
    assert found[0].node.ref_doc_id == "doc-dog" and "postman" in found[0].node.get_content()
    cats = index.as_retriever(
        similarity_top_k=3, filters=MetadataFilters(filters=[MetadataFilter(key="animal", value="cat")])
    ).retrieve("dogs bark")
    assert {n.node.ref_doc_id for n in cats} == {"doc-cat", "doc-kitten"}
    recent = store.query(VectorStoreQuery(query_embedding=hashing_embed(["cats"])[0].tolist(), similarity_top_k=3,
                                          filters=MetadataFilters(filters=[MetadataFilter(key="year", value=2022, operator=FilterOperator.GT)])))
    assert [n.ref_doc_id for n in recent.nodes] == ["doc-kitten"]
    store.delete("doc-dog")
    assert all(n.node.ref_doc_id != "doc-dog" for n in index.as_retriever(similarity_top_k=3).retrieve("dogs bark"))
    assert collection.count() == 2  # type: ignore[attr-defined]


def test_filter_translation() -> None:
    f = MetadataFilters(filters=[MetadataFilter(key="a", value=[1, 2], operator=FilterOperator.IN),
                                 MetadataFilter(key="b", value="x", operator=FilterOperator.NE)], condition="or")
    assert to_where(f) == {"$or": [{"a": {"$in": [1, 2]}}, {"b": {"$ne": "x"}}]}
    with pytest.raises(vecnest.InvalidFilterError, match="text_match"):
        to_where(MetadataFilters(filters=[MetadataFilter(key="a", value="x", operator=FilterOperator.TEXT_MATCH)]))
