"""Evaluation reports and datasets a server offers, by name only (never by client-given path).

A reports folder holds report folders as ``vecnest eval --out DIR`` writes them (``eval.json``,
``eval.md``, PNG plots); the folder itself may be one. Clients name a report folder and a file
listed for it; anything else is "not found", so no path a client sends reaches the file system.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vecnest.errors import InvalidInputError, NotFoundError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_FILES = (".png", ".md", ".json")


def _folders(root: Path | None) -> dict[str, Path]:
    if root is None or not root.is_dir():
        return {}
    found = {p.name: p for p in root.iterdir() if p.is_dir() and (p / "eval.json").is_file() and _NAME.match(p.name)}
    if (root / "eval.json").is_file():
        found.setdefault(".", root)
    return found


def listing(root: Path | None) -> list[dict[str, Any]]:
    """Every report folder, newest first: its name, time, reports (``EvalReport.to_json``
    dicts) and files (plots first)."""
    out = []
    for name, folder in _folders(root).items():
        try:
            data = json.loads((folder / "eval.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        files = sorted((p.name for p in folder.iterdir() if p.suffix in _FILES and p.is_file()),
                       key=lambda f: (not f.endswith(".png"), f))
        mtime = (folder / "eval.json").stat().st_mtime
        out.append({
            "name": name,
            "modified": datetime.fromtimestamp(mtime, UTC).isoformat(timespec="seconds"),
            "reports": data if isinstance(data, list) else [data],
            "files": files,
        })
    return sorted(out, key=lambda r: r["modified"], reverse=True)


def file_path(root: Path | None, report: str, file: str) -> Path:
    """The path of a file listed for ``report``, or :class:`NotFoundError`."""
    folder = _folders(root).get(report)
    if folder is not None and "/" not in file and "\\" not in file and file.endswith(_FILES):
        path = folder / file
        if path.is_file() and path.parent == folder:
            return path
    raise NotFoundError(f"no report file {report}/{file} on this server; GET /v1/reports lists them")


def dataset_path(root: Path | None, name: str) -> Path:
    """The BEIR folder ``name`` under the server's datasets folder."""
    if root is None:
        raise InvalidInputError(
            "this server offers no datasets to evaluate on; the operator enables evaluation with "
            "vecnest serve --datasets DIR (a folder of BEIR dataset folders)"
        )
    if not isinstance(name, str) or not _NAME.match(name) or not (root / name / "corpus.jsonl").is_file():
        offered = sorted(p.name for p in root.iterdir() if (p / "corpus.jsonl").is_file()) if root.is_dir() else []
        raise NotFoundError(f"no dataset {name!r} on this server; it offers {offered}")
    return root / name


def save(root: Path | None, collection: str, report: Any) -> Path | None:
    """Write a server-side evaluation as a new report folder (with its plots), if the server
    keeps reports."""
    if root is None:
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    folder = root / f"{stamp}-{collection}-{report.dataset}"[:128]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "eval.json").write_text(json.dumps([report.to_json()], indent=2) + "\n", encoding="utf-8")
    (folder / "eval.md").write_text(report.to_markdown(), encoding="utf-8")
    try:
        from vecnest.eval.sweep import plot_sweep

        plot_sweep([report], folder)
    except ImportError:  # plots need the eval extra; the numbers are saved regardless
        pass
    return folder
