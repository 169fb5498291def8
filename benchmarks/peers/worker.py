"""The subprocess that hosts one system, so its time and memory are its own.

Run as ``python -m peers.worker`` with ``benchmarks/`` on ``PYTHONPATH``. It reads one JSON
command per line on stdin and answers one JSON line on a private copy of the original stdout;
fd 1 is pointed at stderr so that whatever a library prints cannot corrupt the protocol.

A system lives in two processes: a *build* worker (``build``: ingest + index, store left on disk,
then ``quit``) and a fresh *serve* worker (``open``, then the queries). Memory is measured the
same way in both for every system (:mod:`_memory`: PSS / USS / RSS of the worker and its children,
file-backed pages of mapped files included), against a baseline taken after the library was
imported and the queries and attribute columns were loaded. Systems that cannot be reopened
(``reopenable = False``) serve from the build worker.

Commands::

    {"op": "build", "system": NAME, "data": DIR, "work": DIR, "threads": N, "disk_sample": bool}
    {"op": "open", "system": NAME, "data": DIR, "work": DIR}
    {"op": "search", "knob": {...}, "workload": NAME | null, "pred": P | null, "queries": [i, ...],
     "k": 10, "budget_s": float | null, "min_queries": int, "max_s": float | null}
    {"op": "explain", "knob": {...}, "workload": NAME, "pred": P, "queries": [i, ...], "k": 10}
    {"op": "memory"}
    {"op": "quit"}
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
import traceback
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np
from _memory import PeakSampler, delta, pss_by_file, tree_memory


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
        self.baseline: dict[str, int] | None = None

    def _prepare(self, cmd: dict[str, Any]) -> tuple[Any, dict[str, Any] | None]:
        """Import the library, load the queries and columns; the memory baseline is taken here."""
        from peers.data import load_columns
        from peers.systems import Unsupported, load

        cls = load(cmd["system"])
        try:
            cls.check()
        except (ImportError, Unsupported, OSError) as exc:
            return cls, {"ok": False, "status": "unavailable", "error": f"{type(exc).__name__}: {exc}", "versions": versions(cls.distributions)}
        data = Path(cmd["data"])
        self.meta = json.loads((data / "meta.json").read_text())
        self.queries = np.load(data / "queries.npy")
        self.cols = load_columns(data) if (data / "cols.npz").is_file() else None
        work = Path(cmd["work"])
        work.mkdir(parents=True, exist_ok=True)
        self.system = cls(work, int(self.meta["dim"]), int(self.meta["n"]), int(cmd.get("threads", 1)))
        gc.collect()
        self.baseline = tree_memory()
        return cls, None

    def build(self, cmd: dict[str, Any]) -> dict[str, Any]:
        from peers.data import metadata_records

        cls, err = self._prepare(cmd)
        if err:
            return err
        data = Path(cmd["data"])
        base = np.load(data / "base.npy")
        metas = metadata_records(data) if (self.cols is not None and cls.needs_metas) else None
        gc.collect()
        before = tree_memory()  # the input arrays are loaded: the build's own memory is above this
        with PeakSampler() as peak:
            t0 = time.perf_counter()
            info = self.system.build(base, metas, self.cols)
            build_s = time.perf_counter() - t0
        after = tree_memory()
        out: dict[str, Any] = {}
        if cmd.get("disk_sample") and hasattr(self.system, "disk_sample"):
            out["disk_sample"] = self.system.disk_sample(base, metas)
        del base, metas
        gc.collect()
        if "faiss" in sys.modules:  # builds may use OpenMP threads; queries run on one
            sys.modules["faiss"].omp_set_num_threads(1)
        return {
            "ok": True,
            "status": "ok",
            "build_s": build_s,
            "memory_build": {
                "held_after_build": delta(after, before),
                "peak_rss_above_inputs": max(0, peak.peak - before["rss"]),
                "note": "peak RSS of the build process and its children (sampled every 50 ms) above their RSS with the input arrays loaded",
            },
            "disk_bytes": self.system.disk_bytes(),
            "settings": self.system.settings(),
            "knobs": self.system.knobs(),
            "knob_name": cls.knob_name,
            "exact": bool(cls.exact),
            "supports_filter": bool(cls.supports_filter),
            "reopenable": bool(cls.reopenable),
            "filter_note": cls.filter_note,
            "family": cls.family,
            "info": info,
            "versions": versions(cls.distributions),
            **out,
        }

    def open(self, cmd: dict[str, Any]) -> dict[str, Any]:
        cls, err = self._prepare(cmd)
        if err:
            return err
        t0 = time.perf_counter()
        info = self.system.open(self.cols)
        open_s = time.perf_counter() - t0
        return {"ok": True, "open_s": open_s, "info": info, "memory_after_open": delta(tree_memory(), self.baseline)}

    def _filter(self, workload: str | None, pred: Any) -> Any:
        key = workload or ""
        if key not in self.filters:
            self.filters[key] = self.system.prepare_filter(pred)
        return self.filters[key]

    def search(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Timed searches, one query at a time; stops early once ``budget_s`` of summed latency is
        spent and at least ``min_queries`` were answered, or — for very slow systems — once
        ``max_s`` is spent and at least 5 were."""
        system, queries = self.system, self.queries
        k = int(cmd.get("k", 10))
        flt = self._filter(cmd.get("workload"), cmd.get("pred"))
        system.set_knob(cmd.get("knob") or {})
        system.ready(flt)
        budget = cmd.get("budget_s")
        min_q = int(cmd.get("min_queries", 0))
        cap = cmd.get("max_s")
        lat, ids, done = [], [], []
        spent = 0.0
        perf = time.perf_counter
        for i in cmd["queries"]:
            q = queries[i]
            t0 = perf()
            res = system.search(q, k, flt)
            dt = perf() - t0
            lat.append(dt)
            ids.append(system.ids(res).tolist())  # (untimed: the harness's labels)
            done.append(i)
            spent += dt
            if budget is not None and spent >= budget and len(done) >= min_q:
                break
            if cap is not None and spent >= cap and len(done) >= 5:
                break
        return {"ok": True, "lat": lat, "ids": ids, "queries": done}

    def explain(self, cmd: dict[str, Any]) -> dict[str, Any]:
        fn = getattr(self.system, "explain", None)
        if fn is None:
            return {"ok": True, "plans": None}
        self.system.set_knob(cmd.get("knob") or {})
        flt = self._filter(cmd.get("workload"), cmd.get("pred"))
        k = int(cmd.get("k", 10))
        return {"ok": True, "plans": [fn(self.queries[int(i)], k, flt) for i in cmd["queries"]]}

    def memory(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Memory held now above the baseline (after the timed queries: the steady state)."""
        gc.collect()
        now = tree_memory()
        return {"ok": True, "memory": delta(now, self.baseline or now), "absolute": now, "pss_by_file": pss_by_file()}


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
                    traceback.print_exc()
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
