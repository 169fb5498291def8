"""Sweeps: many configurations on one dataset, embeddings computed once, with plots.

A sweep file (TOML)::

    dataset = "../shared/datasets/scifact"
    model = "default"
    metrics = ["ndcg@10", "recall@100"]
    k = 100

    [[config]]
    name = "exact"

    [[config]]
    name = "hnsw-m32"
    index = "hnsw"          # any IndexConfig field may follow: m, ef_construction, nlist, pq_m …
    m = 32
    ef_search = [16, 32, 64, 128, 256]   # a list = one measured point per value

Each configuration's collection is built once; every value of its search knob (``ef_search``,
``nprobe`` or ``target_recall``) is one point. Outputs: one :class:`EvalReport` per point, and
two plots: recall@10 against QPS (the speed/accuracy curve of each index) and quality against
bytes per vector (the storage Pareto front).
"""

from __future__ import annotations

import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

from vecnest._deps import require
from vecnest.config import IndexConfig
from vecnest.errors import InvalidInputError
from vecnest.eval.beir import load_beir
from vecnest.eval.evaluate import EvalReport, _measure, _report, _rss_bytes, build_collection, resolve_cache
from vecnest.eval.metrics import check_metrics

_SEARCH_KNOBS = ("ef_search", "nprobe", "target_recall")
_INDEX_FIELDS = {f.name for f in fields(IndexConfig)}


def load_sweep(path: str | Path) -> dict[str, Any]:
    """Read and validate a sweep file; relative dataset paths are taken from the file's folder."""
    path = Path(path)
    try:
        spec = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInputError(f"cannot read sweep file {path}: {exc}") from None
    if "dataset" not in spec or not spec.get("config"):
        raise InvalidInputError(f"sweep file {path} needs 'dataset = ...' and at least one [[config]] table")
    dataset = Path(spec["dataset"])
    spec["dataset"] = str(dataset if dataset.is_absolute() else (path.parent / dataset))
    for i, cfg in enumerate(spec["config"]):
        unknown = set(cfg) - _INDEX_FIELDS - set(_SEARCH_KNOBS) - {"name", "index"}
        if unknown:
            raise InvalidInputError(
                f"[[config]] #{i + 1} ({cfg.get('name', '?')}) has unknown keys {sorted(unknown)}; "
                f"allowed: name, index, {sorted(_INDEX_FIELDS - {'kind'})}, {list(_SEARCH_KNOBS)}"
            )
    return spec


def _points(cfg: dict[str, Any]) -> list[dict[str, Any]]:
    knobs = {k: cfg[k] for k in _SEARCH_KNOBS if k in cfg}
    if not knobs:
        return [{}]
    if len(knobs) > 1:
        raise InvalidInputError(f"config {cfg.get('name')!r}: sweep one search knob at a time, got {sorted(knobs)}")
    (name, values), = knobs.items()
    return [{name: v} for v in (values if isinstance(values, list) else [values])]


def run_sweep(
    spec: dict[str, Any],
    *,
    cache_dir: str | Path | None = "default",
    progress: Callable[[str], None] | None = None,
) -> list[EvalReport]:
    """Run every configuration and search point of a sweep; returns one report per point."""
    data = load_beir(spec["dataset"])
    metrics = check_metrics(spec.get("metrics", ["ndcg@10", "recall@100"]))
    k = int(spec.get("k", 100))
    cache = resolve_cache(cache_dir)
    reports: list[EvalReport] = []
    with tempfile.TemporaryDirectory(prefix="vecnest-sweep-") as tmp:
        for i, cfg in enumerate(spec["config"]):
            name = cfg.get("name", f"config{i + 1}")
            index_args = {k_: v for k_, v in cfg.items() if k_ in _INDEX_FIELDS and k_ not in _SEARCH_KNOBS}
            index = IndexConfig(kind=cfg.get("index", "exact"), **index_args)
            if progress:
                progress(f"building {name}")
            rss0 = _rss_bytes()
            db, col, timings, cached = build_collection(
                spec.get("model", "default"), data, Path(tmp), index=index, cache=cache, name=f"c{i}"
            )
            for point in _points(cfg):
                if progress:
                    progress(f"measuring {name} {point}")
                measured = _measure(col, data, metrics, k, cache, int(spec.get("latency_queries", 200)), dict(timings), point)
                report = _report(col, data, k, cached, _rss_bytes() - rss0, point, measured)
                report.config["name"] = name
                reports.append(report)
            db.close()
    return reports


def plot_sweep(reports: list[EvalReport], out_dir: str | Path, quality_metric: str = "ndcg@10") -> list[Path]:
    """Write ``recall_vs_qps.png`` and ``quality_vs_bytes.png``; returns their paths."""
    plt = require("matplotlib.pyplot", "eval", "Plotting sweep results")
    require("matplotlib", "eval", "Plotting sweep results").use("Agg")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    by_name: dict[str, list[EvalReport]] = {}
    for r in reports:
        by_name.setdefault(r.config.get("name", r.config["index"]), []).append(r)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, rs in by_name.items():
        rs = sorted(rs, key=lambda r: r.ann_recall.get("recall@10", 0))
        ax.plot([r.ann_recall.get("recall@10", 0) for r in rs], [r.throughput_qps["single_thread"] for r in rs], marker="o", label=name)
    ax.set_xlabel("recall@10 vs exact search")
    ax.set_ylabel("queries / s (one thread)")
    ax.set_yscale("log")
    ax.set_title(f"{reports[0].dataset}: speed vs accuracy")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    curve = out / "recall_vs_qps.png"
    fig.savefig(curve, dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    pts = [(sum(r.bytes_per_vector.values()), r.quality.get(quality_metric, 0.0), r.config.get("name", "")) for r in reports]
    for bpv, q, name in pts:
        ax.scatter(bpv, q)
        ax.annotate(name, (bpv, q), fontsize=7, xytext=(3, 3), textcoords="offset points")
    front, best = [], -1.0
    for bpv, q, _ in sorted(pts):
        if q > best:
            front.append((bpv, q))
            best = q
    ax.plot(*zip(*front, strict=True), color="red", linestyle="--", label="Pareto front")
    ax.set_xlabel("bytes per vector (vectors + index + documents)")
    ax.set_ylabel(quality_metric)
    ax.set_title(f"{reports[0].dataset}: quality vs storage")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    pareto = out / "quality_vs_bytes.png"
    fig.savefig(pareto, dpi=120)
    plt.close(fig)
    return [curve, pareto]
