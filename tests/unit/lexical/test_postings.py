"""Postings parts: construction by hand, merge == build, save/load, damage detection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vecnest.derived import DerivedDir
from vecnest.errors import LexicalIndexError
from vecnest.lexical.analyzer import Analyzer
from vecnest.lexical.postings import build_part, merge_parts, part_arrays, part_from_arrays

from ._oracle import random_texts


def _part(slots, texts):
    return build_part(np.asarray(slots), Analyzer().analyze_batch(texts))


def _same(a, b) -> None:
    assert a.terms == b.terms
    for name in ("indptr", "docs", "tf", "slots", "lengths"):
        np.testing.assert_array_equal(
            np.asarray(getattr(a, name)), np.asarray(getattr(b, name)), err_msg=name
        )


def test_build_by_hand() -> None:
    p = _part([3, 7, 9], ["cats chase cats", "a dog", None])
    assert p.terms == ("cat", "chase", "dog")
    assert p.indptr.tolist() == [0, 1, 2, 3]
    assert p.docs.tolist() == [3, 3, 7] and p.tf.tolist() == [2, 1, 1]
    assert p.slots.tolist() == [3, 7, 9] and p.lengths.tolist() == [3, 1, 0]
    docs, tf = p.postings("cat")
    assert docs.tolist() == [3] and tf.tolist() == [2]
    assert p.postings("bird")[0].size == 0 and p.max_slot == 9


def test_merge_equals_building_the_kept_documents(rng: np.random.Generator) -> None:
    texts = random_texts(rng, 60)
    parts = [
        _part(range(0, 20), texts[0:20]),
        _part(range(20, 45), texts[20:45]),
        _part(range(45, 60), texts[45:60]),
    ]
    drop = np.array([1, 5, 21, 44, 59])
    keep = [s for s in range(60) if s not in set(drop.tolist())]
    _same(merge_parts(parts, drop), _part(keep, [texts[s] for s in keep]))
    _same(merge_parts(parts), _part(range(60), texts))


def test_save_load_round_trip_and_damage(tmp_path: Path, rng: np.random.Generator) -> None:
    p = _part(range(30), random_texts(rng, 30))
    store = DerivedDir(tmp_path / "lx", "m.json", "test", 1, LexicalIndexError)
    store.init({})
    name, sizes = store.write_arrays("p", part_arrays(p))
    _same(part_from_arrays(store.load_arrays(name, sizes, mmap=("docs", "tf")), name), p)
    assert not list(tmp_path.glob("lx/*.tmp"))
    with open(tmp_path / "lx" / name / "docs.npy", "r+b") as fh:
        fh.truncate(sizes["docs.npy"] - 4)
    with pytest.raises(LexicalIndexError, match="docs.npy has .* bytes, the manifest says"):
        store.load_arrays(name, sizes)
    other, _ = store.write_arrays("p", part_arrays(p))
    (tmp_path / "lx" / other / "tf.npy").unlink()
    with pytest.raises(LexicalIndexError, match="lacks"):
        part_from_arrays(store.load_arrays(other, None), other)
