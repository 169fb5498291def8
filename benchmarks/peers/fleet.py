"""Bring every system of a scale point up: build in one process, serve from a fresh one.

Each system is built by a *build* worker under a time budget (the worker is killed when it runs
out; the reason is recorded), which then exits; a fresh *serve* worker opens the store. A system
whose estimated build (from its build time at a smaller point) exceeds the budget, or for which
the machine lacks the memory, is skipped with the reason written into the result.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from peers.runner import Worker, WorkerError

#: Build time grows faster than the row count for graph indexes (~n log n).
GRAPH_FAMILIES = ("hnsw", "chroma", "usearch", "milvus")
GRAPH_GROWTH = 1.3


def estimate_build_s(system: str, n: int, smaller: dict[str, Any] | None) -> tuple[float | None, str | None]:
    """Build seconds for ``n`` rows extrapolated from a smaller point's result (``None`` if that
    point did not build ``system``), with a sentence saying where the estimate comes from."""
    if not smaller:
        return None, None
    b = (smaller.get("builds") or {}).get(system) or {}
    if b.get("status") != "ok" or not b.get("build_s"):
        return None, None
    growth = GRAPH_GROWTH if any(g in system for g in GRAPH_FAMILIES) else 1.0
    est = float(b["build_s"]) * n / float(smaller["n"]) * growth
    return est, f"{b['build_s']:.0f} s at {smaller['n']:,} rows × {n / smaller['n']:.1f} × {growth} (graph growth)"


def build_decision(system: str, n: int, dim: int, *, smaller: dict[str, Any] | None, left_s: float, build_budget_s: float, avail_bytes: int | None) -> tuple[float | None, str | None]:
    """Whether to build ``system`` now: ``(budget_s, None)`` to build it within ``budget_s``, or
    ``(None, reason)`` to skip it.

    Args:
        left_s: seconds left in the point's budget once the queries' reserve is set aside.
        build_budget_s: the per-system build budget.
        smaller: the result of a smaller point, to extrapolate the build time from.
        avail_bytes: free memory now (``None``: unknown, not checked).
    """
    if left_s < 60:
        return None, "no time left in the point's budget"
    budget = min(build_budget_s, left_s)
    est, how = estimate_build_s(system, n, smaller)
    if est is not None and est > budget:
        return None, f"estimated build {est / 60:.1f} min ({how}) exceeds the budget of {budget / 60:.1f} min"
    need = 2.5 * n * dim * 4  # the input copy + an index of the same size, conservatively
    if avail_bytes is not None and avail_bytes < need:
        return None, f"not enough free memory ({avail_bytes / 2**30:.1f} GiB available, ~{need / 2**30:.1f} GiB needed)"
    return budget, None


class Fleet:
    """The serve workers of one point, and how each system got there."""

    def __init__(self, folder: Path, work_root: Path, log_dir: Path, build_threads: int, log: Callable[[str], None]) -> None:
        self.folder = folder
        self.work_root = work_root
        self.log_dir = log_dir
        self.build_threads = build_threads
        self.log = log
        self.workers: dict[str, Worker] = {}
        self.builds: dict[str, dict[str, Any]] = {}
        self.serve: dict[str, dict[str, Any]] = {}

    def bring_up(self, system: str, *, budget_s: float, disk_sample: bool = False) -> bool:
        """Build ``system`` within ``budget_s`` and open it in a serve worker. Returns success."""
        w = Worker(system, self.log_dir, self.build_threads)
        cmd = {"op": "build", "system": system, "data": str(self.folder), "work": str(self.work_root / system), "threads": self.build_threads, "disk_sample": disk_sample}
        t0 = time.monotonic()
        try:
            resp = w.request(cmd, timeout=budget_s)
        except WorkerError as exc:
            over = time.monotonic() - t0 >= budget_s - 1
            resp = {"ok": False, "status": "over budget" if over else "error", "error": (f"build did not finish within the budget of {budget_s / 60:.1f} min; worker stopped" if over else str(exc))}
        self.builds[system] = {k: v for k, v in resp.items() if k != "ok"}
        if not resp.get("ok"):
            self.log(f"  [red]{system}: {resp.get('status')}: {resp.get('error')}[/]")
            w.close()
            return False
        self.log(f"  {system}: built in {resp['build_s']:.1f} s, {(resp.get('disk_bytes') or 0) / 2**20:,.0f} MiB on disk")
        if not resp.get("reopenable"):
            self.workers[system] = w
            self.serve[system] = {"served_from": "build process (cannot be reopened)"}
            return True
        w.close()  # the build process exits: nothing it cached survives
        s = Worker(system, self.log_dir, self.build_threads)
        try:
            op = s.request({"op": "open", "system": system, "data": str(self.folder), "work": str(self.work_root / system)}, timeout=max(120.0, budget_s / 4))
        except WorkerError as exc:
            op = {"ok": False, "error": str(exc)}
        if not op.get("ok"):
            self.builds[system].update({"status": "error", "error": f"reopening the store failed: {op.get('error')}"})
            self.log(f"  [red]{system}: reopening failed: {op.get('error')}[/]")
            s.close()
            return False
        self.workers[system] = s
        self.serve[system] = {"served_from": "fresh process (store reopened)", "open_s": op["open_s"], "memory_after_open": op["memory_after_open"], "open_info": op.get("info")}
        return True

    def skip(self, system: str, reason: str) -> None:
        self.builds[system] = {"status": "skipped", "reason": reason}
        self.log(f"  {system}: skipped ({reason})")

    def measure_memory(self) -> None:
        """Memory each serve worker holds now (after the timed queries), above its baseline."""
        for s, w in self.workers.items():
            try:
                resp = w.request({"op": "memory"}, timeout=60)
            except WorkerError as exc:
                self.serve[s]["memory_error"] = str(exc)
                continue
            if resp.get("ok"):
                self.serve[s]["memory"] = resp["memory"]
                self.serve[s]["pss_by_file"] = resp.get("pss_by_file") or {}

    def close(self) -> None:
        for w in self.workers.values():
            w.close()
        self.workers.clear()
