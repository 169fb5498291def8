from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.unit.compress.conftest import segment
from vecnest.compress import open_tiers, storage
from vecnest.errors import TierIntegrityError

PIPE = "binary-rot16 > int8 > float32"


def test_build_publishes_named_files_and_verifies(tmp_path: Path, unit_rows: np.ndarray) -> None:
    vec = segment(tmp_path / "seg.f32", unit_rows)
    m = storage.build(tmp_path / "t", PIPE, vec, l2=False, generation=3)
    assert m.name.startswith(f"tiers-{m.token}-") and m.seq == 1 and m.upto == 600 and m.generation == 3
    assert set(m.codes) == {"binary-rot16", "int8"}
    assert m.codes["binary-rot16"].code_size == 2 and m.codes["int8"].code_size == 32
    assert storage.manifests(tmp_path / "t") == [m.name]
    assert sorted(os.listdir(tmp_path / "t")) == sorted(m.files())  # nothing else, no .tmp
    assert storage.verify(tmp_path / "t", m.name, pipeline=PIPE, dim=32, generation=3, n_slots=600) == []
    again = storage.read_manifest(tmp_path / "t", m.name)
    assert again == m


def test_extend_codes_only_new_rows_and_keeps_old_state_valid(tmp_path: Path, unit_rows: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "t"
    m1 = storage.build(d, PIPE, segment(tmp_path / "a.f32", unit_rows[:300]), l2=False, generation=0)
    vec = segment(tmp_path / "b.f32", unit_rows)
    m2 = storage.extend(d, m1, vec[:450])
    assert (m2.seq, m2.upto, m2.token) == (2, 450, m1.token)
    assert [(p.lo, p.hi) for p in m2.codes["int8"].parts] == [(0, 300), (300, 450)]
    assert m2.codes["int8"].parts[0] == m1.codes["int8"].parts[0]  # the old part is reused, not rewritten
    codec = storage.load_codec(d, m2, "int8")
    new = storage.read_part(d, m2.codes["int8"].parts[1], 32)
    np.testing.assert_array_equal(new, codec.encode(unit_rows[300:450]))  # the fitted codec, not a refit
    assert storage.verify(d, m1.name) == [] and storage.verify(d, m2.name) == []
    assert storage.extend(d, m2, vec[:450]) is m2  # nothing new
    monkeypatch.setattr(storage, "MAX_PARTS", 2)
    m3 = storage.extend(d, m2, vec)
    assert [(p.lo, p.hi) for p in m3.codes["int8"].parts] == [(0, 600)]  # merged into one new file
    merged = storage.read_part(d, m3.codes["int8"].parts[0], 32)
    np.testing.assert_array_equal(merged[:300], storage.read_part(d, m1.codes["int8"].parts[0], 32))
    assert storage.verify(d, m3.name, n_slots=600) == [] and storage.verify(d, m2.name) == []
    assert len(set(m1.files()) | set(m2.files()) | set(m3.files())) == len(m1.files()) + 3 + 3  # each publish adds its manifest and 2 parts; no name reused


def test_verify_reports_every_kind_of_damage(tmp_path: Path, unit_rows: np.ndarray) -> None:
    d = tmp_path / "t"
    m = storage.build(d, PIPE, segment(tmp_path / "s.f32", unit_rows), l2=False, generation=1)
    assert storage.verify(d, m.name, pipeline="int8 > float32")[0].endswith("but the collection declares 'int8 > float32'")
    assert "segment generation 1, collection is at 2" in storage.verify(d, m.name, generation=2)[0]
    assert "codes cover 600 rows, the segment has 500" in storage.verify(d, m.name, n_slots=500)[0]
    assert "dim 32, collection 64" in storage.verify(d, m.name, dim=64)[0]
    part = d / m.codes["int8"].parts[0].file
    data = bytearray(part.read_bytes())
    data[-1] ^= 0xFF
    part.write_bytes(bytes(data))
    assert storage.verify(d, m.name) == [f"{m.name}: {part.name} checksum differs from the manifest"]
    assert storage.verify(d, m.name, deep=False) == []  # sizes only
    part.write_bytes(bytes(data[:-10]))
    assert "has 19" in storage.verify(d, m.name, deep=False)[0]
    (d / m.codes["binary-rot16"].params.file).unlink()
    assert any("missing file" in p for p in storage.verify(d, m.name))
    assert "cannot read tiers manifest" in storage.verify(d, "tiers-0000000000000000-000001.json")[0]
    with pytest.raises(TierIntegrityError, match="cannot read tier codes .* rebuild the tiers"):
        storage.read_part(d, m.codes["int8"].parts[0], 32)


def test_remove_unreferenced_keeps_what_live_manifests_need(tmp_path: Path, unit_rows: np.ndarray) -> None:
    d = tmp_path / "t"
    vec = segment(tmp_path / "s.f32", unit_rows)
    old = storage.build(d, PIPE, vec, l2=False, generation=0)
    new = storage.build(d, "opq8 > float32", vec, l2=False, generation=0)
    (d / "tiers-deadbeefdeadbeef.int8.0-5.npy.tmp").write_bytes(b"x")
    (d / "unrelated.txt").write_text("kept")
    removed = storage.remove_unreferenced(d, [new.name])
    assert set(removed) == set(old.files()) | {"tiers-deadbeefdeadbeef.int8.0-5.npy.tmp"}
    assert sorted(os.listdir(d)) == sorted([*new.files(), "unrelated.txt"])
    assert storage.verify(d, new.name) == []


@pytest.mark.parametrize("pipeline", ["float16 > float32", "int8", "float8 > float32", "binary > float32", "binary-itq16/asym > int8", "pq8 > float16", "opq8-pca16 > float32"])
def test_every_tier_survives_reopen(tmp_path: Path, unit_rows: np.ndarray, pipeline: str) -> None:
    vec = segment(tmp_path / "s.f32", unit_rows)
    m = storage.build(tmp_path / "t", pipeline, vec, l2=False, generation=0)
    q = unit_rows[:5] + 0.01
    first = open_tiers(tmp_path / "t", m.name, vec, None, l2=False)
    want = first.search(q, 10)
    first.close()
    reopened = open_tiers(tmp_path / "t", m.name, np.memmap(tmp_path / "s.f32", dtype=np.float32, mode="r", shape=unit_rows.shape), None, l2=False)
    got = reopened.search(q, 10)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    reopened.close()


_RETIER = """
import sys, numpy as np
from pathlib import Path
from vecnest.compress import storage
d, seg = Path(sys.argv[1]), Path(sys.argv[2])
vec = np.memmap(seg, dtype=np.float32, mode="r").reshape(-1, 64)
print("ready", flush=True)
while True:
    storage.build(d, "binary-rot64@20 > int8 > float16 > float32", vec, l2=False, generation=0)
"""


def test_kill_9_during_retiering_leaves_the_old_state_whole(tmp_path: Path, rng: np.random.Generator) -> None:
    """SIGKILL a process that re-tiers over and over: the old published state still verifies,
    opens and answers the same; every manifest that exists is whole; leftovers are only files
    no manifest names, and collecting them leaves exactly the old state."""
    x = rng.standard_normal((20_000, 64)).astype(np.float32)
    vec = segment(tmp_path / "s.f32", x)
    d = tmp_path / "t"
    old = storage.build(d, "binary > float32", vec, l2=False, generation=0)
    index = open_tiers(d, old.name, vec, None, l2=False)
    before = index.search(x[:3], 5)
    index.close()
    repo = Path(__file__).resolve().parents[3]
    for delay in (0.2, 0.9, 1.7):
        proc = subprocess.Popen([sys.executable, "-c", _RETIER, str(d), str(tmp_path / "s.f32")], stdout=subprocess.PIPE, cwd=repo)
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        for name in storage.manifests(d):
            assert storage.verify(d, name) == [], name
    index = open_tiers(d, old.name, vec, None, l2=False)
    after = index.search(x[:3], 5)
    index.close()
    np.testing.assert_array_equal(after[0], before[0])
    assert len(storage.manifests(d)) > 1  # the killed processes were re-tiering, again and again
    storage.remove_unreferenced(d, [old.name])
    assert sorted(os.listdir(d)) == sorted(old.files())


def test_too_few_rows_to_fit_is_a_clear_error(tmp_path: Path, unit_rows: np.ndarray) -> None:
    from vecnest.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="fitted on at least 256 live rows; the collection has 200"):
        storage.build(tmp_path / "t", "pq4 > float32", segment(tmp_path / "s.f32", unit_rows[:200]), l2=False, generation=0)
    alive = np.zeros(600, dtype=bool)
    alive[:255] = True
    with pytest.raises(InvalidInputError, match="the collection has 255"):
        storage.build(tmp_path / "t", "int8", segment(tmp_path / "s2.f32", unit_rows), l2=False, generation=0, alive=alive)
