from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def segment(path: Path, x: np.ndarray) -> np.memmap:
    """Write ``x`` as a raw float32 segment file and map it read-only (as the store does)."""
    np.ascontiguousarray(x, dtype=np.float32).tofile(path)
    return np.memmap(path, dtype=np.float32, mode="r", shape=x.shape)


@pytest.fixture
def unit_rows(rng: np.random.Generator) -> np.ndarray:
    """600 clustered unit rows of 32 dimensions (cosine-like data with structure)."""
    centres = rng.standard_normal((12, 32))
    x = centres[rng.integers(0, 12, 600)] + 0.6 * rng.standard_normal((600, 32))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32)
