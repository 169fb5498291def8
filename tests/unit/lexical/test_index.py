"""The on-disk lexical index: commits, crash recovery, churn, check, rebuild."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from vecnest.errors import InvalidInputError, LexicalIndexError
from vecnest.lexical import AnalyzerConfig, LexicalIndex
from vecnest.lexical.index import MANIFEST_NAME

from ._oracle import random_texts

QUERIES = ("alpha", "beta gamma", "omega sigma kappa", "theta lambda zeta eta rho")


def _results(index: LexicalIndex, n_slots: int, alive: np.ndarray, pending=None) -> list:
    s = index.searcher(n_slots=n_slots, alive=alive, pending=pending)
    return [tuple(a.tolist() for a in s.query(q).top(20)) for q in QUERIES]


def test_commit_records_coverage_and_reopens(tmp_path: Path, rng: np.random.Generator) -> None:
    texts = random_texts(rng, 50)
    ix = LexicalIndex.create(tmp_path / "lx", generation=3)
    ix.add(np.arange(30), texts[:30])
    ix.commit(upto=30)
    ix.add(np.arange(30, 50), texts[30:])
    ix.commit(upto=52)  # rows 50, 51 were committed without text (or dead): upto still advances
    again = LexicalIndex.open(tmp_path / "lx")
    assert (again.generation, again.upto, again.n_parts) == (3, 52, 2)
    alive = np.ones(52, bool)
    assert _results(again, 52, alive) == _results(ix, 52, alive)
    assert again.config == AnalyzerConfig()
    mask = np.zeros(52, bool)
    mask[::3] = True
    slots, scores = again.search("alpha beta", 5, n_slots=52, alive=alive, match=mask)
    assert slots.dtype == np.int64 and scores.dtype == np.float32 and mask[slots].all()


def test_add_rejects_slots_below_upto_and_unordered(tmp_path: Path) -> None:
    ix = LexicalIndex.create(tmp_path / "lx")
    ix.add([0, 1], ["a", "b"])
    ix.commit(upto=2)
    with pytest.raises(InvalidInputError, match="start at or after 2"):
        ix.add([1], ["again"])
    with pytest.raises(InvalidInputError, match="ascend strictly"):
        ix.add([5, 4], ["x", "y"])
    with pytest.raises(InvalidInputError, match="2 slots but 1 texts"):
        ix.add([5, 6], ["x"])
    with pytest.raises(InvalidInputError, match="upto=1 is below"):
        ix.commit(upto=1)
    with pytest.raises(LexicalIndexError, match="already holds lexical.json"):
        LexicalIndex.create(tmp_path / "lx")


def test_churn_equals_a_fresh_rebuild(tmp_path: Path, rng: np.random.Generator) -> None:
    """10 rounds of upserting/deleting 20 % of the collection (an upsert = delete + a new slot),
    committing each round: results equal a fresh index of the survivors, bitwise."""
    n0 = 300
    texts = random_texts(rng, n0, min_words=1)
    ix = LexicalIndex.create(tmp_path / "lx")
    ix.add(np.arange(n0), texts)
    ix.commit(upto=n0)
    alive = np.ones(n0, bool)
    for _ in range(10):
        live = np.flatnonzero(alive)
        hit = rng.choice(live, size=len(live) // 5, replace=False)
        alive[hit] = False
        ix.delete(hit)
        upserted = hit[: len(hit) // 2]
        new_slots = np.arange(len(texts), len(texts) + len(upserted) + 10)
        new_texts = [texts[s] + " omega" for s in upserted] + random_texts(rng, 10, min_words=1)
        texts += new_texts
        alive = np.concatenate([alive, np.ones(len(new_slots), bool)])
        ix.add(new_slots, new_texts)
        ix.commit(upto=len(texts))
    n = len(texts)
    keep = np.flatnonzero(alive)
    fresh = LexicalIndex.rebuild(tmp_path / "fresh", keep, [texts[s] for s in keep], upto=n)
    assert _results(ix, n, alive) == _results(fresh, n, alive)
    assert ix.n_parts <= 8  # merges kept the part count bounded
    assert LexicalIndex.open(tmp_path / "lx").check(n_slots=n, alive=alive).ok


def test_crash_before_the_lexical_commit_is_repaired_by_replay(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    """The catalog committed rows 40..59 but the process died before the lexical commit: the
    buffered part never reached the manifest. Searches still find the rows (pending), replay
    from upto repairs the index, and the orphaned files are collected."""
    texts = random_texts(rng, 60, min_words=1)
    ix = LexicalIndex.create(tmp_path / "lx")
    ix.add(np.arange(40), texts[:40])
    ix.commit(upto=40)
    from vecnest.lexical.postings import build_part, part_arrays

    ix._store.write_arrays(
        "p", part_arrays(build_part(np.arange(40, 60), ix.analyzer.analyze_batch(texts[40:])))
    )
    os.makedirs(tmp_path / "lx" / "p-halfway.tmp")  # died while writing another one
    reopened = LexicalIndex.open(tmp_path / "lx")
    assert reopened.upto == 40
    alive = np.ones(60, bool)
    report = reopened.check(n_slots=60, alive=alive)
    assert report.ok and report.pending == 20
    pending = reopened.pending(np.arange(40, 60), texts[40:])
    before = _results(reopened, 60, alive, pending)
    reopened.add(np.arange(40, 60), texts[40:])  # replay rows >= upto from the catalog
    reopened.commit(upto=60)
    assert _results(reopened, 60, alive) == before
    assert sorted(os.listdir(tmp_path / "lx")) == sorted(
        [MANIFEST_NAME] + [p["name"] for p in reopened._manifest["parts"]]
    )


def test_index_ahead_of_the_catalog_is_never_served_and_truncated(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    """The lexical commit landed but the catalog's did not (writer died in between): slots 30..39
    are not in the catalog and will be reused for other documents."""
    texts = random_texts(rng, 40, min_words=1)
    ix = LexicalIndex.create(tmp_path / "lx")
    ix.add(np.arange(25), texts[:25])
    ix.commit(upto=25)
    ix.add(np.arange(25, 40), texts[25:])
    ix.commit(upto=40)
    alive = np.ones(30, bool)
    served = ix.searcher(n_slots=30, alive=alive).query("alpha beta gamma omega").top(100)[0]
    assert served.size and served.max() < 30
    report = ix.check(n_slots=30, alive=alive)
    assert not report.ok and "truncate(n_slots)" in report.problems[0]
    ix.truncate(30)
    assert ix.upto == 30 and ix.check(n_slots=30, alive=alive).ok
    other = random_texts(rng, 10, min_words=1)
    ix.add(np.arange(30, 40), other)  # the catalog's real rows 30..39
    ix.commit(upto=40)
    fresh = LexicalIndex.rebuild(tmp_path / "fresh", np.arange(40), texts[:30] + other, upto=40)
    assert _results(ix, 40, np.ones(40, bool)) == _results(fresh, 40, np.ones(40, bool))


def test_check_finds_missing_and_wrongly_deleted_documents_and_config_drift(tmp_path: Path) -> None:
    ix = LexicalIndex.create(tmp_path / "lx")
    ix.add([0, 2], ["alpha", "beta"])  # slot 1 never offered
    ix.delete([2])
    ix.commit(upto=3, merge=False)  # keep the (wrong) deletion recorded rather than purged
    alive = np.ones(3, bool)
    report = ix.check(n_slots=3, alive=alive, config=AnalyzerConfig(stemming=False), generation=1, deep=True)
    text = "\n".join(report.problems)
    assert "1 live documents below upto=3 are missing (first slot 1)" in text
    assert "1 live documents are recorded as deleted (first slot 2)" in text
    assert "analyser config differs" in text and "generation 0, the catalog is at 1" in text
    assert ix.check(n_slots=3, alive=np.array([True, False, False])).ok


def test_sync_deletes_and_purge(tmp_path: Path, rng: np.random.Generator) -> None:
    texts = random_texts(rng, 100, min_words=1)
    ix = LexicalIndex.create(tmp_path / "lx")
    ix.add(np.arange(100), texts)
    ix.commit(upto=100)
    alive = rng.random(100) > 0.5
    assert ix.sync_deletes(alive) == int((~alive).sum())
    before = _results(ix, 100, alive)
    ix.commit(upto=100)  # more than PURGE_FRACTION deleted: postings rewritten without them
    report = ix.check(n_slots=100, alive=alive, deep=True)
    assert report.ok and report.unpurged_deleted == 0
    assert _results(ix, 100, alive) == before
    assert ix.sync_deletes(alive) == 0


def test_damaged_or_foreign_directories_raise_typed_errors(tmp_path: Path) -> None:
    with pytest.raises(LexicalIndexError, match="holds no lexical.json"):
        LexicalIndex.open(tmp_path)
    ix = LexicalIndex.create(tmp_path / "lx")
    ix.add([0], ["alpha"])
    ix.commit(upto=1)
    manifest = json.loads((tmp_path / "lx" / MANIFEST_NAME).read_text())
    part_dir = tmp_path / "lx" / manifest["parts"][0]["name"]
    (part_dir / "indptr.npy").write_bytes(b"garbage")
    with pytest.raises(LexicalIndexError, match="rebuild"):
        LexicalIndex.open(tmp_path / "lx")
    manifest["format_version"] = 99
    (tmp_path / "lx" / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(LexicalIndexError, match="format_version 99"):
        LexicalIndex.open(tmp_path / "lx")


def test_a_reader_refreshes_after_another_writer_commits(tmp_path: Path) -> None:
    writer = LexicalIndex.create(tmp_path / "lx")
    writer.add([0], ["alpha"])
    writer.commit(upto=1)
    reader = LexicalIndex.open(tmp_path / "lx")
    writer.add([1], ["alpha beta"])
    writer.commit(upto=2)
    assert reader.upto == 1 and reader.refresh() and reader.upto == 2
    assert not reader.refresh()
    assert reader.searcher(n_slots=2, alive=np.ones(2, bool)).query("beta").top(5)[0].tolist() == [1]


def test_custom_analyser_is_stored_and_used_for_queries(tmp_path: Path) -> None:
    cfg = AnalyzerConfig(stemming=False, stop_words=("alpha",))
    ix = LexicalIndex.create(tmp_path / "lx", cfg)
    ix.add([0, 1], ["alpha dogs", "dog"])
    ix.commit(upto=2)
    again = LexicalIndex.open(tmp_path / "lx")
    assert again.config == cfg
    s = again.searcher(n_slots=2, alive=np.ones(2, bool))
    assert s.query("dogs").top(5)[0].tolist() == [0]
    assert s.query("alpha").top(5)[0].size == 0
