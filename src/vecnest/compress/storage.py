"""Code tiers on disk: fitted parameters and codes as ``.npy`` / ``.npz`` files plus a JSON manifest.

A build gets a random ``token``; every file it ever writes carries it, so names are never reused::

    tiers-<token>-<seq>.json              the manifest of one published state (seq = 1, 2, ...)
    tiers-<token>.<key>.params.npz        fitted transform and code arrays of one stored code
    tiers-<token>.<key>.<lo>-<hi>.npy     codes of rows [lo, hi) of that code, immutable

Publishing writes every new file to a temporary name, fsyncs it, renames it and fsyncs the
directory; the manifest goes last, the same way. The caller records the manifest's name (in its
catalog, in the same transaction as what the codes cover): a crash at any point leaves the
previous manifest and its files intact, plus orphans that :func:`remove_unreferenced` deletes.

Appended rows are coded by :func:`extend` into a new part (never rewriting an old one); once a
code has more than :data:`MAX_PARTS` parts they are merged into one new file. Changing the
pipeline means a new :func:`build` (a new token) from the full-precision vectors.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from vecnest._version import __version__
from vecnest.compress.codecs import Codec
from vecnest.store.rowio import read_rows
from vecnest.compress.spec import PipelineSpec, parse_pipeline, parse_tier
from vecnest.errors import InvalidInputError, TierIntegrityError
from vecnest.store.manifest import atomic_write_json, fsync_dir

FORMAT_VERSION = 1
_KIND = "vecnest-tiers"
#: Parts of one code before :func:`extend` merges them into one file.
MAX_PARTS = 8
#: Rows fitted on (a random sample of the live rows when there are more).
FIT_ROWS = 65_536
#: Rows encoded at once.
ENCODE_BLOCK = 65_536
#: Fewest live rows codes are fitted on (PQ's k-means needs 256 per sub-quantizer; ranges and
#: rotations fitted on fewer would not represent the collection).
MIN_FIT_ROWS = 256
_MANIFEST_RE = re.compile(r"^tiers-([0-9a-f]{16})-(\d{6})\.json$")

Progress = Callable[[int], None]


@dataclass(frozen=True)
class FileRef:
    """One file of a manifest, with what it must be."""

    file: str
    bytes: int
    sha256: str


@dataclass(frozen=True)
class Part(FileRef):
    """Codes of rows ``[lo, hi)``."""

    lo: int = 0
    hi: int = 0


@dataclass(frozen=True)
class StoredCode:
    """One stored code: its tier spec, code size, fitted parameters and parts in row order."""

    key: str
    code_size: int
    params: FileRef
    parts: tuple[Part, ...] = ()


@dataclass(frozen=True)
class TierManifest:
    """A published state of a collection's code tiers.

    Attributes:
        name: the manifest's file name (what the catalog records).
        token: the build's unique token.
        seq: publish counter within the build.
        pipeline: the pipeline string, canonical form.
        dim: vector dimension.
        l2: scored by L2 distance (else inner product).
        generation: the segment generation the codes were computed from.
        upto: rows ``[0, upto)`` are coded; later rows are the delta.
        codes: stored codes by key.
        fit: how the codes were fitted (rows, seed, row count then).
    """

    name: str
    token: str
    seq: int
    pipeline: str
    dim: int
    l2: bool
    generation: int
    upto: int
    codes: dict[str, StoredCode] = field(default_factory=dict)
    fit: dict[str, Any] = field(default_factory=dict)
    created_by: str = f"vecnest {__version__}"

    @property
    def spec(self) -> PipelineSpec:
        """The parsed pipeline."""
        return parse_pipeline(self.pipeline, self.dim)

    def files(self) -> list[str]:
        """Every file this manifest needs (itself included)."""
        out = [self.name]
        for c in self.codes.values():
            out.append(c.params.file)
            out.extend(p.file for p in c.parts)
        return out

    def disk_bytes(self) -> dict[str, int]:
        """Bytes on disk of each stored code (parameters and parts)."""
        return {k: c.params.bytes + sum(p.bytes for p in c.parts) for k, c in self.codes.items()}

    def to_json(self) -> dict[str, Any]:
        """The manifest's JSON form."""
        out = asdict(self)
        out.pop("name")
        out["format"] = _KIND
        out["format_version"] = FORMAT_VERSION
        return out

    @classmethod
    def from_json(cls, name: str, data: dict[str, Any]) -> TierManifest:
        """Inverse of :meth:`to_json`.

        Raises:
            TierIntegrityError: not a tiers manifest, or written by a newer format.
        """
        if data.get("format") != _KIND:
            raise TierIntegrityError(f"{name} is not a vecnest tiers manifest (no 'format': '{_KIND}')")
        if data.get("format_version") != FORMAT_VERSION:
            raise TierIntegrityError(f"{name} has tiers format_version {data.get('format_version')!r}; this vecnest reads {FORMAT_VERSION}. Rebuild the tiers")
        codes = {
            k: StoredCode(k, int(c["code_size"]), FileRef(**c["params"]), tuple(Part(**p) for p in c["parts"]))
            for k, c in data["codes"].items()
        }
        return cls(
            name=name,
            token=data["token"],
            seq=int(data["seq"]),
            pipeline=data["pipeline"],
            dim=int(data["dim"]),
            l2=bool(data["l2"]),
            generation=int(data["generation"]),
            upto=int(data["upto"]),
            codes=codes,
            fit=dict(data.get("fit", {})),
            created_by=data.get("created_by", ""),
        )


