"""The memory-budget tuner: evaluate candidate pipelines on the collection's own vectors, draw the
quality-vs-RAM Pareto front, and pick one under a RAM budget or above a quality floor.

Quality is measured the way the user's data allows:

- with relevance judgements (queries' vectors and qrels): nDCG@10 of the pipeline divided by
  nDCG@10 of the exact float32 search (``"ndcg@10 / float32"``);
- without: held-out rows of the collection serve as queries and quality is recall@k against
  the exact float32 top-k (``"recall@10 vs float32"``; each query's own row is left out of both).

RAM is *measured*: resident bytes of the first tier's codes (``mincore``) plus its fitted
parameters, per coded row. Each pipeline is built once and searched at several
``rescore_multiplier`` values (a search-time knob); each (pipeline, multiplier) is one candidate.

HIGH-LEVEL API: :func:`tune`. LOW-LEVEL: :func:`evaluate_pipelines`, :func:`pareto_front`,
:func:`pick`, :func:`parse_budget`, :func:`table`, :func:`plot_pareto`.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from vecnest._deps import require
from vecnest.compress import storage
from vecnest.compress.searcher import TieredIndex
from vecnest.compress.spec import CodeKind, parse_pipeline
from vecnest.errors import BudgetError, InvalidInputError
from vecnest.index.flat import FlatIndex

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Evaluation:
    """One candidate's measurements.

    Attributes:
        pipeline: the pipeline with the first tier's multiplier, e.g. ``"binary/asym@10 > float32"``.
        quality: see ``quality_kind``; 1.0 is float32 exact.
        quality_kind: ``"recall@10 vs float32"`` or ``"ndcg@10 / float32"``.
        ram_bytes_per_vector: RAM per row, all in: the RAM tier's codes (resident bytes,
            measured) plus every tier's fitted arrays (fixed bytes) divided by the rows. Budgets
            are checked against this.
        codes_bytes_per_vector: the measured resident bytes of the RAM tier's codes per row.
        fixed_ram_bytes: the fitted arrays (transforms, centroids, ranges), whatever the rows.
        disk_bytes_per_vector: bytes of all tier files per row (the float32 segment not counted).
        latency_ms: median single-query search latency (noisy on a shared machine).
        build_s: fit and encode time of the pipeline's codes.
    """

    pipeline: str
    quality: float
    quality_kind: str
    ram_bytes_per_vector: float
    codes_bytes_per_vector: float
    fixed_ram_bytes: int
    disk_bytes_per_vector: float
    latency_ms: float
    build_s: float

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return asdict(self)


@dataclass(frozen=True)
class TuneResult:
    """What :func:`tune` found.

    Attributes:
        evaluations: every candidate, in evaluation order.
        pareto: the non-dominated candidates, by increasing RAM.
        choice: the pick (``None`` when neither a budget nor a quality floor was given).
        baseline: the exact float32 search's evaluation.
    """

    evaluations: list[Evaluation]
    pareto: list[Evaluation]
    choice: Evaluation | None
    baseline: Evaluation | None = None
    notes: list[str] = field(default_factory=list)


def default_candidates(dim: int) -> list[str]:
    """Candidate pipelines for ``dim``-dimensional vectors: scalar codes, binary codes with and
    without rotations and truncation, and (O)PQ at 1/32 and 1/64 of float32."""
    out = ["float16 > float32", "int8 > float32", "float8 > float32"]
    half = dim // 2 - (dim // 2) % 8
    if half >= 8:
        out += [f"float8-pca{half} > float32", f"int8-pca{half} > float32"]
    if dim % 8 == 0:
        out += ["binary > float32", "binary/asym > float32", f"binary-rot{dim}/asym > float32", f"binary-itq{dim}/asym > float32"]
    for d in sorted({int(dim * f) // 8 * 8 for f in (5 / 6, 2 / 3, 1 / 2, 5 / 12)} - {0, dim}, reverse=True):
        out += [f"binary-rot{d}/asym > float32", f"binary-itq{d}/asym > float32", f"binary-pca{d}/asym > float32"]
    for m in (dim // 8, dim // 10, dim // 16):
        if m >= 1 and dim % m == 0:
            out += [f"pq{m} > float32", f"opq{m} > float32"]
    seen: set[str] = set()
    return [p for p in out if not (p in seen or seen.add(p))]


_BUDGET_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|bytes?)?\s*$", re.IGNORECASE)
_FRACTION_RE = re.compile(r"^\s*1\s*/\s*(\d+)\s*$")


def parse_budget(budget: str | float | int, dim: int) -> float:
    """RAM bytes per vector from ``48``, ``"48B"`` or a fraction of float32 like ``"1/32"``.

    Raises:
        InvalidInputError: anything else, or a budget that is not positive.
    """
    if isinstance(budget, (int, float)) and not isinstance(budget, bool):
        value = float(budget)
    elif isinstance(budget, str) and (m := _BUDGET_RE.match(budget)):
        value = float(m.group(1))
    elif isinstance(budget, str) and (m := _FRACTION_RE.match(budget)):
        value = 4.0 * dim / int(m.group(1))
    else:
        raise InvalidInputError(f"budget must be RAM bytes per vector like 48, '48B' or a fraction of float32 like '1/32'; got {budget!r}")
    if value <= 0:
        raise InvalidInputError(f"budget must be positive; got {budget!r}")
    return value


# ---------------------------------------------------------------------------------------------
# LOW-LEVEL: evaluate, compare, pick
# ---------------------------------------------------------------------------------------------


def _holdout_queries(n: int, n_queries: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(n, size=min(n_queries, max(1, n // 10)), replace=False))


def _drop_self(slots: np.ndarray, own: np.ndarray, k: int) -> np.ndarray:
    """Per-query results without the query's own row, cut to ``k``."""
    out = np.full((len(slots), k), -1, dtype=np.int64)
    for i, (row, me) in enumerate(zip(slots, own, strict=True)):
        kept = row[(row != me) & (row >= 0)][:k]
        out[i, : len(kept)] = kept
    return out


