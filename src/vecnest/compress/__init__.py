"""Compression tiers: declared pipelines of compressed codes with rescoring, and a memory tuner.

A pipeline such as ``"binary-rot192 > int8 > float32"`` keeps a 24-byte code per vector in RAM,
scans it for ``k × rescore_multiplier`` candidates, rescores them with int8 codes read from disk
and finally with the float32 rows of the segment. Modules, top to bottom:

- :mod:`~vecnest.compress.spec` — the pipeline grammar, parsed into frozen dataclasses;
- :mod:`~vecnest.compress.transforms`, :mod:`~vecnest.compress.codecs` — fitted transforms and
  codes (kernels in :mod:`vecnest.kernels.binary` / ``float8`` / ``rotation`` / ``adc``);
- :mod:`~vecnest.compress.storage` — immutable ``.npy`` / ``.npz`` files and a JSON manifest per
  published state; build, extend, verify, collect;
- :mod:`~vecnest.compress.maintain` — when to build, extend or rebuild after commits;
- :mod:`~vecnest.compress.searcher` — :class:`TieredIndex`, a drop-in for ``FlatIndex``
  (``search(queries, k, candidates)`` / ``rescore(queries, slots, k)``) with filters, the exact
  delta, dead slots, per-tier ``explain`` traces and measured memory;
- :mod:`~vecnest.compress.memory` — resident-memory measurement (rows are read with the
  positioned reads of :mod:`vecnest.store.rowio`, never mapped);
- :mod:`~vecnest.compress.tune` — evaluate candidates on the collection's own data, draw the
  Pareto front, pick under a RAM budget or a quality floor.

Integration (the collection and the planner):

- catalog state per collection: the declared pipeline string (its manifest config) and a
  :class:`~vecnest.compress.maintain.TierState` (``manifest`` file name, ``upto``), committed
  together after the files are published; the files live in the segments folder;
- write path: after a commit, ``maintain.bring_up_to_date(dir, pipeline, state, vectors,
  alive=..., l2=..., generation=...)`` → record the returned state; when no snapshot maps an
  old state, ``storage.remove_unreferenced(dir, keep=[live manifests])``;
- snapshot: ``open_tiers(dir, state.manifest, vectors, alive, l2=..., generation=...)`` once per
  snapshot; the planner calls ``search(queries, k, match, rescore_multiplier=..., tiers=...,
  trace=...)`` where it would call ``FlatIndex.search``;
- ``vecnest check``: ``storage.verify(dir, name, pipeline=..., dim=..., generation=...,
  n_slots=...)`` returns the problems (empty: sound); a damaged state is bypassed (exact search
  answers) and rebuilt with ``bring_up_to_date(..., force=Action.BUILD)``;
- ``collection.stats()``: ``TieredIndex.memory()``; ``vecnest tune``: :mod:`vecnest.cli.tune`.
"""

from __future__ import annotations

from vecnest.compress.maintain import Action, TierState, bring_up_to_date, plan
from vecnest.compress.searcher import StageTrace, TieredIndex, open_tiers
from vecnest.compress.spec import CodeKind, PipelineSpec, Scoring, TierSpec, TransformKind, parse_pipeline
from vecnest.compress.storage import TierManifest, build, extend, read_manifest, remove_unreferenced, verify

__all__ = [
    "Action",
    "CodeKind",
    "PipelineSpec",
    "Scoring",
    "StageTrace",
    "TierManifest",
    "TierSpec",
    "TierState",
    "TieredIndex",
    "TransformKind",
    "bring_up_to_date",
    "build",
    "extend",
    "open_tiers",
    "parse_pipeline",
    "plan",
    "read_manifest",
    "remove_unreferenced",
    "verify",
]
