"""What ``vecnest check`` found: findings by severity, one verdict per collection, an exit code.

Severities, from harmless to serious:

* ``ok`` — a part was verified (its finding says what: rows, batches, index rows);
* ``note`` — harmless and expected after a crash or an upgrade: leftover temporary or orphaned
  files, the uncommitted tail of an interrupted write, rows written before checksums existed
  (unverified), files of unknown kind (left alone);
* ``damaged`` — derived data (an index) is missing, unreadable or disagrees with the catalog:
  searches bypass it and stay exact and correct; ``--repair`` rebuilds it;
* ``lost`` — acknowledged data is damaged: vectors missing, truncated or changed on disk, or the
  catalog fails SQLite's integrity check. The finding names what is affected; ``--repair``
  re-embeds lost vectors from their stored texts where the collection has an encoder, and
  otherwise leaves the data as it is.

A store passes (exit code 0) when nothing is ``damaged`` or ``lost`` after the run (after its
repairs, with ``--repair``); otherwise the exit code is 1. A store that cannot be checked at
all (not a store, locked) is the caller's exit code 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """How serious a finding is (see module docstring)."""

    OK = "ok"
    NOTE = "note"
    DAMAGED = "damaged"
    LOST = "lost"

    @property
    def rank(self) -> int:
        """0 (ok) .. 3 (lost)."""
        return _RANK[self]


_RANK = {Severity.OK: 0, Severity.NOTE: 1, Severity.DAMAGED: 2, Severity.LOST: 3}


def worst(severities: Any) -> Severity:
    """The most serious of ``severities`` (``ok`` if there are none)."""
    return max(severities, key=lambda s: s.rank, default=Severity.OK)


@dataclass(frozen=True)
class Finding:
    """One thing a check found, or one repair it made.

    Attributes:
        part: what was checked: ``catalog``, ``manifest``, ``segment``, ``checksums``,
            ``files``, or a derived structure's name (``ann_index``, ...).
        severity: see :class:`Severity`.
        message: what was found (and, for problems, what to do), in one sentence.
        repaired: this finding is a repair that was made (its severity is what it fixed).
    """

    part: str
    severity: Severity
    message: str
    repaired: bool = False

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return {"part": self.part, "severity": self.severity.value, "message": self.message, "repaired": self.repaired}


@dataclass(frozen=True)
class CollectionReport:
    """The findings about one collection (or, with ``name`` ``None``, about the store itself)."""

    name: str | None
    documents: int
    findings: tuple[Finding, ...]

    @property
    def severity(self) -> Severity:
        """The most serious finding still standing (repairs made count as notes)."""
        return worst(Severity.NOTE if f.repaired else f.severity for f in self.findings)

    @property
    def problems(self) -> tuple[Finding, ...]:
        """Findings that are neither ``ok`` nor repairs made."""
        return tuple(f for f in self.findings if not f.repaired and f.severity is not Severity.OK)

    @property
    def verdict(self) -> str:
        """One line: the severity and the most serious finding (or a summary when all is well)."""
        severity = self.severity
        problems = sorted(self.problems, key=lambda f: -f.severity.rank)
        repairs = [f for f in self.findings if f.repaired]
        if severity.rank >= Severity.DAMAGED.rank:
            more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
            return f"{severity.value}: {problems[0].message}{more}"
        ok = "; ".join(f.message for f in self.findings if f.severity is Severity.OK and not f.repaired)
        parts = [ok] if ok else []
        if repairs:
            parts.append(f"repaired {len(repairs)}: " + "; ".join(f.message for f in repairs))
        if problems:
            parts.append(f"{len(problems)} note(s): " + "; ".join(f.message for f in problems))
        return "ok" + (": " + " — ".join(parts) if parts else "")

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return {
            "name": self.name,
            "documents": self.documents,
            "severity": self.severity.value,
            "verdict": self.verdict,
            "findings": [f.to_json() for f in self.findings],
        }


@dataclass(frozen=True)
class CheckReport:
    """The result of :meth:`vecnest.Database.check`.

    Attributes:
        root: the store's folder.
        repair: whether repairs were allowed.
        store: findings about the store itself (manifest, catalog, files of no collection).
        collections: one report per collection, in creation order.
    """

    root: str
    repair: bool
    store: CollectionReport
    collections: tuple[CollectionReport, ...]

    @property
    def severity(self) -> Severity:
        """The most serious finding still standing anywhere in the store."""
        return worst([self.store.severity, *(c.severity for c in self.collections)])

    @property
    def ok(self) -> bool:
        """Nothing is damaged or lost (notes allowed)."""
        return self.severity.rank <= Severity.NOTE.rank

    @property
    def exit_code(self) -> int:
        """0 if :attr:`ok`, else 1."""
        return 0 if self.ok else 1

    def findings(self, severity: Severity | None = None) -> list[tuple[str | None, Finding]]:
        """Every ``(collection name or None, finding)``, optionally of one severity."""
        out = [(r.name, f) for r in (self.store, *self.collections) for f in r.findings]
        return [x for x in out if severity is None or x[1].severity is severity]

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict (what ``vecnest check --json`` prints)."""
        return {
            "root": self.root,
            "repair": self.repair,
            "ok": self.ok,
            "severity": self.severity.value,
            "exit_code": self.exit_code,
            "store": self.store.to_json(),
            "collections": [c.to_json() for c in self.collections],
        }
