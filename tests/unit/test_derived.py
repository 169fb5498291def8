"""DerivedDir: fresh names, manifest as the commit, garbage collection, racing readers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vecnest.derived import DerivedDir
from vecnest.errors import DerivedDataError, PassageIndexError


def test_publish_names_commit_and_collects_garbage(tmp_path: Path) -> None:
    d = DerivedDir(tmp_path / "x", "m.json", "test-magic", 1)
    m = d.init({"upto": 0})
    a, sizes = d.write_arrays("p", {"v": np.arange(3)})
    b, _ = d.write_arrays("p", {"v": np.arange(4)})
    assert a != b and sizes == {"v.npy": (tmp_path / "x" / a / "v.npy").stat().st_size}
    m = d.publish({**m, "entries": [a]}, {a})
    assert m["commit"] == 1 and d.read_manifest()["entries"] == [a]
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == sorted(
        [a, "m.json"]
    )  # b was never published
    np.testing.assert_array_equal(d.load_arrays(a, sizes)["v"], np.arange(3))
    with pytest.raises(DerivedDataError, match="already holds m.json"):
        d.init({})


def test_reader_retries_when_a_publish_removes_what_it_was_loading(tmp_path: Path) -> None:
    d = DerivedDir(tmp_path / "x", "m.json", "test-magic", 1, PassageIndexError)
    m = d.init({})
    a, sa = d.write_arrays("p", {"v": np.arange(2)})
    m = d.publish({**m, "e": [a, sa]}, {a})
    calls = []

    def load(manifest: dict) -> np.ndarray:
        calls.append(manifest["commit"])
        if len(calls) == 1:  # a writer publishes a new entry and removes ours mid-read
            b, sb = d.write_arrays("p", {"v": np.arange(5)})
            d.publish({**manifest, "e": [b, sb]}, {b})
        name, sizes = manifest["e"]
        return d.load_arrays(name, sizes)["v"]

    manifest, value = d.read_consistent(load)
    assert calls == [1, 2] and value.tolist() == [0, 1, 2, 3, 4]
    (tmp_path / "x" / "m.json").write_text('{"format": "other"}')
    with pytest.raises(PassageIndexError, match="is not a test-magic manifest"):
        d.read_manifest()
