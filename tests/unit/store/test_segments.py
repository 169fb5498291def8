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


def test_release_pages_drops_a_maps_pages_and_never_touches_memory(tmp_path: Path) -> None:
    """release_pages drops the pages a pass mapped in (the data reads back the same), and
    refuses anything that is not a view of a file map: the same advice would zero anonymous
    memory."""
    from vecnest.compress.memory import mapped_rss
    from vecnest.store.segments import map_file, release_pages

    data = np.arange(64 * 1024, dtype=np.float32)  # 256 KiB
    path = tmp_path / "c1.g0.f32"
    data.tofile(path)
    view = map_file(path, data.nbytes).view(np.float32)
    assert float(view.sum()) == float(data.sum())
    assert mapped_rss([path])[str(path.resolve())] >= data.nbytes // 2
    assert release_pages(view)
    assert mapped_rss([path])[str(path.resolve())] == 0
    np.testing.assert_array_equal(view, data)  # read again from the page cache
    assert release_pages(view[1000:5000])  # (a part: its whole pages)
    owned = data.copy()
    assert not release_pages(owned) and not release_pages(owned[10:])
    np.testing.assert_array_equal(owned, data)
    assert not release_pages(view[::2])  # (not contiguous: refused)
