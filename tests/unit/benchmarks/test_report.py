"""The generated report: provenance at the top of each section, stale and legacy marking, no
hand-written notes."""

from __future__ import annotations

import json
from pathlib import Path

from _provenance import git
from report import REPO_ROOT, render


def _write(folder: Path, name: str, data: dict) -> None:
    (folder / name).write_text(json.dumps(data), encoding="utf-8")


def test_sections_name_their_run_and_old_commits_are_stale(tmp_path: Path) -> None:
    head = git(REPO_ROOT, "rev-parse", "HEAD")
    first = git(REPO_ROOT, "rev-list", "--max-parents=0", "HEAD").splitlines()[0]
    prov = {"commit": head, "dirty_src": [], "date": "2026-01-01T00:00:00+00:00", "machine": {"cpu_model": "cpu"}, "command": "make bench-x"}
    _write(tmp_path, "fresh.json", {"benchmark": "x", "title": "Fresh run", "provenance": prov, "value": 1.5, "note": "hand-written words"})
    _write(tmp_path, "old.json", {"benchmark": "y", "title": "Old run", "provenance": {**prov, "commit": first}, "value": 2.5})
    _write(tmp_path, "legacy.json", {"benchmark": "z", "title": "Legacy run", "machine": {"git_commit": head}, "command": "by hand", "value": 3.5})
    text = render(tmp_path)
    fresh = text.split("## Fresh run")[1].split("## ")[0]
    assert f"commit `{head[:12]}`" in fresh and "`make bench-x`" in fresh and "STALE" not in fresh
    assert "hand-written words" not in text
    old = text.split("## Old run")[1].split("## ")[0]
    assert "**STALE**" in old and "under src/ changed since" in old and "`src/" in old
    legacy = text.split("## Legacy run")[1].split("## ")[0]
    assert "STALE — LEGACY FILE" in legacy
    assert "| `make bench-peers` |" in text  # the command table at the top
