"""Shared helpers for the benchmark scripts: paths, data loading, machine info, statistics.

Not a test module and not part of the package: the scripts in ``benchmarks/`` import it by file
location (``python benchmarks/core.py`` puts this folder on ``sys.path``). Nothing here touches
the network.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np
from _stats import latency_summary  # noqa: F401 - re-exported for the core benchmark

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"


# ---------------------------------------------------------------------------------------------
# paths and data
# ---------------------------------------------------------------------------------------------


def default_shared_dir() -> Path:
    """``$VECNEST_SHARED_DIR`` if set, else ``<repo>/../shared``."""
    env = os.environ.get("VECNEST_SHARED_DIR")
    return Path(env) if env else (REPO_ROOT.parent / "shared")


def read_jsonl(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Objects of a JSON Lines file, in file order (at most ``limit``)."""
    out: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            out.append(json.loads(line))
            if limit is not None and len(out) >= limit:
                break
    return out


def beir_doc_text(doc: dict[str, Any]) -> str:
    """BEIR document text: ``(title + " " + text).strip()``."""
    return (str(doc.get("title") or "") + " " + str(doc.get("text") or "")).strip()


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """BEIR qrels TSV (with header) as ``{query_id: {doc_id: score}}``."""
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8") as fh:
        next(fh)
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3:
                continue
            qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    return qrels


def load_embeddings(shared: Path, stem: str) -> tuple[np.ndarray, list[str]]:
    """Precomputed ``(n, 384) float32`` vectors and their ids from ``shared/embeddings``."""
    emb = shared / "embeddings"
    vecs = np.load(emb / f"{stem}.f16.npy").astype(np.float32)
    ids = json.loads((emb / f"{stem}.ids.json").read_text(encoding="utf-8"))
    if len(ids) != vecs.shape[0]:
        raise SystemExit(f"{stem}: {vecs.shape[0]} rows but {len(ids)} ids")
    return vecs, [str(i) for i in ids]


def require_files(paths: list[Path]) -> None:
    """Exit with a clear message if a data file is missing."""
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise SystemExit(
            "missing benchmark data: " + ", ".join(missing) + "; pass --shared DIR or set "
            "VECNEST_SHARED_DIR to the folder holding datasets/ and embeddings/"
        )


# ---------------------------------------------------------------------------------------------
# statistics (latency_summary lives with the harness's other statistics in _stats)
# ---------------------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    """Median of a non-empty list."""
    return float(np.median(np.asarray(values, dtype=np.float64)))


def dir_bytes(path: Path) -> dict[str, int]:
    """Apparent size (sum of ``st_size``) and allocated size (``st_blocks × 512``) of a tree."""
    apparent = allocated = files = 0
    for p in path.rglob("*"):
        if p.is_file():
            st = p.stat()
            apparent += st.st_size
            allocated += st.st_blocks * 512
            files += 1
    return {"apparent_bytes": apparent, "allocated_bytes": allocated, "files": files}


# ---------------------------------------------------------------------------------------------
# machine info
# ---------------------------------------------------------------------------------------------


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _ram_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _version(dist: str) -> str | None:
    try:
        return importlib_metadata.version(dist)
    except importlib_metadata.PackageNotFoundError:
        return None


def _blas_info() -> dict[str, Any] | None:
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg.get("Build Dependencies", {}).get("blas", {})
        return {k: blas.get(k) for k in ("name", "version", "openblas configuration") if k in blas}
    except Exception:  # noqa: BLE001 - best effort, numpy's config format varies
        return None


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def machine_info() -> dict[str, Any]:
    """CPU, cores, RAM, Python and library versions, BLAS, date, git commit, load average."""
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    try:
        load = list(os.getloadavg())
    except OSError:
        load = None
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": affinity,
        "ram_bytes": _ram_bytes(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "versions": {
            name: _version(name)
            for name in ("vecnest", "numpy", "onnxruntime", "tokenizers", "faiss-cpu", "ranx")
        },
        "blas": _blas_info(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
        "loadavg_at_start": load,
    }


def command_line() -> str:
    """The command line as it was typed (approximately), for the record."""
    exe = os.path.relpath(sys.executable, REPO_ROOT) if sys.executable else "python"
    args = [os.path.relpath(sys.argv[0], REPO_ROOT), *sys.argv[1:]]
    return " ".join([exe, *args])


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as indented JSON (atomically: temp file, then rename), with a provenance
    block (commit, uncommitted files, date, machine, command) if it has none, so the report can
    name the run's commit and mark it stale when ``src/`` changes."""
    if "provenance" not in data:
        from _provenance import provenance  # (imports this module: not at import time)

        data = {**data, "provenance": provenance(data.get("command") if isinstance(data.get("command"), str) else None)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
