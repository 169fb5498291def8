"""The catalog's record of a collection's approximate index (table ``index_state``)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from vecnest.index.calibrate import Calibration


@dataclass(frozen=True)
class IndexState:
    """The catalog's record of a collection's index.

    Attributes:
        file: index file name in the segments folder (``None``: no index yet).
        built_upto: slots below this are in the index; the rest is the exact delta.
        n_indexed: rows the file holds (a loaded file must agree).
        calibration: the calibration as stored (JSON text), if any.
    """

    file: str | None = None
    built_upto: int = 0
    n_indexed: int = 0
    calibration: str | None = None

    def lineage(self) -> str | None:
        """What identifies the graph this index grew from (see ``Calibration.lineage``): the
        stored lineage token, else (a calibration stored before tokens) the calibration text
        itself; ``None`` without a calibration. Two index files with the same lineage are the
        same graph, the later one grown by merges."""
        if not self.calibration:
            return None
        got = json.loads(self.calibration).get("lineage")
        return f"lineage:{got}" if got else self.calibration

    def parsed_calibration(self) -> Calibration | None:
        """The stored calibration, parsed."""
        return Calibration.from_json(json.loads(self.calibration)) if self.calibration else None


def read_state(conn: sqlite3.Connection, cid: int) -> IndexState:
    """The stored index state of collection ``cid`` (empty if it has no index)."""
    row = conn.execute(
        "SELECT file, built_upto, n_indexed, calibration FROM index_state WHERE cid = ?", (cid,)
    ).fetchone()
    return IndexState(row[0], int(row[1]), int(row[2]), row[3]) if row else IndexState()


def index_file_name(cid: int, kind: str, built_upto: int, token: str) -> str:
    """A fresh index file name: never reused, so no writer overwrites a file a reader maps."""
    return f"c{cid}.{kind}.{built_upto}.{token}.faiss"
