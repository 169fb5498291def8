"""The subprocess that hosts one system, so its memory is measured alone.

Run as ``python -m peers.worker`` with ``benchmarks/`` on ``PYTHONPATH``. It reads one JSON
command per line on stdin and answers one JSON line on a private copy of the original stdout;
fd 1 is pointed at stderr so that whatever a library prints cannot corrupt the protocol.

Commands::

    {"op": "build", "system": NAME, "data": DIR, "work": DIR, "threads": N, "disk_sample": bool}
    {"op": "search", "knob": {...}, "workload": NAME | null, "pred": P | null, "queries": [i, ...], "k": 10}
    {"op": "explain", "knob": {...}, "workload": NAME, "pred": P, "query": i, "k": 10}
    {"op": "quit"}
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sys
import time
import traceback
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    """Current resident set size of this process."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (``ru_maxrss``)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def versions(dists: tuple[str, ...]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for d in dists:
        try:
            out[d] = importlib_metadata.version(d)
        except importlib_metadata.PackageNotFoundError:
            out[d] = None
    return out


class Host:
    def __init__(self) -> None:
        self.system: Any = None
        self.queries: np.ndarray | None = None
        self.filters: dict[str, Any] = {}

    def build(self, cmd: dict[str, Any]) -> dict[str, Any]:
        from peers.data import load_columns, metadata_records
        from peers.systems import Unsupported, load

        rss_start = rss_bytes()
        cls = load(cmd["system"])
        try:
            cls.check()
        except (ImportError, Unsupported, OSError) as exc:
            return {"ok": False, "status": "unavailable", "error": f"{type(exc).__name__}: {exc}", "versions": versions(cls.distributions)}
        rss_import = rss_bytes()
        data = Path(cmd["data"])
        meta = json.loads((data / "meta.json").read_text())
        base = np.load(data / "base.npy")
        self.queries = np.load(data / "queries.npy")
        has_cols = (data / "cols.npz").is_file()
        cols = load_columns(data) if has_cols else None
        metas = metadata_records(data) if (has_cols and cls.needs_metas) else None
        work = Path(cmd["work"])
        work.mkdir(parents=True, exist_ok=True)
        system = cls(work, int(meta["dim"]), int(meta["n"]), int(cmd["threads"]))
        gc.collect()
        rss_base = rss_bytes()
        t0 = time.perf_counter()
        info = system.build(base, metas, cols)
        build_s = time.perf_counter() - t0
        rss_built = rss_bytes()
        peak = peak_rss_bytes()
        if "faiss" in sys.modules:  # builds may use OpenMP threads; queries run on one
            sys.modules["faiss"].omp_set_num_threads(1)
        out: dict[str, Any] = {}
        if cmd.get("disk_sample") and hasattr(system, "disk_sample"):
            out["disk_sample"] = system.disk_sample(base, metas)
        input_bytes = int(base.nbytes)
        del base, metas
        gc.collect()
        self.system = system
        system.set_knob({})
        system.search(self.queries[0], 10, system.prepare_filter(None))
        rss_steady = rss_bytes()
        self.filters = {}
        return {
            "ok": True,
            "status": "ok",
            "build_s": build_s,
            "memory": {
                "rss_start": rss_start,
                "rss_after_import": rss_import,
                "rss_before_build": rss_base,
                "rss_after_build": rss_built,
                "peak_rss": peak,
                "build_delta": rss_built - rss_base,
                "peak_delta": peak - rss_base,
                "steady_delta": rss_steady - rss_base + input_bytes,
                "input_bytes": input_bytes,
            },
            "disk_bytes": system.disk_bytes(),
            "settings": system.settings(),
            "knobs": system.knobs(),
            "exact": bool(cls.exact),
            "supports_filter": bool(cls.supports_filter),
            "filter_note": cls.filter_note,
            "family": cls.family,
            "info": info,
            "versions": versions(cls.distributions),
            **out,
        }

    def _filter(self, workload: str | None, pred: Any) -> Any:
        key = workload or ""
        if key not in self.filters:
            self.filters[key] = self.system.prepare_filter(pred)
        return self.filters[key]

    def search(self, cmd: dict[str, Any]) -> dict[str, Any]:
        system, queries = self.system, self.queries
        k = int(cmd.get("k", 10))
        flt = self._filter(cmd.get("workload"), cmd.get("pred"))
        system.set_knob(cmd.get("knob") or {})
        lat, ids = [], []
        perf = time.perf_counter
        for i in cmd["queries"]:
            q = queries[i]
            t0 = perf()
            res = system.search(q, k, flt)
            lat.append(perf() - t0)
            ids.append(res.tolist())
        return {"ok": True, "lat": lat, "ids": ids}

    def explain(self, cmd: dict[str, Any]) -> dict[str, Any]:
        fn = getattr(self.system, "explain", None)
        if fn is None:
            return {"ok": True, "plan": None}
        self.system.set_knob(cmd.get("knob") or {})
        flt = self._filter(cmd.get("workload"), cmd.get("pred"))
        return {"ok": True, "plan": fn(self.queries[int(cmd["query"])], int(cmd.get("k", 10)), flt)}


def main() -> int:
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    host = Host()
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        op = cmd.get("op")
        if op == "quit":
            if host.system is not None:
                try:
                    host.system.close()
                except Exception:  # noqa: BLE001 - closing is best effort
                    pass
            proto.write(json.dumps({"ok": True}) + "\n")
            break
        try:
            resp = getattr(host, op)(cmd)
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which records it
            traceback.print_exc()
            resp = {"ok": False, "status": "error", "error": f"{type(exc).__name__}: {exc}"}
        proto.write(json.dumps(resp) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
