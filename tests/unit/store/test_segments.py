from __future__ import annotations

from pathlib import Path

import numpy as np

from vecnest.store.segments import Segment


def test_append_discards_uncommitted_tail(tmp_path: Path, rng: np.random.Generator) -> None:
    seg = Segment(tmp_path / "v.f32", 4)
    a = rng.normal(size=(3, 4)).astype(np.float32)
    b = rng.normal(size=(2, 4)).astype(np.float32)
    seg.append(0, a)
    seg.append(3, b)  # committed rows 3 -> appended after a
    garbage = rng.normal(size=(5, 4)).astype(np.float32)
    seg.append(5, garbage)  # a write whose commit never happened...
    seg.append(5, a[:1])  # ...is overwritten by the next writer, which trusts only committed=5
    assert seg.disk_bytes() == 6 * 16
    np.testing.assert_array_equal(seg.map(6), np.vstack([a, b, a[:1]]))
    seg.truncate(3)
    np.testing.assert_array_equal(seg.map(3), a)
    assert seg.map(0).shape == (0, 4)
    seg.remove()
    assert seg.disk_bytes() == 0
