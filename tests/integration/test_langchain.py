"""The LangChain vector store passes langchain-tests' standard ``VectorStoreIntegrationTests``
(a suite written by the LangChain team): on an embedded collection and through a real server,
with the suite's fake embeddings and with vecnest's own model embedding the texts."""

from __future__ import annotations

import itertools
from collections.abc import Generator, Iterator

import numpy as np
import pytest
from langchain_core.vectorstores import VectorStore
from langchain_tests.integration_tests.vectorstores import EMBEDDING_SIZE, VectorStoreIntegrationTests

import vecnest
from tests.integration.server_proc import ServerProcess
from vecnest.integrations.langchain import VecnestVectorStore

_names = (f"lc{i}" for i in itertools.count())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("lc") / "store") as proc:
        yield proc


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[vecnest.Database]:
    with vecnest.open(tmp_path_factory.mktemp("lc") / "store") as db:
        yield db


class TestEmbeddedFakeEmbeddings(VectorStoreIntegrationTests):
    @pytest.fixture()
    def vectorstore(self, embedded: vecnest.Database) -> Generator[VectorStore, None, None]:  # type: ignore[override]
        name = next(_names)
        col = embedded.create_collection(name, None, dim=EMBEDDING_SIZE)
        yield VecnestVectorStore(col, self.get_embeddings())
        embedded.drop_collection(name)


class TestServerFakeEmbeddings(VectorStoreIntegrationTests):
    @pytest.fixture()
    def vectorstore(self, server: ServerProcess) -> Generator[VectorStore, None, None]:  # type: ignore[override]
        name = next(_names)
        with vecnest.Client(server.url) as client:
            col = client.create_collection(name, None, dim=EMBEDDING_SIZE)
            yield VecnestVectorStore(col, self.get_embeddings())
            client.drop_collection(name)


class TestServerVecnestModel(VectorStoreIntegrationTests):
    """No LangChain embeddings: the server embeds texts and queries with all-MiniLM-L6-v2."""

    @pytest.fixture()
    def vectorstore(self, server: ServerProcess) -> Generator[VectorStore, None, None]:  # type: ignore[override]
        name = next(_names)
        with vecnest.Client(server.url) as client:
            col = client.create_collection(name, "default")
            yield VecnestVectorStore(col)
            client.drop_collection(name)


def test_filters_scores_and_mmr(embedded: vecnest.Database) -> None:
    col = embedded.create_collection("lc-extra", "default")
    store = VecnestVectorStore(col)
    ids = store.add_texts(["cats purr on sofas", "dogs bark at the postman", "kittens are young cats"],
                          metadatas=[{"kind": "cat"}, {"kind": "dog"}, {"kind": "cat"}])
    docs = store.similarity_search("felines", k=3, filter={"kind": "cat"})
    assert {d.id for d in docs} == {ids[0], ids[2]}
    scored = store.similarity_search_with_relevance_scores("a dog barking", k=1)
    assert scored[0][0].page_content == "dogs bark at the postman" and 0.5 < scored[0][1] <= 1.0
    vec = col.encoder.encode_queries(["cats"])[0]
    mmr = store.max_marginal_relevance_search_by_vector(vec.tolist(), k=2, fetch_k=3, lambda_mult=0.1)
    assert len(mmr) == 2 and len({d.id for d in mmr}) == 2
    with pytest.raises(vecnest.InvalidInputError, match="needs ids= or where="):
        store.delete()
    assert np.isclose(store._select_relevance_score_fn()(1.0), 1.0)
