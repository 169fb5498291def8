"""The declared compression pipeline: a string such as ``"binary-rot192 > int8 > float32"`` parsed
into frozen dataclasses, validated against the collection's dimension, and printed back the same.

Grammar (one tier per ``>``, the first tier held in RAM, the others read from disk)::

    pipeline  := tier ( ">" tier )*
    tier      := code [ "-" transform [ dims ] ] [ "/" scoring ] [ "@" keep ]
    code      := "float32" | "float16" | "float8" | "int8" | "binary" | "pq" M | "opq" M
    transform := "pca" | "rot" | "itq" | "mrl"
    scoring   := "hamming" | "asym"          (binary tiers only)

``M`` is the number of PQ sub-quantizers (one byte each); ``dims`` keeps that many output
dimensions (all when omitted); ``keep`` is how many times ``k`` candidates the tier hands to the
next one (the first tier's is the search-time ``rescore_multiplier``; later tiers default to
:data:`DEFAULT_KEEP`). ``float32`` is the collection's own segment: it may only be the last tier
and takes no transform. A binary tier ranks but cannot score, so it never ends a pipeline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import StrEnum

from vecnest.errors import CompressionConfigError

#: Candidates an intermediate tier keeps, as a multiple of ``k``.
DEFAULT_KEEP = 2
#: The first tier's candidates as a multiple of ``k`` when neither the pipeline nor the search says.
DEFAULT_RESCORE_MULTIPLIER = 10


class CodeKind(StrEnum):
    """How a tier stores each vector (bytes per vector for ``d`` dimensions in brackets)."""

    FLOAT32 = "float32"  #: the segment itself (4d): exact scores, read from disk
    FLOAT16 = "float16"  #: IEEE half (2d): relative error 2^-11, FAISS ``QT_fp16`` scans it
    FLOAT8 = "float8"  #: E4M3 with a per-dimension scale (d): relative error 2^-4
    INT8 = "int8"  #: per-dimension calibrated range, 256 levels (d): FAISS ``QT_8bit``
    BINARY = "binary"  #: the sign of each dimension (d/8): Hamming popcount or asymmetric dot
    PQ = "pq"  #: product quantization, M sub-quantizers of 256 centroids (M)
    OPQ = "opq"  #: PQ after a learned rotation (M)


class TransformKind(StrEnum):
    """What is done to the (centred) vectors before they are coded."""

    NONE = "none"  #: centring only
    PCA = "pca"  #: principal axes, optionally truncated (low-variance axes dropped)
    ROT = "rot"  #: PCA then a seeded random rotation: every coordinate gets equal variance
    ITQ = "itq"  #: PCA then the ITQ rotation learned to minimise the binarisation error
    MRL = "mrl"  #: Matryoshka truncation: the first ``dims`` coordinates (models trained for it)


class Scoring(StrEnum):
    """How a binary tier compares a query with its codes."""

    HAMMING = "hamming"  #: the query's sign bits, popcount of the XOR (fastest)
    ASYM = "asym"  #: the float query against the ±1 code (more accurate, ~10x the work)


_TIER_RE = re.compile(
    r"^(?P<code>[a-z]+?)(?P<m>\d+)?(?:-(?P<tr>[a-z]+)(?P<dims>\d+)?)?(?:/(?P<sc>[a-z]+))?(?:@(?P<keep>\d+))?$"
)


@dataclass(frozen=True)
class TierSpec:
    """One tier of a pipeline.

    Attributes:
        code: how vectors are stored (see :class:`CodeKind`).
        transform: what is applied before coding (see :class:`TransformKind`).
        dims: output dimensions of the transform (``None``: all of them). Fewer dimensions cost
            fewer bytes and lose the dropped axes' share of the score.
        pq_m: PQ sub-quantizers (bytes per vector) for ``pq`` / ``opq``; must divide ``dims``.
        scoring: binary tiers only: :class:`Scoring` (default Hamming when first, asymmetric
            when rescoring).
        keep: candidates handed to the next tier as a multiple of ``k`` (``None``: the default).
    """

    code: CodeKind
    transform: TransformKind = TransformKind.NONE
    dims: int | None = None
    pq_m: int | None = None
    scoring: Scoring | None = None
    keep: int | None = None

    @property
    def key(self) -> str:
        """The stored code this tier reads (tiers with the same key share one set of files)."""
        code = f"{self.code.value}{self.pq_m or ''}"
        if self.transform is TransformKind.NONE and self.dims is None:
            return code
        return f"{code}-{self.transform.value}{self.dims or ''}"

    def __str__(self) -> str:
        out = self.key
        if self.scoring is not None:
            out += f"/{self.scoring.value}"
        if self.keep is not None:
            out += f"@{self.keep}"
        return out

    def out_dims(self, dim: int) -> int:
        """Dimensions the code sees for ``dim``-dimensional vectors."""
        return self.dims if self.dims is not None else dim

    def code_size(self, dim: int) -> int:
        """Bytes per vector of this tier's code for ``dim``-dimensional vectors."""
        d = self.out_dims(dim)
        if self.code in (CodeKind.PQ, CodeKind.OPQ):
            return int(self.pq_m or 0)
        return {
            CodeKind.FLOAT32: 4 * d,
            CodeKind.FLOAT16: 2 * d,
            CodeKind.FLOAT8: d,
            CodeKind.INT8: d,
            CodeKind.BINARY: d // 8,
        }[self.code]


