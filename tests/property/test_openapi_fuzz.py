"""Schemathesis against the server's own OpenAPI document, in-process: generated requests for
every operation (valid and invalid) never get a 5xx and every response matches the documented
schema, status code and content type."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import zlib

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import vecnest
from vecnest.server import Limits, ServerConfig
from vecnest.server.app import create_app

ROOT = Path(__file__).resolve().parents[1]


def _app(tmp: Path) -> object:
    db = tmp / "store"
    with vecnest.open(db) as store:
        col = store.create_collection("docs", None, dim=4)
        col.add(["a", "b", "c"], ["alpha", "beta", "gamma"], [{"y": 1}, {"y": 2}, {"t": ["x"]}],
                np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32))
    limits = Limits(max_batch=50, max_k=50, max_page=100, request_timeout=10)
    # the store stays open across the many app start-ups schemathesis makes (one per case)
    return create_app(ServerConfig(db=db, limits=limits, models=(), datasets_dir=ROOT / "data"), db=vecnest.open(db))


import tempfile  # noqa: E402

_TMP = Path(tempfile.mkdtemp(prefix="vecnest-fuzz-"))
schema = schemathesis.openapi.from_asgi("/openapi.json", _app(_TMP))


@schema.include(path_regex="^/v1/").exclude(path_regex="/evaluate$").parametrize()  # evaluation: see test_server_ui
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_conforms_to_its_openapi_document(case: schemathesis.Case) -> None:
    if "name" in (case.path_parameters or {}) and case.path_parameters["name"] not in ("docs",):
        # half the generated names hit the real collection so operations get past "not found"
        if zlib.crc32(repr(case.body).encode()) % 2:
            case.path_parameters["name"] = "docs"
    case.call_and_validate(checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                                   response_schema_conformance])
