"""Where a result came from, and whether it still describes HEAD.

Every result file carries a ``provenance`` block written by :func:`provenance` when its run
starts: the commit, the files under ``src/`` (and elsewhere) that differed from it, the date, the
machine and the command. ``report.py`` calls :func:`staleness` on each block: a section is
**stale** when ``git diff --stat <commit> HEAD -- src/`` is non-empty (the engine changed since),
when the run had uncommitted changes under ``src/``, or when its commit is unknown here.
"""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import REPO_ROOT, command_line, machine_info

#: What a result describes: the engine. Changes elsewhere (benchmarks/, docs) are reported, not
#: counted as staleness.
ENGINE_PATHS = ("src",)
HARNESS_PATHS = ("benchmarks",)


# ---------------------------------------------------------------------------------------------
# HIGH-LEVEL API
# ---------------------------------------------------------------------------------------------


def provenance(command: str | None = None, repo: Path = REPO_ROOT) -> dict[str, Any]:
    """The provenance block of a run starting now."""
    dirty = dirty_files(repo)
    return {
        "commit": git(repo, "rev-parse", "HEAD"),
        "dirty_src": [f for f in dirty if _under(f, ENGINE_PATHS)],
        "dirty_other": [f for f in dirty if not _under(f, ENGINE_PATHS)],
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "command": command or command_line(),
    }


def staleness(prov: dict[str, Any] | None, repo: Path = REPO_ROOT) -> dict[str, Any]:
    """Whether the results of ``prov`` still describe HEAD.

    Returns ``{"stale": bool, "reasons": [str], "changed": [[path, stat]], "harness_changed":
    [[path, stat]]}``: ``changed`` lists the files under ``src/`` that differ between the run's
    commit and HEAD (from ``git diff --stat``), ``harness_changed`` the same under
    ``benchmarks/`` (informational).
    """
    out: dict[str, Any] = {"stale": False, "reasons": [], "changed": [], "harness_changed": []}
    if not prov or not prov.get("commit"):
        out["stale"] = True
        out["reasons"].append("no provenance: the commit that produced these numbers is not recorded")
        return out
    commit = str(prov["commit"])
    if not _commit_exists(repo, commit):
        out["stale"] = True
        out["reasons"].append(f"commit {commit[:12]} is not in this repository")
        return out
    changed = parse_diff_stat(git(repo, "diff", "--stat=400", commit, "HEAD", "--", *ENGINE_PATHS) or "")
    if changed:
        out["stale"] = True
        out["changed"] = changed
        out["reasons"].append(f"{len(changed)} file(s) under src/ changed since {commit[:12]}")
    if prov.get("dirty_src"):
        out["stale"] = True
        out["reasons"].append("the run had uncommitted changes under src/: " + ", ".join(prov["dirty_src"]))
    # (the results and plots are outputs, not harness: a later run's files are no change to it)
    out["harness_changed"] = parse_diff_stat(
        git(repo, "diff", "--stat=400", commit, "HEAD", "--", *HARNESS_PATHS, ":(exclude)benchmarks/results") or ""
    )
    return out


def parse_diff_stat(text: str) -> list[list[str]]:
    """``[[path, stat], ...]`` from the output of ``git diff --stat`` (the summary line dropped).

    >>> parse_diff_stat(" src/a.py | 3 ++-\\n src/b.py | Bin 0 -> 4 bytes\\n 2 files changed")
    [['src/a.py', '3 ++-'], ['src/b.py', 'Bin 0 -> 4 bytes']]
    """
    out = []
    for line in text.splitlines():
        m = _STAT_LINE.match(line)
        if m:
            out.append([m.group(1).strip(), m.group(2).strip()])
    return out


# ---------------------------------------------------------------------------------------------
# LOW-LEVEL
# ---------------------------------------------------------------------------------------------

_STAT_LINE = re.compile(r"^\s*(\S.*?)\s+\|\s+(.*)$")


def git(repo: Path, *args: str) -> str | None:
    """Output of a git command in ``repo`` (stripped), or ``None`` if it failed."""
    try:
        res = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout.strip()


def dirty_files(repo: Path = REPO_ROOT) -> list[str]:
    """Tracked files with uncommitted changes, staged or not (``git diff --name-only HEAD``)."""
    text = git(repo, "diff", "--name-only", "HEAD")
    return text.splitlines() if text else []


def _commit_exists(repo: Path, commit: str) -> bool:
    return git(repo, "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}") not in (None, "")


def _under(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)