@dataclass(frozen=True)
class PipelineSpec:
    """A parsed pipeline: tiers in order, the first in RAM, the rest read from disk.

    Attributes:
        tiers: the tiers (at least one).
    """

    tiers: tuple[TierSpec, ...] = field(default_factory=tuple)

    def __str__(self) -> str:
        return " > ".join(str(t) for t in self.tiers)

    @property
    def first(self) -> TierSpec:
        """The tier scanned in RAM."""
        return self.tiers[0]

    def stored(self) -> dict[str, TierSpec]:
        """The codes this pipeline stores, by key, in tier order (``float32`` is the segment)."""
        out: dict[str, TierSpec] = {}
        for t in self.tiers:
            if t.code is not CodeKind.FLOAT32:
                out.setdefault(t.key, t)
        return out

    def ram_bytes_per_vector(self, dim: int) -> int:
        """Bytes per vector the first tier keeps in RAM (its code size)."""
        return self.first.code_size(dim)

    def validate(self, dim: int) -> PipelineSpec:
        """Check the pipeline against ``dim``-dimensional vectors; returns ``self``.

        Raises:
            CompressionConfigError: dimensions beyond ``dim``, sizes that do not divide, a
                ``float32`` tier that is not last, a binary tier at the end, ...
        """
        if not self.tiers:
            raise CompressionConfigError("a compression pipeline needs at least one tier, e.g. 'binary-rot384 > float32'")
        for i, t in enumerate(self.tiers):
            d = t.out_dims(dim)
            if d < 1 or d > dim:
                raise CompressionConfigError(
                    f"tier {str(t)!r} keeps {d} dimensions, but the vectors have {dim}; use at most {dim} (e.g. '{t.code.value}-pca{min(dim, 192)}')"
                )
            if t.code is CodeKind.FLOAT32:
                if t.transform is not TransformKind.NONE or t.dims is not None:
                    raise CompressionConfigError(f"'float32' reads the stored vectors as they are and takes no transform; got {str(t)!r}")
                if i != len(self.tiers) - 1:
                    raise CompressionConfigError(f"'float32' (the stored vectors, read from disk) can only be the last tier; got {str(self)!r}")
            if t.code is CodeKind.BINARY and d % 8:
                raise CompressionConfigError(f"binary tier {str(t)!r} needs a multiple of 8 dimensions; got {d}")
            if t.code in (CodeKind.PQ, CodeKind.OPQ):
                if not t.pq_m or d % t.pq_m:
                    raise CompressionConfigError(
                        f"PQ tier {str(t)!r}: the number of sub-quantizers ({t.pq_m}) must divide its {d} dimensions (e.g. {_divisor_hint(d)})"
                    )
            if t.scoring is not None and t.code is not CodeKind.BINARY:
                raise CompressionConfigError(f"only binary tiers take a scoring ('/hamming' or '/asym'); got {str(t)!r}")
        if self.tiers[-1].code is CodeKind.BINARY:
            raise CompressionConfigError(
                f"a binary tier ranks candidates but gives no usable scores, so it cannot end a pipeline; got {str(self)!r}. "
                "Add a scoring tier, e.g. '" + str(self) + " > float32'"
            )
        return self

    def with_first_keep(self, keep: int) -> PipelineSpec:
        """The same pipeline with the first tier handing on ``keep × k`` candidates."""
        return PipelineSpec((replace(self.tiers[0], keep=keep), *self.tiers[1:]))