def _recall(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    hits = [len(set(f[f >= 0].tolist()) & set(t[t >= 0].tolist())) / max(1, min(k, int((t >= 0).sum()))) for f, t in zip(found, truth, strict=True)]
    return float(np.mean(hits)) if hits else 1.0


class Judge:
    """Scores result lists against the exact float32 search, in one of three ways:

    - no ``queries``: held-out rows of ``vectors`` are the queries; recall@k against the exact
      top-k, each query's own row left out of both;
    - ``queries`` without ``qrels``: recall@k of those queries against the exact top-k;
    - ``queries`` with ``qrels``, ``doc_ids`` and ``query_ids``: nDCG@10 over nDCG@10 of exact.

    Attributes:
        queries: ``(q, dim) float32`` the queries to search.
        k_search: results to ask each search for.
        kind: the quality's name.
    """

    def __init__(self, vectors: np.ndarray, *, l2: bool = False, k: int = 10, n_queries: int = 200, seed: int = 0, queries: np.ndarray | None = None, qrels: Mapping[str, Mapping[str, int]] | None = None, doc_ids: Sequence[str] | None = None, query_ids: Sequence[str] | None = None) -> None:
        self.k = k
        flat = FlatIndex(vectors, None, l2=l2)
        self.own: np.ndarray | None = None
        self.qrels = qrels
        if queries is None:
            self.own = _holdout_queries(len(vectors), n_queries, np.random.default_rng(seed))
            self.queries = np.ascontiguousarray(vectors[self.own], dtype=np.float32)
            self.truth = _drop_self(flat.search(self.queries, k + 1)[0], self.own, k)
        else:
            self.queries = np.ascontiguousarray(queries, dtype=np.float32)
        if qrels is None:
            self.kind = f"recall@{k} vs float32"
            if queries is not None:
                self.truth = flat.search(self.queries, k)[0]
        else:
            if queries is None or doc_ids is None or query_ids is None:
                raise InvalidInputError("tuning on judged queries needs queries, qrels, doc_ids and query_ids together")
            self.doc_ids, self.query_ids = list(doc_ids), list(query_ids)
            self.kind = "ndcg@10 / float32"
            self.base = self.ndcg(flat.search(self.queries, 10))

    def ndcg(self, result: tuple[np.ndarray, np.ndarray]) -> float:
        """nDCG@10 of ``(slots, scores)`` for the judged queries (ranx)."""
        from vecnest.eval.metrics import ir_metrics

        slots, scores = result
        run = {q: {self.doc_ids[s]: float(v) for s, v in zip(row, sc, strict=True) if s >= 0} for q, row, sc in zip(self.query_ids, slots, scores, strict=True)}
        return ir_metrics(self.qrels or {}, run, ["ndcg@10"])["ndcg@10"]

    @property
    def k_search(self) -> int:
        return self.k + 1 if self.own is not None else (10 if self.qrels is not None else self.k)

    def quality(self, result: tuple[np.ndarray, np.ndarray]) -> float:
        """The quality of ``(slots, scores)`` from searching :attr:`queries` for :attr:`k_search`."""
        if self.qrels is not None:
            return self.ndcg(result) / self.base if self.base > 0 else 1.0
        found = _drop_self(result[0], self.own, self.k) if self.own is not None else result[0]
        return _recall(found, self.truth, self.k)


def _latency_ms(index: TieredIndex | FlatIndex, queries: np.ndarray, k: int, mult: int | None, n: int = 30) -> float:
    times = []
    for q in queries[:n]:
        t = time.perf_counter()
        if isinstance(index, TieredIndex):
            index.search(q[None], k, rescore_multiplier=mult)
        else:
            index.search(q[None], k)
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1e3) if times else 0.0


