"""Reads are linearisable across processes: a search reflects every write acknowledged before it
began (see ``_linear.py`` for the writer's schedule and the reader's checks)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("_linear.py")
READERS = 4


def _spawn(*args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.slow
def test_every_read_sees_every_write_acknowledged_before_it(tmp_path: Path) -> None:
    store, seq = tmp_path / "s", tmp_path / "seq"
    writer = _spawn("writer", store, seq, 2500)
    readers = [_spawn("reader", store, seq, 25.0) for _ in range(READERS)]
    results = []
    for r in readers:
        out, err = r.communicate(timeout=180)
        assert r.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    out, err = writer.communicate(timeout=300)
    assert writer.returncode == 0, err[-3000:]
    checked = sum(r["checked"] for r in results)
    assert checked >= 10_000, results
    assert sum(r["errors"] for r in results) == 0, [r["examples"] for r in results]
    assert sum(r["stale"] for r in results) == 0, [r["examples"] for r in results]
    assert min(r["last"] for r in results) > 200  # the readers overlapped the writer
    print("published numbers read going backwards:", [r["backwards"] for r in results])  # the channel, not the store
