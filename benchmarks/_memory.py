"""Memory of a process and its children, measured the same way for every system.

Each system runs in its own worker process; what it holds is read from
``/proc/<pid>/smaps_rollup`` of that process **and every child it started** (Milvus Lite runs a
server process, for example):

* ``pss``  — proportional set size: private pages plus a share of shared ones, **including the
  pages of memory-mapped files the process touched** (an mmapped segment or index counts as soon
  as it is read, exactly like a heap copy);
* ``pss_anon`` / ``pss_file`` — the same split into anonymous memory and file-backed pages;
* ``uss``  — private pages only (``Private_Clean + Private_Dirty``): what the OS would free if the
  process exited;
* ``rss``  — resident pages, shared ones counted in full.

Falls back to ``psutil.Process.memory_full_info()`` where ``smaps_rollup`` does not exist.
"""

from __future__ import annotations

import os
import resource
import threading
from pathlib import Path
from types import TracebackType

FIELDS = {"Rss": "rss", "Pss": "pss", "Pss_Anon": "pss_anon", "Pss_File": "pss_file", "Private_Clean": "_pc", "Private_Dirty": "_pd", "Swap": "swap"}


def smaps_rollup(pid: int) -> dict[str, int] | None:
    """Bytes of one process from ``/proc/<pid>/smaps_rollup`` (``None`` if unreadable)."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    out = dict.fromkeys(FIELDS.values(), 0)
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in FIELDS:
            out[FIELDS[key]] = int(rest.split()[0]) * 1024
    out["uss"] = out.pop("_pc") + out.pop("_pd")
    return out


def tree_memory(pid: int | None = None) -> dict[str, int]:
    """Summed memory of process ``pid`` (default: this one) and all its descendants."""
    import psutil

    root = psutil.Process(pid or os.getpid())
    procs = [root]
    try:
        procs += root.children(recursive=True)
    except psutil.Error:
        pass
    total = {"rss": 0, "pss": 0, "pss_anon": 0, "pss_file": 0, "uss": 0, "swap": 0, "processes": 0}
    for p in procs:
        m = smaps_rollup(p.pid)
        if m is None:
            try:
                full = p.memory_full_info()
            except psutil.Error:
                continue
            m = {"rss": full.rss, "pss": getattr(full, "pss", full.rss), "pss_anon": 0, "pss_file": 0, "uss": full.uss, "swap": getattr(full, "swap", 0)}
        for k in ("rss", "pss", "pss_anon", "pss_file", "uss", "swap"):
            total[k] += int(m.get(k, 0))
        total["processes"] += 1
    return total


def pss_by_file(pid: int | None = None, top: int = 8) -> dict[str, int]:
    """Bytes of PSS per mapped file of process ``pid`` (default: this one), the ``top``
    largest by file name (what a system's file-backed memory is made of: its index, its
    vectors, its catalog); empty where ``/proc/<pid>/smaps`` cannot be read."""
    try:
        text = Path(f"/proc/{pid or os.getpid()}/smaps").read_text()
    except OSError:
        return {}
    out: dict[str, int] = {}
    name: str | None = None
    for line in text.splitlines():
        first = line.split(maxsplit=5)
        if len(first) >= 5 and "-" in first[0] and not first[0].endswith(":"):
            name = Path(first[5]).name if len(first) == 6 and first[5].startswith("/") else None
        elif name and line.startswith("Pss:"):
            out[name] = out.get(name, 0) + int(line.split()[1]) * 1024
    return dict(sorted(out.items(), key=lambda kv: -kv[1])[:top])


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    """``after - before`` for every byte field (``processes`` is taken from ``after``)."""
    out = {k: int(after.get(k, 0)) - int(before.get(k, 0)) for k in after if k != "processes"}
    out["processes"] = int(after.get("processes", 1))
    return out


class PeakSampler:
    """Peak summed RSS of this process and its descendants while the ``with`` block runs,
    sampled every ``interval`` seconds from ``/proc/<pid>/statm`` (cheap enough not to disturb
    the work; a peak shorter than the interval can be missed, so ``ru_maxrss`` of this process
    is folded in at the end)."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakSampler:
        self.peak = tree_rss()
        self._thread.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_rss())

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, tree_rss())


def tree_rss(pid: int | None = None) -> int:
    """Summed resident bytes of a process and its descendants (``statm``: fast)."""
    import psutil

    page = os.sysconf("SC_PAGE_SIZE")
    root = psutil.Process(pid or os.getpid())
    total = 0
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        procs = [root]
    for p in procs:
        try:
            total += int(Path(f"/proc/{p.pid}/statm").read_text().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
    return total


def peak_rss() -> int:
    """Peak resident set size of this process so far (``ru_maxrss``), in bytes."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