# ---------------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------------


def _safe(key: str) -> str:
    return re.sub(r"[^a-z0-9-]", "_", key)


def _publish(path: Path, payload: bytes) -> FileRef:
    """Write ``payload`` to ``path`` (temp, fsync, rename; the caller fsyncs the directory)."""
    if path.exists():
        raise TierIntegrityError(f"{path} already exists; tier file names are never reused")
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(payload)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return FileRef(path.name, len(payload), hashlib.sha256(payload).hexdigest())


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def _sample_rows(n: int, alive: np.ndarray | None, fit_rows: int, rng: np.random.Generator) -> np.ndarray:
    rows = np.flatnonzero(alive[:n]) if alive is not None else np.arange(n)
    if len(rows) > fit_rows:
        rows = np.sort(rng.choice(rows, size=fit_rows, replace=False))
    return rows


def _encode_part(directory: Path, token: str, key: str, codec: Codec, vectors: np.ndarray, lo: int, hi: int, progress: Progress | None) -> Part:
    codes = np.empty((hi - lo, codec.code_size), dtype=np.uint8)
    for a in range(lo, hi, ENCODE_BLOCK):
        b = min(hi, a + ENCODE_BLOCK)
        codes[a - lo : b - lo] = codec.encode(read_rows(vectors, lo=a, hi=b))
        if progress is not None:
            progress(b - a)
    ref = _publish(directory / f"tiers-{token}.{_safe(key)}.{lo}-{hi}.npy", _npy_bytes(codes))
    return Part(ref.file, ref.bytes, ref.sha256, lo, hi)


