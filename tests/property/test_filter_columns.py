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


def _snapshot(n: int, dead_first_slot: bool, table: str) -> Snapshot:
    first = 1 if dead_first_slot else 0  # slot 0 dead (slots 1..n live) or every slot live
    live = np.arange(first, n + first, dtype=np.int64)
    alive = np.zeros(n + first, dtype=bool)
    alive[live] = True
    ids = np.array([None] * first + [f"d{i}" for i in range(n)], dtype=object)
    return Snapshot(
        version=0, generation=0, stamp=None, table=table, ids=ids, live_slots=live,
        alive=alive, flat=None, ann=None, built_upto=0, calibration=None,  # type: ignore[arg-type]
    )


def run_columns(conn: sqlite3.Connection, n: int, where: dict[str, Any] | None, where_document: dict[str, Any] | None) -> set[str]:
    @contextmanager
    def read() -> Iterator[sqlite3.Connection]:
        yield conn

    node = parse(where, where_document)
    # the same rows at slots 0..n-1: no dead slot, so the evaluator's rows are the slots
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS docs0 AS SELECT slot - 1 AS slot, id, text, metadata FROM docs")
    results = []
    for dead_first_slot, table in ((True, "docs"), (False, "docs0")):
        snap = _snapshot(n, dead_first_slot, table)
        mask = snap.filter_mask(node, read)
        for _ in range(2):  # evaluated, then from the snapshot's mask cache
            cached, count = snap.match(node, read)
            np.testing.assert_array_equal(cached, mask)
            assert count == int(mask.sum())
        results.append({snap.ids[s] for s in np.flatnonzero(mask)})
    assert results[0] == results[1]
    return results[0]


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
