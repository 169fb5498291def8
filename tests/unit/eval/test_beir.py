from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import REPO, require_shared
from vecnest.eval.beir import DatasetError, load_beir

TINY = REPO / "tests" / "data" / "tiny-beir"


def test_tiny_set_loads() -> None:
    data = load_beir(TINY)
    assert data.doc_ids == ["d1", "d2", "d3", "d4", "d5", "d6"]
    assert data.doc_texts[0] == "Cats cats purr and sleep in the sun"
    assert data.doc_metadata[0] == {"year": 2020}
    assert data.queries == {"q1": "cats and kittens", "q2": "markets fell", "q3": "rain streets"}
    assert data.qrels["q1"] == {"d1": 1, "d2": 1}
    assert len(data.corpus_hash()) == 64


@pytest.mark.parametrize("name", ["scifact", "limit-small"])
def test_shared_sets_load(name: str) -> None:
    data = load_beir(require_shared("datasets", name))
    assert len(data.queries) == len(data.qrels) > 0
    assert len(data.doc_ids) == len(set(data.doc_ids))


def test_arxiv_corpus_loads_without_qrels() -> None:
    with pytest.raises(DatasetError, match="queries.jsonl"):
        load_beir(require_shared("datasets", "arxiv-daily-cs"))


def _copy(tmp_path: Path) -> Path:
    dst = tmp_path / "set"
    shutil.copytree(TINY, dst)
    return dst


def test_loader_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not a directory"):
        load_beir(tmp_path / "nope")
    d = _copy(tmp_path)
    (d / "qrels" / "test.tsv").unlink()
    with pytest.raises(DatasetError, match=r"qrels/test.tsv"):
        load_beir(d)
    d = _copy(tmp_path / "b")
    (d / "corpus.jsonl").write_text('{"_id": "d1", "text": "x"}\n{"_id": "d1", "text": "y"}\n')
    with pytest.raises(DatasetError, match="duplicate _id 'd1'"):
        load_beir(d)
    d = _copy(tmp_path / "c")
    (d / "corpus.jsonl").write_text('{"_id": "d1", "text": "x"\n')
    with pytest.raises(DatasetError, match=r"corpus.jsonl:1: not valid JSON"):
        load_beir(d)
    d = _copy(tmp_path / "d")
    with open(d / "qrels" / "test.tsv", "a") as fh:
        fh.write("q1\tghost\t1\n")
    with pytest.raises(DatasetError, match="'ghost', which is not in corpus"):
        load_beir(d)
    d = _copy(tmp_path / "e")
    with open(d / "qrels" / "test.tsv", "a") as fh:
        fh.write("q1\td3\thigh\n")
    with pytest.raises(DatasetError, match="not an integer"):
        load_beir(d)