def build(
    directory: Path,
    pipeline: str | PipelineSpec,
    vectors: np.ndarray,
    *,
    l2: bool,
    generation: int,
    alive: np.ndarray | None = None,
    fit_rows: int = FIT_ROWS,
    seed: int = 0,
    progress: Progress | None = None,
) -> TierManifest:
    """Fit and encode every stored code of ``pipeline`` over all rows of ``vectors``; publish.

    Args:
        directory: where the files go (created if missing).
        pipeline: the pipeline (validated against the vectors' dimension).
        vectors: ``(n_slots, dim) float32`` (the segment's map); rows ``[0, n_slots)`` are coded.
        l2: the collection scores by L2 distance.
        generation: the segment generation, recorded for :func:`open_tiers` to check.
        alive: ``(n_slots,) bool``: fit on live rows only (dead rows are still coded).
        fit_rows: fit on a random sample of at most this many rows.
        seed: seeds the sample, random rotations and k-means.
        progress: called with the number of rows encoded after each block (all codes summed).

    Returns:
        The published manifest; record ``manifest.name``.
    """
    n, dim = vectors.shape
    spec = parse_pipeline(pipeline, dim)
    directory.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(8)
    rng = np.random.default_rng(seed)
    rows = _sample_rows(n, alive, fit_rows, rng)
    if len(rows) < MIN_FIT_ROWS:
        raise InvalidInputError(
            f"compression tiers are fitted on at least {MIN_FIT_ROWS} live rows; the collection has {len(rows)}. "
            "Until it has more, exact search answers (the tiers are built automatically once it does)"
        )
    sample = read_rows(vectors, rows)
    codes: dict[str, StoredCode] = {}
    for key, tier in spec.stored().items():
        codec = Codec.fit(tier, sample, rng)
        params = _publish(directory / f"tiers-{token}.{_safe(key)}.params.npz", _npz_bytes(codec.arrays()))
        parts = (_encode_part(directory, token, key, codec, vectors, 0, n, progress),) if n else ()
        codes[key] = StoredCode(key, codec.code_size, params, parts)
    manifest = TierManifest(
        name=f"tiers-{token}-{1:06d}.json",
        token=token,
        seq=1,
        pipeline=str(spec),
        dim=dim,
        l2=l2,
        generation=generation,
        upto=n,
        codes=codes,
        fit={"rows": int(len(rows)), "seed": seed, "n_slots": n},
    )
    return _publish_manifest(directory, manifest)


def _publish_manifest(directory: Path, manifest: TierManifest) -> TierManifest:
    fsync_dir(directory)  # the parts and parameters first
    path = directory / manifest.name
    if path.exists():
        raise TierIntegrityError(f"{path} already exists; tier file names are never reused")
    atomic_write_json(path, manifest.to_json())
    return manifest


def load_codec(directory: Path, manifest: TierManifest, tier_text: str) -> Codec:
    """The fitted codec of one tier (``tier_text`` as in the pipeline) from its parameter file."""
    tier = parse_tier(tier_text)
    stored = manifest.codes[tier.key]
    path = directory / stored.params.file
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise TierIntegrityError(f"cannot read tier parameters {path}: {exc}; rebuild the tiers") from exc
    return Codec.from_arrays(tier, manifest.dim, arrays)


def extend(directory: Path, manifest: TierManifest, vectors: np.ndarray, *, progress: Progress | None = None) -> TierManifest:
    """Code rows ``[manifest.upto, len(vectors))`` with the fitted codecs and publish a new
    manifest (parts merged once there are more than :data:`MAX_PARTS`). Returns ``manifest``
    unchanged when there is nothing new."""
    n = vectors.shape[0]
    if n <= manifest.upto:
        return manifest
    codes: dict[str, StoredCode] = {}
    for key, stored in manifest.codes.items():
        codec = load_codec(directory, manifest, key)
        part = _encode_part(directory, manifest.token, key, codec, vectors, manifest.upto, n, progress)
        parts = (*stored.parts, part)
        if len(parts) > MAX_PARTS:
            merged = np.concatenate([read_part(directory, p, stored.code_size) for p in parts])
            ref = _publish(directory / f"tiers-{manifest.token}.{_safe(key)}.0-{n}.m{manifest.seq + 1}.npy", _npy_bytes(merged))
            parts = (Part(ref.file, ref.bytes, ref.sha256, 0, n),)
        codes[key] = replace(stored, parts=parts)
    seq = manifest.seq + 1
    return _publish_manifest(directory, replace(manifest, name=f"tiers-{manifest.token}-{seq:06d}.json", seq=seq, upto=n, codes=codes))


# ---------------------------------------------------------------------------------------------
# reading, checking, collecting
# ---------------------------------------------------------------------------------------------


def read_manifest(directory: Path, name: str) -> TierManifest:
    """Read a published manifest.

    Raises:
        TierIntegrityError: missing, unreadable or not a tiers manifest.
    """
    path = directory / name
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TierIntegrityError(f"cannot read tiers manifest {path}: {exc}; rebuild the tiers") from exc
    return TierManifest.from_json(name, data)


