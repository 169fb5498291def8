"""Provenance and staleness of benchmark results, against a throwaway git repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from _provenance import dirty_files, parse_diff_stat, provenance, staleness


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "config", "user.email", "t@example.com")
    _git(tmp_path, "config", "user.name", "t")
    (tmp_path / "src").mkdir()
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "src" / "engine.py").write_text("x = 1\n")
    (tmp_path / "benchmarks" / "run.py").write_text("y = 1\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "first")
    return tmp_path


def test_parse_diff_stat_drops_the_summary() -> None:
    text = " src/vecnest/a.py | 12 +++++++-----\n src/vecnest/b.py |  1 +\n 2 files changed, 8 insertions(+), 5 deletions(-)\n"
    assert parse_diff_stat(text) == [["src/vecnest/a.py", "12 +++++++-----"], ["src/vecnest/b.py", "1 +"]]
    assert parse_diff_stat("") == []


def test_fresh_results_are_not_stale_and_harness_changes_are_only_reported(repo: Path) -> None:
    prov = provenance("bench", repo=repo)
    assert prov["commit"] == _git(repo, "rev-parse", "HEAD")
    assert prov["dirty_src"] == []
    (repo / "benchmarks" / "run.py").write_text("y = 2\n")
    _git(repo, "commit", "-qam", "harness")
    st = staleness(prov, repo=repo)
    assert st["stale"] is False
    assert [p for p, _ in st["harness_changed"]] == ["benchmarks/run.py"]


def test_a_change_under_src_makes_results_stale_and_names_the_file(repo: Path) -> None:
    prov = provenance("bench", repo=repo)
    (repo / "src" / "engine.py").write_text("x = 2\n")
    _git(repo, "commit", "-qam", "engine")
    st = staleness(prov, repo=repo)
    assert st["stale"] is True
    assert [p for p, _ in st["changed"]] == ["src/engine.py"]
    assert "1 file(s) under src/ changed" in st["reasons"][0]


def test_uncommitted_src_changes_at_run_time_make_results_stale(repo: Path) -> None:
    (repo / "src" / "engine.py").write_text("x = 3\n")
    assert dirty_files(repo) == ["src/engine.py"]
    prov = provenance("bench", repo=repo)
    assert prov["dirty_src"] == ["src/engine.py"]
    st = staleness(prov, repo=repo)
    assert st["stale"] is True and "uncommitted changes under src/" in st["reasons"][0]


def test_missing_or_unknown_commit_is_stale(repo: Path) -> None:
    assert staleness(None, repo=repo)["stale"] is True
    st = staleness({"commit": "0" * 40}, repo=repo)
    assert st["stale"] is True and "not in this repository" in st["reasons"][0]
