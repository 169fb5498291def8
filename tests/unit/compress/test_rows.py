from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.unit.compress.conftest import segment
from vecnest.compress import memory
from vecnest.compress.rows import RowReader, npy_offset, read_rows, segment_reader
from vecnest.errors import TierIntegrityError


def test_reader_reads_rows_across_files_without_mapping(tmp_path: Path, rng: np.random.Generator) -> None:
    a = rng.integers(0, 255, (10, 6), dtype=np.uint8)
    b = rng.integers(0, 255, (7, 6), dtype=np.uint8)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    files = [(tmp_path / "a.npy", npy_offset(tmp_path / "a.npy"), 0, 10), (tmp_path / "b.npy", npy_offset(tmp_path / "b.npy"), 10, 17)]
    reader = RowReader(files, 6, np.dtype(np.uint8), 6)
    both = np.concatenate([a, b])
    rows = np.array([16, 0, 9, 10, 3, 3])
    np.testing.assert_array_equal(reader.read(rows), both[rows])
    np.testing.assert_array_equal(reader.read_range(8, 13), both[8:13])
    reader.close()
    (tmp_path / "b.npy").write_bytes((tmp_path / "b.npy").read_bytes()[:-8])
    reader = RowReader(files, 6, np.dtype(np.uint8), 6)
    with pytest.raises(TierIntegrityError, match="short read"):
        reader.read(np.array([16]))
    reader.close()


def test_segment_rows_are_read_without_touching_its_map(tmp_path: Path, rng: np.random.Generator) -> None:
    x = rng.standard_normal((3000, 64)).astype(np.float32)
    seg = segment(tmp_path / "s.f32", x)
    assert segment_reader(x) is None  # an in-memory array is indexed directly
    np.testing.assert_array_equal(read_rows(seg, np.array([5, 2999, 0])), x[[5, 2999, 0]])
    np.testing.assert_array_equal(read_rows(seg, lo=100, hi=2100), x[100:2100])
    np.testing.assert_array_equal(read_rows(x, lo=3, hi=5), x[3:5])
    assert memory.mapped_rss([tmp_path / "s.f32"])[str((tmp_path / "s.f32").resolve())] == 0
