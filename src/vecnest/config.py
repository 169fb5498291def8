"""Engine configuration: closed choices as ``StrEnum`` and frozen dataclasses."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum
from typing import Any

from vecnest.errors import InvalidInputError

#: Largest ``k`` a search accepts; beyond this, page through ``Collection.get`` instead.
MAX_K = 10_000

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class Metric(StrEnum):
    """How a query and a stored vector are compared. Scores are always "higher is better"."""

    COSINE = "cosine"  #: cosine similarity; vectors are L2-normalised on write, score in [-1, 1]
    DOT = "dot"  #: raw inner product; for models trained with un-normalised dot scores
    L2 = "l2"  #: score = -squared Euclidean distance


def parse_metric(metric: str | Metric) -> Metric:
    """Return ``metric`` as a :class:`Metric`, or raise a clear error."""
    try:
        return Metric(metric)
    except ValueError:
        raise InvalidInputError(
            f"metric must be one of {[m.value for m in Metric]}; got {metric!r}. "
            "Use 'cosine' for sentence-embedding models unless their card says otherwise."
        ) from None


def check_collection_name(name: object) -> str:
    """Validate a collection name: 1–128 chars of letters, digits, '.', '_' or '-'."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InvalidInputError(
            "collection name must be 1-128 characters of letters, digits, '.', '_' or '-', "
            f"starting with a letter or digit; got {name!r}"
        )
    return name


