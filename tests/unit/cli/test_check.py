"""``vecnest check`` and ``vecnest demo --fresh`` on the command line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import vecnest
from vecnest.cli.main import main


@pytest.fixture
def store(tmp_path: Path) -> Path:
    root = tmp_path / "s"
    with vecnest.open(root) as db:
        db.create_collection("docs", model=None, dim=4).add(["a", "b"], vectors=np.eye(2, 4))
        db.create_collection("more", model=None, dim=4).add(["c"], vectors=np.ones((1, 4)))
    return root


def test_a_sound_store_prints_one_verdict_per_collection(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--db", str(store)]) == 0
    out = capsys.readouterr().out
    assert "checked: ok" in out and "docs" in out and "more" in out and "2 rows, 2 verified by checksum" in out


def test_damage_exits_1_and_json_names_it(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.truncate(store / "segments" / "c2.g0.f32", 0)
    assert main(["check", "--db", str(store), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["exit_code"] == 1
    more = next(c for c in report["collections"] if c["name"] == "more")
    assert more["severity"] == "lost" and "holds 0 of 1 committed rows" in more["verdict"]
    assert next(c for c in report["collections"] if c["name"] == "docs")["severity"] == "ok"
    assert main(["check", "--db", str(store)]) == 1
    assert "lost more / segment" in capsys.readouterr().out


def test_repair_sweeps_and_not_a_store_exits_2(store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (store / "segments" / "c1.hnsw.5.00000000000a.faiss.tmp").write_bytes(b"x")
    assert main(["check", "--db", str(store), "--repair"]) == 0
    assert "repaired 1" in capsys.readouterr().out
    assert not list((store / "segments").glob("*.tmp"))
    assert main(["check", "--db", str(tmp_path / "nothing-here")]) == 2
    assert "NotAStoreError" in capsys.readouterr().err


def test_demo_fresh_deletes_only_a_store_or_an_empty_folder(tmp_path: Path) -> None:
    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    with pytest.raises(vecnest.NotAStoreError, match="not a vecnest store"):
        vecnest.delete_store(precious)
    assert main(["demo", "--fresh", "--db", str(precious)]) == 2
    assert (precious / "thesis.tex").read_text() == "years of work"
    file = tmp_path / "notes.txt"
    file.write_text("keep")
    assert main(["demo", "--fresh", "--db", str(file)]) == 2 and file.read_text() == "keep"
    store = tmp_path / "s"
    with vecnest.open(store) as db:
        db.create_collection("c", model=None, dim=2).add(["a"], vectors=np.ones((1, 2)))
    (store / "mine.txt").write_text("not vecnest's")
    with pytest.raises(vecnest.NotAStoreError, match=r"also holds \['mine.txt'\]"):
        vecnest.delete_store(store)
    (store / "mine.txt").unlink()
    vecnest.delete_store(store)
    assert not store.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    vecnest.delete_store(empty)  # nothing to delete
    vecnest.delete_store(tmp_path / "missing")
