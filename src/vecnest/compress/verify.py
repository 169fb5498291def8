"""The check and repair of a collection's compression tiers (a :class:`~vecnest.store.check.DerivedCheck`).

The tiers live in the collection's folder ``segments/c<cid>.tiers/``; the catalog's ``tier_state``
names the current manifest. The check runs :func:`vecnest.compress.storage.verify` on it (sizes,
SHA-256 of every file, parts covering the coded rows, the declared pipeline, dimension and
segment generation, parameters that load). A failure is ``damaged``: snapshots then scan
float32 exactly, and the repair rebuilds the tiers from the float32 vectors.
"""

from __future__ import annotations

from typing import Any

from vecnest.compress import storage
from vecnest.compress.catalog import read_tier_state, tiers_dir
from vecnest.compress.maintain import Action
from vecnest.store.check import CollectionContext
from vecnest.store.layout import SegmentsEntry
from vecnest.store.report import Finding, Severity


class TierCheck:
    """The compression tiers' :class:`~vecnest.store.check.DerivedCheck`."""

    name = "tiers"

    def owns(self, entry: SegmentsEntry) -> bool:
        """The tiers folder (``c<cid>.tiers``)."""
        return entry.rest == "tiers"

    def referenced(self, ctx: CollectionContext) -> set[str]:
        """The tiers folder, while the collection declares a pipeline or has tiers recorded."""
        if ctx.config.compression is None and read_tier_state(ctx.conn, ctx.cid).manifest is None:
            return set()
        return {tiers_dir(ctx.segments_dir, ctx.cid).name}

    def check(self, ctx: CollectionContext) -> list[Finding]:
        """See the module docstring."""
        state = read_tier_state(ctx.conn, ctx.cid)
        pipeline = ctx.config.compression
        if state.manifest is None:
            if pipeline is not None and len(ctx.live_slots) >= 5000:
                return [Finding(self.name, Severity.NOTE, f"no tiers coded yet for {pipeline!r} (exact scans use float32 until they are)")]
            return []
        if pipeline is None:
            return [Finding(self.name, Severity.NOTE, f"tiers {state.manifest} are recorded but the collection declares none (never used)")]
        folder = tiers_dir(ctx.segments_dir, ctx.cid)
        problems = storage.verify(
            folder, state.manifest, dim=ctx.config.dim, generation=ctx.state.generation, n_slots=ctx.state.n_slots,
        )
        if problems:
            return [Finding(self.name, Severity.DAMAGED, f"tiers {state.manifest}: " + "; ".join(problems)[:400] + "; searches scan float32 until --repair rebuilds them")]
        coded = storage.read_manifest(folder, state.manifest).pipeline
        ok = Finding(self.name, Severity.OK, f"tiers {coded!r} code {state.upto} rows ({ctx.state.n_slots - state.upto} newer rows scanned in float32)")
        if coded != pipeline:  # a pipeline change maintenance has not finished (or a kill cut short)
            return [ok, Finding(self.name, Severity.NOTE, f"the collection now declares {pipeline!r}: the tiers of {coded!r} serve until maintenance rebuilds them")]
        return [ok]

    def repair(self, collection: Any) -> Finding:
        """Rebuild the tiers from the float32 vectors."""
        maintainer = collection._maint.tiers
        if maintainer is None:
            return Finding(self.name, Severity.NOTE, "no compression declared", repaired=True)
        what = maintainer.run_if_needed(force=Action.BUILD, wait=None)
        return Finding(self.name, Severity.DAMAGED, f"rebuilt the tiers ({what})", repaired=True)
