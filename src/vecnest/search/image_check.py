"""The check and repair of a collection's snapshot image (a :class:`~vecnest.store.check.DerivedCheck`).

The catalog's ``image_state`` row names the image file (``c<cid>.image.<rows>.<token>.arrays``)
and what it covers. The check loads it whole (every column) and compares its live slots with the
catalog's: every slot the image holds is below the committed rows, and the live rows it covers
that are still live are all in it (rows deleted since are expected: snapshots find them by a
count). A failure is ``damaged``: snapshots bypass an image they cannot load, and the repair
writes a new one.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from vecnest.search.image import image_readable, load_image, read_image_state
from vecnest.store.check import CollectionContext
from vecnest.store.layout import SegmentsEntry
from vecnest.store.report import Finding, Severity

_IMAGE = re.compile(r"image\.\d+\.[0-9a-f]+\.arrays")


class ImageCheck:
    """The snapshot image's :class:`~vecnest.store.check.DerivedCheck`."""

    name = "image"

    def owns(self, entry: SegmentsEntry) -> bool:
        """Image files."""
        return _IMAGE.fullmatch(entry.rest) is not None

    def referenced(self, ctx: CollectionContext) -> set[str]:
        """The image file the catalog names, if any."""
        state = read_image_state(ctx.conn, ctx.cid)
        return {state.file} if state else set()

    def check(self, ctx: CollectionContext) -> list[Finding]:
        """See the module docstring."""
        state = read_image_state(ctx.conn, ctx.cid)
        if state is None:
            return []
        path = ctx.segments_dir / state.file
        problem = image_readable(path)
        if problem is None:
            image = load_image(path)
            if state.generation != ctx.state.generation:
                problem = f"it is of segment generation {state.generation}, the catalog of {ctx.state.generation}"
            elif image.n_slots > ctx.state.n_slots or (len(image.live) and int(image.live[-1]) >= ctx.state.n_slots):
                problem = f"it covers {image.n_slots} slots, only {ctx.state.n_slots} are committed"
            else:
                still = ctx.live_slots[ctx.live_slots < image.n_slots]
                absent = np.setdiff1d(still, image.live, assume_unique=True)
                if len(absent):
                    problem = f"{len(absent)} live rows it covers are missing from it (first slot {int(absent[0])})"
        if problem:
            return [Finding(self.name, Severity.DAMAGED, f"image {state.file}: {problem}; snapshots bypass it, --repair rewrites it")]
        return [Finding(self.name, Severity.OK, f"image of {state.n_slots} slots with columns {', '.join(state.fields) or 'none'}")]

    def repair(self, collection: Any) -> Finding:
        """Write a new image from the current state."""
        name = collection._maint.images.refresh(wait=None)
        return Finding(self.name, Severity.DAMAGED, f"rewrote the image ({name or 'not needed at this size'})", repaired=True)
