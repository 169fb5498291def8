"""The wire format of search plans between the HTTP server and its client."""

from __future__ import annotations

from vecnest.client.wire import plan_from_json, plan_to_json
from vecnest.search.planner import Plan, Strategy


def _plan() -> Plan:
    return Plan(Strategy.EXACT_FILTERED, "test", 100, 7, 0.07, None, {}, 0, 7, 0, {"exact_ms": 0.1}, True)


def test_a_plan_round_trips_as_the_planner_class() -> None:
    plan = _plan()
    back = plan_from_json(plan_to_json(plan))
    assert isinstance(back, Plan) and back == plan


def test_a_plan_from_an_older_server_takes_the_defaults_of_fields_it_does_not_send() -> None:
    data = plan_to_json(_plan())
    assert data is not None
    for name in ("provisional", "hybrid", "tiers", "timings_ms"):
        del data[name]
    back = plan_from_json(data)
    assert isinstance(back, Plan)
    assert back.provisional is False and back.hybrid is None and back.tiers is None and back.timings_ms == {}
    assert back.strategy is Strategy.EXACT_FILTERED and back.n_matching == 7


def test_a_plan_from_a_newer_server_keeps_what_it_knows() -> None:
    data = plan_to_json(_plan())
    assert data is not None
    data["a_field_from_the_future"] = 1
    back = plan_from_json(data)
    assert isinstance(back, Plan) and back.reason == "test"
    # a plan missing a required field or with an unknown strategy keeps every field it has
    data["strategy"] = "teleport"
    odd = plan_from_json(data)
    assert not isinstance(odd, Plan) and odd.strategy == "teleport" and odd.a_field_from_the_future == 1
