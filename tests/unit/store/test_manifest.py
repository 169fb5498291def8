from __future__ import annotations

import json
from pathlib import Path

import pytest

import vecnest
from vecnest.store.manifest import FORMAT_VERSION, MANIFEST_NAME, read_manifest


def test_new_store_has_manifest_with_format_version(tmp_path: Path) -> None:
    vecnest.open(tmp_path / "s").close()
    data = json.loads((tmp_path / "s" / MANIFEST_NAME).read_text())
    assert data["format_version"] == FORMAT_VERSION
    assert data["created_by"] == f"vecnest {vecnest.__version__}"
    assert read_manifest(tmp_path / "s")["format"] == "vecnest-store"


def test_newer_format_version_is_refused(tmp_path: Path) -> None:
    vecnest.open(tmp_path / "s").close()
    path = tmp_path / "s" / MANIFEST_NAME
    data = json.loads(path.read_text())
    data["format_version"] = FORMAT_VERSION + 1
    path.write_text(json.dumps(data))
    with pytest.raises(vecnest.FormatVersionError, match="Upgrade vecnest"):
        vecnest.open(tmp_path / "s")


def test_not_a_store(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "notes.txt").write_text("hello")
    with pytest.raises(vecnest.NotAStoreError, match="not a vecnest store"):
        vecnest.open(tmp_path / "dir")
    (tmp_path / "file").write_text("x")
    with pytest.raises(vecnest.NotAStoreError, match="is a file"):
        vecnest.open(tmp_path / "file")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(vecnest.NotAStoreError, match="not a readable"):
        vecnest.open(tmp_path / "bad")
    with pytest.raises(vecnest.NotAStoreError, match="no vecnest store"):
        vecnest.open(tmp_path / "missing", read_only=True)
    # nothing was created or changed by the refusals
    assert sorted(p.name for p in (tmp_path / "dir").iterdir()) == ["notes.txt"]
    assert not (tmp_path / "missing").exists()
