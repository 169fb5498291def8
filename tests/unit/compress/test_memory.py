from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.unit.compress.conftest import segment
from vecnest.compress import memory, open_tiers, storage


def test_resident_bytes_sees_touched_pages_only() -> None:
    mib = 1 << 20
    a = np.empty(64 * mib, dtype=np.uint8)  # a fresh mapping: pages are resident once written
    a[: 8 * mib] = 1
    got = memory.resident_bytes(a)
    assert got is not None and 8 * mib <= got <= 12 * mib  # (huge pages: 2 MiB granules)
    a[:] = 1
    assert memory.resident_bytes(a) == 64 * mib  # only the array's own bytes of its pages
    assert memory.resident_bytes(a[:0]) == 0


def test_page_cache_and_mapped_rss(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    np.ones(32 * 4096, dtype=np.uint8).tofile(path)
    assert memory.page_cache_bytes(path) == 32 * 4096  # just written: cached, never mapped by us
    m = np.memmap(path, dtype=np.uint8, mode="r")
    assert memory.mapped_rss([path])[str(path.resolve())] == 0  # mapped, untouched
    assert int(m[: 4 * 4096].sum()) == 4 * 4096
    assert 4 * 4096 <= memory.mapped_rss([path])[str(path.resolve())] <= 32 * 4096
    rss = memory.process_rss()
    assert rss is not None and rss > 10 * 1024 * 1024


def test_report_measures_ram_tier_and_keeps_disk_tiers_out_of_the_process(tmp_path: Path, rng: np.random.Generator) -> None:
    x = rng.standard_normal((40_000, 64)).astype(np.float32)
    vec = segment(tmp_path / "seg.f32", x)
    m = storage.build(tmp_path / "t", "binary/asym > int8 > float32", vec, l2=False, generation=0)
    index = open_tiers(tmp_path / "t", m.name, vec, None, l2=False)
    index.search(x[:50], 10)  # reads int8 and float32 rows of 50 x 100 / 50 x 20 candidates
    report = index.memory()
    assert set(report) == {"binary", "int8", "float32"}
    ram = report["binary"]
    assert ram["where"] == "ram" and ram["bytes_per_vector"] == 8
    assert ram["ram_resident"] == 40_000 * 8 and ram["fixed_ram"] == 64 * 4  # measured: all resident; the mean
    assert report["int8"]["where"] == "disk" and report["int8"]["ram_resident"] == 0
    assert report["int8"]["disk"] == m.disk_bytes()["int8"] and report["int8"]["page_cache"] > 0
    assert report["float32"]["ram_resident"] == 0  # read with pread, never mapped pages in
    assert report["float32"]["disk"] == x.nbytes
    assert index.ram_bytes_per_vector() == 8.0
    assert index.fixed_ram_bytes() == 64 * 4 + (64 * 4 + 2 * 64 * 4)  # binary's mean; int8's mean and ranges
    index.close()