def evaluate_pipelines(
    vectors: np.ndarray,
    pipelines: Sequence[str],
    *,
    l2: bool = False,
    multipliers: Sequence[int] = (10, 20, 40),
    k: int = 10,
    n_queries: int = 200,
    seed: int = 0,
    workdir: Path | None = None,
    fit_rows: int = storage.FIT_ROWS,
    queries: np.ndarray | None = None,
    qrels: Mapping[str, Mapping[str, int]] | None = None,
    doc_ids: Sequence[str] | None = None,
    query_ids: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> tuple[Evaluation, list[Evaluation]]:
    """Build, search and measure each pipeline at each first-tier multiplier.

    Args:
        vectors: ``(n, dim) float32`` rows of the collection (a memory map is fine).
        pipelines: candidate pipeline strings (their first tier's ``@keep`` is replaced by each
            multiplier; a pipeline of one tier is evaluated once).
        l2: the collection's metric is L2.
        multipliers: first-tier candidates as multiples of ``k``.
        k: results per query.
        n_queries: held-out rows used as queries (at most a tenth of the rows).
        seed: seeds the held-out rows and the fits.
        workdir: where to build (a temporary folder, removed after, by default).
        fit_rows: fit sample size.
        queries, qrels, doc_ids, query_ids: judged queries (all four, or none); ``doc_ids[i]``
            is the id of row ``i``.
        progress: called with a line of text before each build.

    Returns:
        The float32 baseline's evaluation and every candidate's.
    """
    n, dim = vectors.shape
    judge = Judge(vectors, l2=l2, k=k, n_queries=n_queries, seed=seed, queries=queries, qrels=qrels, doc_ids=doc_ids, query_ids=query_ids)
    flat = FlatIndex(vectors, None, l2=l2)
    base = Evaluation("float32", judge.quality(flat.search(judge.queries, judge.k_search)), judge.kind, 4.0 * dim, 4.0 * dim, 0, 0.0, _latency_ms(flat, judge.queries, judge.k_search, None), 0.0)
    own_dir = workdir is None
    root = Path(tempfile.mkdtemp(prefix="vecnest-tune-")) if workdir is None else workdir
    out: list[Evaluation] = []
    try:
        for text in pipelines:
            spec = parse_pipeline(text, dim)
            if spec.first.code is CodeKind.FLOAT32:
                continue
            if progress is not None:
                progress(f"building {spec}")
            t = time.perf_counter()
            manifest = storage.build(root, spec, vectors, l2=l2, generation=0, fit_rows=fit_rows, seed=seed)
            build_s = time.perf_counter() - t
            index = TieredIndex(root, manifest, vectors, None, l2=l2)
            try:
                codes, fixed = index.ram_bytes_per_vector(), index.fixed_ram_bytes()
                disk = sum(manifest.disk_bytes().values()) / max(n, 1)
                mults = [None] if len(spec.tiers) == 1 else list(multipliers)
                for mult in mults:
                    result = index.search(judge.queries, judge.k_search, rescore_multiplier=mult)
                    name = str(spec if mult is None else spec.with_first_keep(mult))
                    out.append(Evaluation(name, judge.quality(result), judge.kind, codes + fixed / max(n, 1), codes, fixed, disk, _latency_ms(index, judge.queries, judge.k_search, mult), build_s))
            finally:
                index.close()
                storage.remove_unreferenced(root, [])
    finally:
        if own_dir:
            shutil.rmtree(root, ignore_errors=True)
    return base, out


def pareto_front(evaluations: Sequence[Evaluation]) -> list[Evaluation]:
    """The candidates no other beats on both RAM (less) and quality (more), by increasing RAM."""
    ordered = sorted(evaluations, key=lambda e: (e.ram_bytes_per_vector, -e.quality, e.latency_ms))
    front: list[Evaluation] = []
    for e in ordered:
        if not front or e.quality > front[-1].quality:
            front.append(e)
    return front


def pick(evaluations: Sequence[Evaluation], *, budget: float | None = None, min_quality: float | None = None) -> Evaluation:
    """The best candidate under a RAM budget (highest quality, then fastest) or the smallest one
    reaching a quality floor (least RAM, then highest quality, then fastest).

    Raises:
        InvalidInputError: neither or both of ``budget`` and ``min_quality`` given.
        BudgetError: no candidate qualifies; the message names the closest one.
    """
    if (budget is None) == (min_quality is None):
        raise InvalidInputError("give exactly one of budget (RAM bytes per vector) and min_quality (e.g. 0.99)")
    if not evaluations:
        raise BudgetError("no candidate pipelines were evaluated")
    if budget is not None:
        fits = [e for e in evaluations if e.ram_bytes_per_vector <= budget]
        if not fits:
            least = min(evaluations, key=lambda e: e.ram_bytes_per_vector)
            raise BudgetError(
                f"no candidate pipeline fits in {budget:g} bytes of RAM per vector; the smallest is {least.pipeline!r} "
                f"at {least.ram_bytes_per_vector:.1f} B (quality {least.quality:.3f}). Raise the budget to at least {np.ceil(least.ram_bytes_per_vector):.0f}B"
            )
        return max(fits, key=lambda e: (e.quality, -e.latency_ms, -e.ram_bytes_per_vector))
    assert min_quality is not None
    good = [e for e in evaluations if e.quality >= min_quality]
    if not good:
        best = max(evaluations, key=lambda e: e.quality)
        raise BudgetError(
            f"no candidate pipeline reaches quality {min_quality:g} ({best.quality_kind}); the best is {best.pipeline!r} at {best.quality:.4f}. "
            "Lower min_quality or add candidates with more rescoring"
        )
    return min(good, key=lambda e: (e.ram_bytes_per_vector, -e.quality, e.latency_ms))


def table(result: TuneResult, title: str = "compression candidates") -> Any:
    """A rich ``Table`` of every candidate, Pareto ones marked, the choice highlighted."""
    from rich.table import Table

    front = {e.pipeline for e in result.pareto}
    t = Table(title=title)
    for col in ("pipeline", "quality", "RAM B/vec", "codes B/vec", "fixed KiB", "disk B/vec", "p50 ms", "build s", ""):
        t.add_column(col, justify="left" if col == "pipeline" else "right")
    rows = ([result.baseline] if result.baseline else []) + sorted(result.evaluations, key=lambda e: e.ram_bytes_per_vector)
    for e in rows:
        mark = "chosen" if result.choice is not None and e.pipeline == result.choice.pipeline else ("pareto" if e.pipeline in front else "")
        t.add_row(e.pipeline, f"{e.quality:.4f}", f"{e.ram_bytes_per_vector:.1f}", f"{e.codes_bytes_per_vector:.1f}", f"{e.fixed_ram_bytes / 1024:.1f}", f"{e.disk_bytes_per_vector:.0f}", f"{e.latency_ms:.2f}", f"{e.build_s:.1f}", mark, style="bold green" if mark == "chosen" else None)
    return t


def plot_pareto(result: TuneResult, path: Path, title: str = "quality vs RAM") -> Path:
    """Draw every candidate (RAM bytes per vector, log scale, against quality) with the Pareto
    front and the choice; write a PNG to ``path``."""
    require("matplotlib", "eval", "Drawing the Pareto plot")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    evs = result.evaluations
    ax.scatter([e.ram_bytes_per_vector for e in evs], [e.quality for e in evs], s=14, color="0.6", label="candidates")
    front = result.pareto
    ax.plot([e.ram_bytes_per_vector for e in front], [e.quality for e in front], "-o", color="C0", ms=4, label="Pareto front")
    for i, e in enumerate(front):  # labels staggered: neighbouring points sit close on a log axis
        ax.annotate(e.pipeline, (e.ram_bytes_per_vector, e.quality), fontsize=6, xytext=(4, -10 - 9 * (i % 4)), textcoords="offset points", arrowprops={"arrowstyle": "-", "color": "0.7", "lw": 0.5})
    if result.baseline is not None:
        ax.scatter([result.baseline.ram_bytes_per_vector], [result.baseline.quality], marker="s", color="k", label="float32 exact")
    if result.choice is not None:
        ax.scatter([result.choice.ram_bytes_per_vector], [result.choice.quality], marker="*", s=160, color="C3", label=f"chosen: {result.choice.pipeline}")
    ax.set_xscale("log")
    ax.set_xlabel("RAM bytes per vector (measured resident codes + fitted arrays / rows; log scale)")
    ax.set_ylabel(evs[0].quality_kind if evs else "quality")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130, bbox_inches="tight")
    return path


