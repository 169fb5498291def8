"""Compression tiers: declared pipelines of compressed codes with rescoring, and a memory tuner.

A pipeline such as ``"binary-rot192 > int8 > float32"`` keeps a 24-byte code per vector in RAM,
scans it for ``k × rescore_multiplier`` candidates, rescores them with int8 codes read from disk
and finally with the float32 rows of the segment. See :mod:`vecnest.compress.spec` for the
grammar, :mod:`vecnest.compress.storage` for the files, :mod:`vecnest.compress.searcher` for
the search, and :mod:`vecnest.compress.tune` for picking a pipeline under a memory budget.
"""

from __future__ import annotations

from vecnest.compress.searcher import StageTrace, TieredIndex, open_tiers
from vecnest.compress.spec import CodeKind, PipelineSpec, Scoring, TierSpec, TransformKind, parse_pipeline
from vecnest.compress.storage import TierManifest, build, extend, read_manifest, remove_unreferenced, verify

__all__ = [
    "CodeKind",
    "PipelineSpec",
    "Scoring",
    "StageTrace",
    "TierManifest",
    "TierSpec",
    "TieredIndex",
    "TransformKind",
    "build",
    "extend",
    "open_tiers",
    "parse_pipeline",
    "read_manifest",
    "remove_unreferenced",
    "verify",
]