@dataclass(frozen=True)
class CollectionConfig:
    """Everything that defines a collection; saved as its manifest in the catalog.

    Attributes:
        name: the collection's name inside its store.
        dim: vector dimension; every stored and query vector has exactly this many components.
        metric: how vectors are compared (see :class:`Metric`).
        encoder: fingerprint of the encoder that produced the vectors (model name, backend,
            weights checksum, pooling, prompts), or ``None`` for a vectors-only collection.
            Opening the collection with a different encoder is an error, because mixing
            embedding spaces silently ruins search quality.
        indexed_fields: metadata fields with a SQLite expression index: ``get()`` / ``delete()``
            with a ``where=`` on them look rows up instead of scanning every document (~20 ms →
            < 1 ms for a selective filter on 74k documents). Searches filter on in-memory columns
            and do not use it. Costs write time and disk.
        format_version: on-disk format version that wrote this collection.
        created_by: vecnest version that created it.
        index: the approximate index kept beside the exact vectors (exact only by default).
        lexical: the analyser of the collection's lexical (BM25) index, as
            ``vecnest.lexical.AnalyzerConfig.to_json()`` (``{}``: the English default), or
            ``None`` for no lexical index (no lexical or hybrid search). Costs ~0.1 ms of
            background indexing per document and ~1 byte per term occurrence on disk.
        compression: the pipeline of compressed tiers exact searches scan (normalised string,
            see :func:`vecnest.compress.parse_pipeline`), or ``None`` for float32 scans.
    """

    name: str
    dim: int
    metric: Metric = Metric.COSINE
    encoder: dict[str, Any] | None = None
    indexed_fields: tuple[str, ...] = field(default_factory=tuple)
    format_version: int = 1
    created_by: str = ""
    index: IndexConfig | None = None
    lexical: dict[str, Any] | None = field(default_factory=dict)
    compression: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict (the manifest form)."""
        out = asdict(self)
        out["metric"] = self.metric.value
        out["indexed_fields"] = list(self.indexed_fields)
        out["index"] = (self.index or IndexConfig()).to_json()
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CollectionConfig:
        """Inverse of :meth:`to_json`."""
        return cls(
            name=data["name"],
            dim=int(data["dim"]),
            metric=Metric(data["metric"]),
            encoder=data.get("encoder"),
            indexed_fields=tuple(data.get("indexed_fields", ())),
            format_version=int(data.get("format_version", 1)),
            created_by=data.get("created_by", ""),
            index=IndexConfig.from_json(data.get("index")),
            lexical=data.get("lexical", {}),
            compression=data.get("compression"),
        )


class IndexKind(StrEnum):
    """Which search structure a collection keeps beside its exact vectors."""

    EXACT = "exact"  #: brute force over float32 rows; always exact, fine up to ~100k vectors
    HNSW = "hnsw"  #: FAISS HNSW graph over float32 vectors; best recall/QPS in RAM
    IVF = "ivf"  #: FAISS inverted lists (k-means cells) over float32 vectors; fast build
    IVF_PQ = "ivf_pq"  #: inverted lists over product-quantized codes, rescored exactly from disk


#: ``IndexConfig.delta_cap``'s default (see vecnest.index.pace).
_DEFAULT_DELTA_CAP = 40_000


@dataclass(frozen=True)
class IndexConfig:
    """Parameters of a collection's approximate index. Every search still merges in the exact
    scan of rows not yet indexed (the delta) and honours deletions immediately.

    Attributes:
        kind: the structure (see :class:`IndexKind`).
        m: HNSW links per node. More links: higher recall at a given ``ef_search``, more memory
            (``m * 2 * 4`` bytes per vector for links) and slower builds.
        ef_construction: HNSW candidate list while building. Higher: better graph, slower build.
        ef_search: HNSW candidate list at query time when no recall target applies.
        nlist: IVF cells; ``None`` picks ``4 * sqrt(n)``. More cells: faster probes, more training.
        nprobe: IVF cells visited per query when no recall target applies.
        target_recall: default recall@10 target: searches use the cheapest ``ef_search`` /
            ``nprobe`` that reached it in the build-time calibration (``None``: use the fixed
            values above). A search's own ``target_recall=`` / ``ef_search=`` wins.
        pq_m: product-quantizer sub-vectors for ``ivf_pq``, i.e. bytes per code (at 8 bits per
            sub-code); must divide ``dim``. ``None`` (the default) picks, when the collection is
            created, the divisor of ``dim`` nearest ``dim / 8`` whose sub-vectors have at most 16
            components (:func:`auto_pq_m`: 48 for 384, 32 for 256, 128 for 1024, 17 for 17),
            so every dimension works; more sub-vectors: better recall, bigger codes.
        rescore_multiplier: ``ivf_pq`` fetches ``k * rescore_multiplier`` candidates and rescores
            them with the exact float32 vectors. Measured on 74k arXiv title embeddings (48-byte
            codes, nprobe 64): recall@10 0.917 at 4, 0.957 at 10, 0.965 at 20 — below 10 the
            codes, not the probed cells, cap the recall.
        min_rows: below this many rows the index is not built; exact search is fast and exact.
        delta_limit: rows appended since the last build that are searched exactly before they
            are merged into the index (automatically after a write, or by ``optimize()``).
        delta_cap: unmerged rows at which a write is held, after its commit, for as long as
            the background merges take to index its rows (from ``delta_limit`` on, writes are
            held proportionally less): a writer cannot outrun the index and leave every search
            scanning an ever larger delta (see :mod:`vecnest.index.pace`). A cap below
            ``delta_limit`` acts as ``delta_limit``; ``None``: never paced. ``bulk()`` is not paced.
        rebuild_dead_fraction: rebuild the index from scratch when this fraction of its rows
            has been deleted or replaced, so churn never rots it.
        graph_vectors: the copy of the vectors an HNSW graph walks: ``"float16"`` (half the
            index memory; on 74k MiniLM title vectors recall@10 is the same at every
            ``ef_search`` and searches are ~5 % faster, fewer bytes per distance) or
            ``"float32"``. Scores of graph hits carry the float16 rounding (< 1e-3); exact
            scans always use the float32 segment.
    """

    kind: IndexKind = IndexKind.EXACT
    m: int = 32
    ef_construction: int = 128
    ef_search: int = 64
    nlist: int | None = None
    nprobe: int = 16
    target_recall: float | None = 0.95
    pq_m: int | None = None
    rescore_multiplier: int = 10
    min_rows: int = 5_000
    delta_limit: int = 10_000
    delta_cap: int | None = _DEFAULT_DELTA_CAP
    rebuild_dead_fraction: float = 0.25
    graph_vectors: str = "float16"

    def to_json(self) -> dict[str, Any]:
        """JSON form for the manifest (``delta_cap`` only when not the default, so a version
        of vecnest that predates it still opens the collection)."""
        out = asdict(self)
        out["kind"] = self.kind.value
        if self.delta_cap == _DEFAULT_DELTA_CAP:
            del out["delta_cap"]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> IndexConfig:
        """Inverse of :meth:`to_json` (``None``: exact). Keys this version does not know (a
        newer version's settings) are ignored: they tune, they never change what is stored."""
        if not data:
            return cls()
        known = {f.name for f in fields(cls)}
        return cls(**{**{k: v for k, v in data.items() if k in known}, "kind": IndexKind(data["kind"])})


#: Element types an HNSW graph's copy of the vectors may use.
GRAPH_VECTORS = ("float16", "float32")


def parse_index(index: str | IndexKind | IndexConfig | None) -> IndexConfig:
    """``"hnsw"`` / ``IndexConfig(...)`` / ``None`` → a validated :class:`IndexConfig`."""
    if index is None:
        return IndexConfig()
    try:
        if isinstance(index, IndexConfig):
            cfg = replace(index, kind=IndexKind(index.kind))
        else:
            cfg = IndexConfig(kind=IndexKind(index))
    except ValueError:
        raise InvalidInputError(
            f"index must be one of {[k.value for k in IndexKind]} or an IndexConfig; got {index!r}"
        ) from None
    if cfg.pq_m is not None and (isinstance(cfg.pq_m, bool) or not isinstance(cfg.pq_m, int) or cfg.pq_m < 1):
        raise InvalidInputError(f"IndexConfig.pq_m must be a positive int or None (automatic); got {cfg.pq_m!r}")
    for name in ("m", "ef_construction", "ef_search", "nprobe", "rescore_multiplier", "min_rows", "delta_limit"):
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidInputError(f"IndexConfig.{name} must be a positive int; got {value!r}")
    if cfg.delta_cap is not None and (isinstance(cfg.delta_cap, bool) or not isinstance(cfg.delta_cap, int) or cfg.delta_cap < 1):
        raise InvalidInputError(f"IndexConfig.delta_cap must be a positive int or None (never paced); got {cfg.delta_cap!r}")
    if cfg.nlist is not None and (not isinstance(cfg.nlist, int) or cfg.nlist < 1):
        raise InvalidInputError(f"IndexConfig.nlist must be a positive int or None; got {cfg.nlist!r}")
    if cfg.target_recall is not None and not 0 < cfg.target_recall <= 1:
        raise InvalidInputError(f"IndexConfig.target_recall must be in (0, 1] or None; got {cfg.target_recall!r}")
    if not 0 < cfg.rebuild_dead_fraction <= 1:
        raise InvalidInputError(
            f"IndexConfig.rebuild_dead_fraction must be in (0, 1]; got {cfg.rebuild_dead_fraction!r}"
        )
    if cfg.graph_vectors not in GRAPH_VECTORS:
        raise InvalidInputError(
            f"IndexConfig.graph_vectors must be one of {list(GRAPH_VECTORS)}; got {cfg.graph_vectors!r}"
        )
    return cfg


#: Largest product-quantizer sub-vector :func:`auto_pq_m` picks (components per sub-code).
MAX_PQ_SUBVECTOR = 16


def auto_pq_m(dim: int) -> int:
    """The ``pq_m`` for ``dim``: the divisor of ``dim`` nearest ``dim / 8`` (8 components per
    one-byte sub-code, the usual trade-off) among those leaving at most
    :data:`MAX_PQ_SUBVECTOR` components per sub-vector; ties go to the larger ``pq_m``."""
    divisors = [m for m in range(1, dim + 1) if dim % m == 0 and dim // m <= MAX_PQ_SUBVECTOR]
    return min(divisors, key=lambda m: (abs(m - dim / 8), -m))


def index_for_dim(cfg: IndexConfig, dim: int) -> IndexConfig:
    """``cfg`` with its dimension-dependent choices made for ``dim`` (an automatic ``pq_m``
    resolved), or :class:`InvalidInputError` if an explicit one does not fit ``dim``."""
    if cfg.kind is not IndexKind.IVF_PQ:
        return cfg
    if cfg.pq_m is None:
        return replace(cfg, pq_m=auto_pq_m(dim))
    if dim % cfg.pq_m:
        divisors = [m for m in range(1, dim + 1) if dim % m == 0]
        raise InvalidInputError(
            f"IndexConfig.pq_m={cfg.pq_m} must divide the dimension {dim}; its divisors are "
            f"{divisors}. Leave pq_m=None to pick {auto_pq_m(dim)} automatically"
        )
    return cfg