# ---------------------------------------------------------------------------------------------
# HIGH-LEVEL API
# ---------------------------------------------------------------------------------------------


def tune(
    vectors: np.ndarray,
    *,
    budget: str | float | None = None,
    min_quality: float | None = None,
    candidates: Sequence[str] | None = None,
    plot: Path | None = None,
    **evaluate_kwargs: Any,
) -> TuneResult:
    """Evaluate candidate pipelines on ``vectors`` and pick one (see the module docstring).

    Args:
        vectors: ``(n, dim) float32`` rows of the collection.
        budget: RAM bytes per vector (``48``, ``"48B"``, ``"1/32"``); or
        min_quality: the quality floor (e.g. ``0.99``); or neither (evaluate only).
        candidates: pipelines to try (default :func:`default_candidates`).
        plot: write the Pareto PNG here.
        **evaluate_kwargs: passed to :func:`evaluate_pipelines` (``k``, ``multipliers``,
            ``queries``/``qrels``/``doc_ids``/``query_ids``, ``workdir``, ``progress`` ...).

    Raises:
        BudgetError: nothing qualifies (after evaluating; the message names the closest, and
            the error's ``result`` holds every evaluation).
        InvalidInputError: a malformed budget, or both a budget and a quality floor.
    """
    dim = vectors.shape[1]
    if budget is not None and min_quality is not None:
        raise InvalidInputError("give a budget or a min_quality, not both")
    if min_quality is not None and not 0 < min_quality <= 1:
        raise InvalidInputError(f"min_quality must be in (0, 1]; got {min_quality!r}")
    limit = parse_budget(budget, dim) if budget is not None else None
    pipelines = list(candidates) if candidates is not None else default_candidates(dim)
    for p in pipelines:
        parse_pipeline(p, dim)  # bad candidates fail before any build
    base, evaluations = evaluate_pipelines(vectors, pipelines, **evaluate_kwargs)
    result = TuneResult(evaluations, pareto_front(evaluations), None, base)
    try:
        if limit is not None or min_quality is not None:
            result = replace(result, choice=pick(evaluations, budget=limit, min_quality=min_quality))
    except BudgetError as exc:
        exc.result = result  # type: ignore[attr-defined]  # what was measured, for the table
        raise
    finally:  # the plot shows what was measured even when nothing qualifies
        if plot is not None:
            plot_pareto(result, plot)
    return result
