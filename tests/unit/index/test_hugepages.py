"""Huge pages for an index's arrays: the range arithmetic, a collapse that never raises, the
memory a copy may take."""

from __future__ import annotations

import errno

import numpy as np
from pathlib import Path

from vecnest.index import hugepages
from vecnest.index.hugepages import collapse, huge_page_bytes, interior


def test_only_whole_huge_pages_inside_a_range_are_collapsed() -> None:
    page = huge_page_bytes()
    assert page >= 1 << 16 and page & (page - 1) == 0
    assert interior(0, 3 * page) == (0, 3 * page)
    assert interior(1, 3 * page) == (page, 2 * page)  # (the pages it straddles are left)
    assert interior(page - 1, page + 2) == (page, page)
    assert interior(5, page) == (page, 0)  # (no whole page inside)
    assert interior(page + 7, 10) == (2 * page, 0)


def test_collapsing_a_buffer_keeps_its_contents_and_reports_whole_pages_or_nothing() -> None:
    page = huge_page_bytes()
    buf = np.arange(3 * page // 8, dtype=np.int64)  # (3 huge pages long: at least 2 whole inside)
    before = buf.copy()
    _, length = interior(buf.ctypes.data, buf.nbytes)
    assert length >= 2 * page
    got = collapse(buf.ctypes.data, buf.nbytes)
    assert got in (0, length)
    if not hugepages.available():
        assert got == 0
    np.testing.assert_array_equal(buf, before)
    assert collapse(buf.ctypes.data, 100) == 0  # (no whole page: nothing asked of the kernel)


def test_no_huge_pages_where_the_system_has_none(monkeypatch) -> None:
    monkeypatch.setattr(hugepages, "_madvise", lambda: None)
    buf = np.zeros(3 * huge_page_bytes(), dtype=np.uint8)
    assert not hugepages.available()
    assert collapse(buf.ctypes.data, buf.nbytes) == 0


def test_a_kernel_without_collapse_is_asked_once(monkeypatch) -> None:
    calls: list[int] = []

    def madvise(start: int, length: int, advice: int) -> int:
        calls.append(advice)
        import ctypes

        ctypes.set_errno(errno.EINVAL)
        return -1

    monkeypatch.setattr(hugepages, "_madvise", lambda: madvise)
    monkeypatch.setattr(hugepages, "_unsupported", [])
    buf = np.zeros(3 * huge_page_bytes(), dtype=np.uint8)
    assert hugepages.available()
    assert collapse(buf.ctypes.data, buf.nbytes) == 0
    assert not hugepages.available()
    assert collapse(buf.ctypes.data, buf.nbytes) == 0
    assert calls == [25]  # (MADV_COLLAPSE alone, once: no advice left on the range)


def test_headroom_is_the_memory_available_here_or_less_under_a_cgroup_limit(tmp_path, monkeypatch) -> None:
    room = hugepages.headroom()
    assert room is None or isinstance(room, int)
    # a cgroup two levels down, limited above it: the tightest limit, less reclaimable cache
    top = tmp_path / "cg"
    (top / "a" / "b").mkdir(parents=True)
    (top / "memory.max").write_text("max\n")
    (top / "a" / "memory.max").write_text(str(1000 << 20))
    (top / "a" / "memory.current").write_text(str(900 << 20))
    (top / "a" / "memory.stat").write_text(f"anon 1\ninactive_file {300 << 20}\n")
    (top / "a" / "b" / "memory.max").write_text("max\n")
    cg = tmp_path / "self_cgroup"
    cg.write_text("0::/a/b\n")
    monkeypatch.setattr(hugepages, "_CGROUP", top)
    real = Path.read_text
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: real(cg if str(self) == "/proc/self/cgroup" else self, *a, **k))
    got = hugepages.headroom()
    assert got is not None and got <= (1000 - 900 + 300) << 20
