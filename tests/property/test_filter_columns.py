"""The columnar filter evaluator (used by search) agrees with the pure-Python oracle and with SQL."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from hypothesis import given, settings

from vecnest.filter import parse
from vecnest.search.snapshot import Snapshot

from .test_filter_oracle import Case, cases, oracle_document, oracle_where, pieces, run_sql


def run_columns(conn: sqlite3.Connection, n: int, where: dict[str, Any] | None, where_document: dict[str, Any] | None) -> set[str]:
    live = np.arange(1, n + 1, dtype=np.int64)  # rowids 1..n
    alive = np.ones(n + 1, dtype=bool)
    alive[0] = False
    snap = Snapshot(
        version=0, generation=0, stamp=(0, 0), table="docs", ids=np.array([None] + [f"d{i}" for i in range(n)], dtype=object),
        live_slots=live, alive=alive, flat=None, ann=None, built_upto=0, calibration=None,  # type: ignore[arg-type]
    )

    @contextmanager
    def read() -> Iterator[sqlite3.Connection]:
        yield conn

    mask = snap.filter_mask(parse(where, where_document), read)
    return {f"d{s - 1}" for s in np.flatnonzero(mask)}


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(case=cases())
def test_columns_match_oracle_and_sql(case: Case) -> None:
    docs, where, where_document = case
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE docs (slot INTEGER PRIMARY KEY, id TEXT, text TEXT, metadata TEXT)")
    conn.executemany(
        "INSERT INTO docs (id, text, metadata) VALUES (?, ?, ?)",
        [(f"d{i}", text, json.dumps(meta, ensure_ascii=False)) for i, (text, meta) in enumerate(docs)],
    )
    try:
        checks = [(where, where_document)] + [(piece, None) for piece in pieces(where or {})]
        for sub_where, sub_document in checks:
            expected = {
                f"d{i}"
                for i, (text, meta) in enumerate(docs)
                if oracle_where(sub_where or {}, meta) and oracle_document(sub_document or {}, text)
            }
            got = run_columns(conn, len(docs), sub_where, sub_document)
            assert got == expected, (sub_where, sub_document)
            assert got == run_sql(conn, sub_where, sub_document)
    finally:
        conn.close()