def _divisor_hint(d: int) -> str:
    divisors = [m for m in (8, 12, 16, 24, 32, 48, 64, 96) if d % m == 0]
    return "pq" + str(divisors[-1] if divisors else 1)


def parse_tier(text: str) -> TierSpec:
    """Parse one tier, e.g. ``"binary-rot192/asym@4"``.

    Raises:
        CompressionConfigError: an unknown code, transform or scoring, or a malformed token.
    """
    token = text.strip().lower()
    m = _TIER_RE.match(token)
    codes = ", ".join(c.value for c in CodeKind if c not in (CodeKind.PQ, CodeKind.OPQ)) + ", pq<M>, opq<M>"
    if m is None:
        raise CompressionConfigError(
            f"cannot read tier {text!r}; expected code[-transform[dims]][/scoring][@keep] with code one of {codes}, e.g. 'binary-rot192' or 'int8'"
        )
    name, digits = m["code"], m["m"]
    if name in ("float", "int") and digits is not None:  # the digits are part of the name
        name, digits = name + digits, None
    try:
        code = CodeKind(name)
    except ValueError:
        raise CompressionConfigError(f"unknown code {name!r} in tier {text!r}; expected one of {codes}") from None
    pq_m = None
    if code in (CodeKind.PQ, CodeKind.OPQ):
        if digits is None or int(digits) < 1:
            raise CompressionConfigError(f"PQ tier {text!r} needs its number of sub-quantizers (bytes per vector), e.g. 'opq48'")
        pq_m = int(digits)
    elif digits is not None:
        raise CompressionConfigError(f"unknown code {name + digits!r} in tier {text!r}; expected one of {codes}")
    transform = TransformKind.NONE
    dims = None
    if m["tr"] is not None:
        try:
            transform = TransformKind(m["tr"])
        except ValueError:
            kinds = ", ".join(t.value for t in TransformKind if t is not TransformKind.NONE)
            raise CompressionConfigError(f"unknown transform {m['tr']!r} in tier {text!r}; expected one of {kinds}, e.g. 'binary-rot192'") from None
        if transform is TransformKind.NONE:
            raise CompressionConfigError(f"write {code.value!r} without '-none' (centring is always applied); got {text!r}")
        dims = int(m["dims"]) if m["dims"] is not None else None
        if dims is not None and dims < 1:
            raise CompressionConfigError(f"tier {text!r} keeps {dims} dimensions; keep at least 1")
    scoring = None
    if m["sc"] is not None:
        try:
            scoring = Scoring(m["sc"])
        except ValueError:
            raise CompressionConfigError(f"unknown scoring {m['sc']!r} in tier {text!r}; expected 'hamming' or 'asym'") from None
    keep = int(m["keep"]) if m["keep"] is not None else None
    if keep is not None and keep < 1:
        raise CompressionConfigError(f"tier {text!r} keeps @{keep} × k candidates; use @1 or more")
    return TierSpec(code=code, transform=transform, dims=dims, pq_m=pq_m, scoring=scoring, keep=keep)


def parse_pipeline(text: str | PipelineSpec, dim: int | None = None) -> PipelineSpec:
    """Parse ``"binary-rot192 > int8 > float32"`` into a :class:`PipelineSpec`.

    Args:
        text: the pipeline string (or an already parsed spec).
        dim: the vectors' dimension; when given the pipeline is validated against it.

    Raises:
        CompressionConfigError: the string or one of its tiers is malformed or does not fit.
    """
    if isinstance(text, PipelineSpec):
        spec = text
    else:
        if not isinstance(text, str) or not text.strip():
            raise CompressionConfigError(f"a compression pipeline is a string like 'binary-rot192 > int8 > float32'; got {text!r}")
        spec = PipelineSpec(tuple(parse_tier(part) for part in text.split(">")))
    if dim is not None:
        spec.validate(dim)
    return spec
