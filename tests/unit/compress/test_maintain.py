from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.unit.compress.conftest import segment
from vecnest.compress import maintain, open_tiers, storage
from vecnest.compress.maintain import Action, TierState


def test_plan_and_bring_up_to_date(tmp_path: Path, unit_rows: np.ndarray) -> None:
    d = tmp_path / "t"
    seg = segment(tmp_path / "s.f32", unit_rows)
    pipe = "binary/asym > float32"
    assert maintain.plan(d, pipe, TierState(), n_slots=299, generation=0, min_rows=300) == (Action.NONE, "299 live rows: tiers are built from 300")
    alive = np.ones(600, dtype=bool)
    alive[:50] = False
    state, action, reason = maintain.bring_up_to_date(d, pipe, TierState(), seg[:300], alive=alive[:300], l2=False, generation=0, min_rows=300)
    assert (action, state) == (Action.NONE, TierState()) and reason == "250 live rows: tiers are built from 300"
    state, action, reason = maintain.bring_up_to_date(d, pipe, TierState(), seg[:300], alive=None, l2=False, generation=0, delta_limit=50, min_rows=300)
    assert action is Action.BUILD and reason == "no tiers yet" and state.upto == 300
    assert maintain.plan(d, pipe, state, n_slots=340, generation=0, delta_limit=50) == (Action.NONE, "40 rows past the codes (< 50) are scanned exactly")
    assert maintain.plan(d, pipe, state, n_slots=350, generation=0, delta_limit=50)[0] is Action.EXTEND
    state2, action, _ = maintain.bring_up_to_date(d, pipe, state, seg[:350], alive=None, l2=False, generation=0, delta_limit=50)
    assert action is Action.EXTEND and state2.upto == 350 and storage.read_manifest(d, state2.manifest).token == storage.read_manifest(d, state.manifest).token
    # grown 4x since the fit: refit
    assert maintain.plan(d, pipe, state2, n_slots=1200, generation=0, delta_limit=50) == (Action.BUILD, "1,200 rows, 4.0x the 300 the codes were fitted on")
    assert maintain.plan(d, "int8 > float32", state2, n_slots=350, generation=0)[1] == "the pipeline changed from 'binary/asym > float32' to 'int8 > float32'"
    assert maintain.plan(d, pipe, state2, n_slots=350, generation=1)[1] == "the segment generation changed (0 -> 1)"
    state3, action, _ = maintain.bring_up_to_date(d, "int8 > float32", state2, seg, alive=None, l2=False, generation=0)
    assert action is Action.BUILD and state3.upto == 600
    index = open_tiers(d, state3.manifest, seg, None, l2=False)
    assert index.spec.tiers[0].key == "int8"
    index.close()
    # the old states stay readable until collected
    assert storage.verify(d, state2.manifest) == [] and storage.verify(d, state.manifest) == []
    storage.remove_unreferenced(d, [state3.manifest])
    assert storage.manifests(d) == [state3.manifest]