def read_part(directory: Path, part: Part, code_size: int, *, mmap: bool = False) -> np.ndarray:
    """``(hi - lo, code_size) uint8`` codes of one part (``mmap``: a read-only map)."""
    path = directory / part.file
    try:
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise TierIntegrityError(f"cannot read tier codes {path}: {exc}; rebuild the tiers") from exc
    if arr.dtype != np.uint8 or arr.shape != (part.hi - part.lo, code_size):
        raise TierIntegrityError(f"{path} holds {arr.dtype} {arr.shape}, expected uint8 ({part.hi - part.lo}, {code_size}); rebuild the tiers")
    return arr


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def verify(
    directory: Path,
    name: str,
    *,
    pipeline: str | None = None,
    dim: int | None = None,
    generation: int | None = None,
    n_slots: int | None = None,
    deep: bool = True,
) -> list[str]:
    """Problems with a published tier state (empty: sound). For ``vecnest check``.

    Checks the manifest, that it matches the collection (``pipeline``, ``dim``, ``generation``,
    and ``upto <= n_slots`` when given), that every code's parts cover ``[0, upto)`` in order,
    and each file's size and (``deep``) SHA-256, and that every parameter file loads.
    """
    try:
        m = read_manifest(directory, name)
    except TierIntegrityError as exc:
        return [str(exc)]
    problems: list[str] = []
    if pipeline is not None and str(parse_pipeline(pipeline)) != m.pipeline:
        problems.append(f"{name}: pipeline {m.pipeline!r}, but the collection declares {str(parse_pipeline(pipeline))!r}")
    if dim is not None and m.dim != dim:
        problems.append(f"{name}: dim {m.dim}, collection {dim}")
    if generation is not None and m.generation != generation:
        problems.append(f"{name}: codes of segment generation {m.generation}, collection is at {generation}")
    if n_slots is not None and m.upto > n_slots:
        problems.append(f"{name}: codes cover {m.upto} rows, the segment has {n_slots}")
    try:
        wanted = set(m.spec.stored())
    except Exception as exc:  # noqa: BLE001 - any parse failure is a problem to report
        return [*problems, f"{name}: pipeline {m.pipeline!r} does not parse: {exc}"]
    if wanted != set(m.codes):
        problems.append(f"{name}: stores codes {sorted(m.codes)}, the pipeline needs {sorted(wanted)}")
    for key, code in m.codes.items():
        edge = 0
        for p in code.parts:
            if p.lo != edge:
                problems.append(f"{name}: code {key!r} part {p.file} starts at row {p.lo}, expected {edge}")
            edge = p.hi
        if edge != m.upto:
            problems.append(f"{name}: code {key!r} covers rows [0, {edge}), the manifest says [0, {m.upto})")
        for ref in (code.params, *code.parts):
            path = directory / ref.file
            if not path.is_file():
                problems.append(f"{name}: missing file {ref.file}")
                continue
            if path.stat().st_size != ref.bytes:
                problems.append(f"{name}: {ref.file} has {path.stat().st_size} bytes, expected {ref.bytes}")
            elif deep and _sha256(path) != ref.sha256:
                problems.append(f"{name}: {ref.file} checksum differs from the manifest")
        if not problems:
            try:
                load_codec(directory, m, key)
            except Exception as exc:  # noqa: BLE001 - reported, not raised
                problems.append(f"{name}: parameters of {key!r} do not load: {exc}")
    return problems


def manifests(directory: Path) -> list[str]:
    """Names of the tier manifests in ``directory`` (oldest build and seq first)."""
    if not directory.is_dir():
        return []
    return sorted(p.name for p in directory.iterdir() if _MANIFEST_RE.match(p.name))


def remove_unreferenced(directory: Path, keep: Iterable[str]) -> list[str]:
    """Delete tier files that no manifest in ``keep`` needs (leftovers of replaced states and of
    interrupted builds, ``.tmp`` files included); returns the names removed.

    Call it only when no open reader can still use the removed states.
    """
    needed: set[str] = set()
    for name in keep:
        needed.update(read_manifest(directory, name).files())
    removed = []
    for p in directory.iterdir() if directory.is_dir() else ():
        if p.name.startswith("tiers-") and p.name not in needed:
            p.unlink(missing_ok=True)
            removed.append(p.name)
    if removed:
        fsync_dir(directory)
    return sorted(removed)
