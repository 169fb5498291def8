"""Passage splitting and the stored passage vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vecnest.errors import InvalidInputError, PassageIndexError
from vecnest.search.passages import PassageIndex, split_passages


def test_split_covers_the_tail_with_overlap() -> None:
    text = " ".join(f"w{i}" for i in range(10))
    assert split_passages(text, max_words=4, stride=3) == ["w3 w4 w5 w6", "w6 w7 w8 w9"]
    assert split_passages(text, max_words=10, stride=5) == []  # fits the document's own vector
    assert split_passages("a  b\n c d e", max_words=2, stride=2) == ["c d", "e"]
    assert split_passages(None) == [] and split_passages("") == []
    with pytest.raises(InvalidInputError, match="0 < stride <= max_words"):
        split_passages(text, max_words=3, stride=4)


def _unit(rng: np.random.Generator, n: int, dim: int = 8) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_store_commit_reopen_and_merge(tmp_path: Path, rng: np.random.Generator) -> None:
    ix = PassageIndex.create(tmp_path / "pv", dim=8)
    texts = [" ".join(["x"] * n) for n in (10, 400, 200, 0)]
    seen: list[int] = []

    def embed(batch: list[str]) -> np.ndarray:
        seen.append(len(batch))
        return _unit(rng, len(batch))

    assert ix.embed_and_add(np.arange(4), texts, embed) == 3 + 1  # 400 words: 3 windows, 200: 1
    ix.commit(upto=4)
    again = PassageIndex.open(tmp_path / "pv")
    assert again.upto == 4 and again.owners.tolist() == [1, 1, 1, 2] and again.vectors.dtype == np.float16
    with pytest.raises(InvalidInputError, match="start at or after 4"):
        again.add(np.array([3]), _unit(rng, 1))
    for i in range(9):  # many small commits, then a merge that drops a deleted document's passages
        again.add(np.array([4 + i, 4 + i]), _unit(rng, 2))
        alive = np.ones(5 + i, bool)
        alive[1] = False
        again.commit(upto=5 + i, alive=alive)
    assert len(again._manifest["chunks"]) <= 8
    assert 1 not in again.owners.tolist() and again.owners.tolist()[:1] == [2]
    assert PassageIndex.open(tmp_path / "pv").owners.tolist() == again.owners.tolist()


def test_damage_is_a_typed_error(tmp_path: Path, rng: np.random.Generator) -> None:
    ix = PassageIndex.create(tmp_path / "pv", dim=8)
    ix.add(np.array([0]), _unit(rng, 1))
    ix.commit(upto=1)
    chunk = tmp_path / "pv" / ix._manifest["chunks"][0]["name"]
    (chunk / "vectors.npy").write_bytes(b"x")
    with pytest.raises(PassageIndexError, match="rebuild"):
        PassageIndex.open(tmp_path / "pv")
    with pytest.raises(InvalidInputError, match=r"expected \(1, 8\) vectors"):
        ix.add(np.array([1]), np.zeros((1, 4)))
