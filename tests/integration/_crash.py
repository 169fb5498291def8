"""The kill -9 harness: a writer doing every kind of write, killed at random moments, and the
checks made after each kill (used by ``test_crash.py`` in CI and ``benchmarks/soak.py``).

The writer's schedule is a pure function of the operation number ``s`` and the state it has
reached (:func:`plan`), and :class:`Model` applies an operation to a plain dict, so after a kill
the checker knows exactly what the store must hold: every operation acknowledged, plus perhaps
the one in flight — whole or not at all.

Operations (``s % 12``): adds of 12 documents (text, metadata, vector), upserts replacing 3
documents and adding 2, deletes by id and by filter, in-place metadata updates, vector updates,
explicit ``optimize()``, and a side collection created, filled and dropped (so kills land
inside ``drop_collection``). The collection has an HNSW index with a small ``delta_limit``, so
background merges run all the time and kills land inside them too.

Processes: one fork server (``python _crash.py server``) imports vecnest once and forks a writer
per request, so a writer starts in milliseconds; the test kills the writer's pid with SIGKILL.
Each writer appends ``B <s>`` before and ``A <s>`` after each operation to a log file.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

DIM = 16
BATCH = 12
HNSW = {"kind": "hnsw", "min_rows": 60, "delta_limit": 40, "m": 8, "ef_construction": 40, "ef_search": 64}
#: recall@10 of the index against exact search, averaged over the probe queries, must reach this
RECALL_TOLERANCE = 0.9


def vector(kind: int, s: int, i: int) -> np.ndarray:
    """The deterministic vector of document ``i`` written by operation ``s``."""
    return np.random.default_rng([kind, s, i]).normal(size=DIM).astype(np.float32)


@dataclass
class Op:
    """One write of the schedule."""

    s: int
    kind: str  # add, upsert, delete_ids, delete_where, update_meta, update_vec, optimize, side
    ids: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    metas: list[dict[str, Any]] = field(default_factory=list)
    vectors: np.ndarray | None = None
    where: dict[str, Any] | None = None


@dataclass
class Model:
    """What the main collection holds: ``id -> (text, metadata, vector)``."""

    docs: dict[str, tuple[str, dict[str, Any], np.ndarray]] = field(default_factory=dict)

    def copy(self) -> Model:
        """A copy (values are replaced, never mutated, so a shallow copy is enough)."""
        return Model(dict(self.docs))

    def apply(self, op: Op) -> None:
        """The effect of ``op`` when it commits."""
        if op.kind in ("add", "upsert"):
            for j, doc_id in enumerate(op.ids):
                self.docs[doc_id] = (op.texts[j], op.metas[j], op.vectors[j])  # type: ignore[index]
        elif op.kind == "delete_ids":
            for doc_id in op.ids:
                self.docs.pop(doc_id, None)
        elif op.kind == "delete_where":
            value = op.where["s"]  # type: ignore[index]
            for doc_id in [d for d, (_, m, _) in self.docs.items() if m.get("s") == value]:
                del self.docs[doc_id]
        elif op.kind == "update_meta":
            for j, doc_id in enumerate(op.ids):
                text, _, vec = self.docs[doc_id]
                self.docs[doc_id] = (text, op.metas[j], vec)
        elif op.kind == "update_vec":
            for j, doc_id in enumerate(op.ids):
                text, meta, _ = self.docs[doc_id]
                self.docs[doc_id] = (text, meta, op.vectors[j])  # type: ignore[index]

    @classmethod
    def replay(cls, applied: list[int]) -> Model:
        """The state after the operations ``applied`` (in order)."""
        model = cls()
        for s in applied:
            model.apply(plan(s, model))
        return model


def plan(s: int, model: Model) -> Op:
    """Operation ``s`` given the state it starts from."""
    rng = np.random.default_rng([99, s])
    live = list(model.docs)  # insertion order: the same in every replay
    k = s % 12
    if k in (0, 1, 2, 4, 7) or len(live) < 30:
        ids = [f"a{s}-{i}" for i in range(BATCH)]
        return Op(s, "add", ids, [f"doc {d} of op {s}" for d in ids], [{"s": s, "i": i, "g": i % 3} for i in range(BATCH)],
                  np.stack([vector(0, s, i) for i in range(BATCH)]))
    if k == 3:
        ids = [str(x) for x in rng.choice(live, 3, replace=False)] + [f"u{s}-{j}" for j in range(2)]
        return Op(s, "upsert", ids, [f"upserted {d} by {s}" for d in ids], [{"s": s, "u": 1}] * 5,
                  np.stack([vector(1, s, i) for i in range(5)]))
    if k == 5:
        return Op(s, "delete_ids", [str(x) for x in rng.choice(live, 4, replace=False)] + ["never-existed"])
    if k == 6:
        ids = [str(x) for x in rng.choice(live, 3, replace=False)]
        return Op(s, "update_meta", ids, metas=[{"s": s, "upd": True, "g": 9}] * 3)
    if k == 8:
        ids = [str(x) for x in rng.choice(live, 2, replace=False)]
        return Op(s, "update_vec", ids, vectors=np.stack([vector(2, s, i) for i in range(2)]))
    if k == 9:
        victim = model.docs[str(rng.choice(live))][1]["s"]
        return Op(s, "delete_where", where={"s": victim})
    return Op(s, "optimize" if k == 10 else "side")


def execute(db: Any, col: Any, op: Op) -> None:
    """Run ``op`` against the store."""
    if op.kind == "add":
        col.add(op.ids, op.texts, op.metas, op.vectors)
    elif op.kind == "upsert":
        col.upsert(op.ids, op.texts, op.metas, op.vectors)
    elif op.kind == "delete_ids":
        col.delete(ids=op.ids)
    elif op.kind == "delete_where":
        col.delete(where=op.where)
    elif op.kind == "update_meta":
        col.update(op.ids, metadatas=op.metas)
    elif op.kind == "update_vec":
        col.update(op.ids, vectors=op.vectors)
    elif op.kind == "optimize":
        col.optimize()
    else:  # side: a collection created, filled and dropped (a kill may land in the drop)
        if "side" in db.list_collections():
            db.drop_collection("side")
        import vecnest

        side = db.create_collection("side", model=None, dim=DIM, index=vecnest.IndexConfig(**HNSW))
        side.add([f"s{i}" for i in range(70)], vectors=np.stack([vector(3, op.s, i) for i in range(70)]))
        db.drop_collection("side")


def open_main(root: str, *, read_only: bool = False) -> tuple[Any, Any]:
    """The store and its main collection (created on first use)."""
    import vecnest

    db = vecnest.open(root, read_only=read_only, background=True)
    if read_only:
        return db, db.get_collection("main")
    return db, db.get_or_create_collection("main", model=None, dim=DIM, metric="l2", index=vecnest.IndexConfig(**HNSW))


def writer(root: str, log: str, start: int, applied: list[int]) -> None:
    """Run the schedule from operation ``start`` until killed, logging ``B s`` / ``A s``."""
    model = Model.replay(applied)
    db, col = open_main(root)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    s = start
    while True:
        op = plan(s, model)
        os.write(fd, f"B {s}\n".encode())
        execute(db, col, op)
        os.write(fd, f"A {s}\n".encode())
        model.apply(op)
        s += 1


def server() -> None:
    """Fork a writer per JSON request on stdin; print its pid. Children are reaped by the kernel."""
    __import__("vecnest")  # imported once here, inherited by every writer

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    print("ready", flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        pid = os.fork()
        if pid == 0:
            try:
                writer(req["root"], req["log"], req["start"], req["applied"])
            except BaseException:  # a writer only ever ends by SIGKILL: anything else is a failure
                import traceback

                traceback.print_exc()
                sys.stderr.flush()
            finally:
                os._exit(1)
        print(pid, flush=True)


# ---------------------------------------------------------------------------------------------
# the driver and the checks (run in the test process)
# ---------------------------------------------------------------------------------------------


@dataclass
class Campaign:
    """Kills a forked writer again and again and checks the store after every kill.

    Attributes:
        root: the store.
        applied: operations known committed, in order.
        kills, ops_acked, inflight_applied, inflight_lost, kills_in: counters for the report.
    """

    root: Path
    applied: list[int] = field(default_factory=list)
    kills: int = 0
    ops_acked: int = 0
    inflight_applied: int = 0
    inflight_lost: int = 0
    kills_in: dict[str, int] = field(default_factory=dict)
    ann_checks: int = 0
    min_recall: float = 1.0
    repairs: int = 0
    seconds_checking: float = 0.0
    leftover_index_writes: int = 0
    leftover_drops: int = 0

    def __post_init__(self) -> None:
        import subprocess

        self.model = Model.replay(self.applied)  # the state after ``applied``
        self.log = self.root.parent / "writer.log"
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        self.server = subprocess.Popen(
            [sys.executable, __file__, "server"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        assert self.server.stdout is not None and self.server.stdout.readline().strip() == "ready"

    def close(self) -> None:
        """Stop the fork server."""
        if self.server.stdin:
            self.server.stdin.close()
        self.server.wait(30)
        if self.server.stdout:
            self.server.stdout.close()

    def cycle(self, rng: np.random.Generator) -> None:
        """Start a writer, kill it at a random moment (or right as a chosen operation begins),
        then check the store."""
        start = self.applied[-1] + 1 if self.applied else 0
        self.log.write_text("")
        self.server.stdin.write(json.dumps({"root": str(self.root), "log": str(self.log), "start": start, "applied": self.applied}) + "\n")  # type: ignore[union-attr]
        self.server.stdin.flush()  # type: ignore[union-attr]
        pid = int(self.server.stdout.readline())  # type: ignore[union-attr]
        target = rng.choice(["any", "write", "write", "side", "optimize"])
        delay = float(rng.uniform(0.0, 0.6)) if target == "any" else float(rng.uniform(0.0, 0.012))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            lines = self.log.read_text().split("\n")[:-1]
            acks = [int(x[2:]) for x in lines if x.startswith("A")]
            begun = [int(x[2:]) for x in lines if x.startswith("B")]
            if acks and (target == "any" or (begun and _kind(begun[-1], target) and begun[-1] not in acks)):
                break
            time.sleep(0.002)
        time.sleep(delay)
        assert _alive(pid), "the writer died by itself (its traceback is on stderr)"
        os.kill(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.002)
        self.kills += 1
        lines = self.log.read_text().split("\n")[:-1]  # only whole lines
        acked = [int(x[2:]) for x in lines if x.startswith("A")]
        begun = [int(x[2:]) for x in lines if x.startswith("B")]
        inflight = begun[-1] if begun and begun[-1] not in acked else None
        self.ops_acked += len(acked)
        before = self.model.copy()
        for op_s in acked:
            before.apply(plan(op_s, before))
        after = None
        if inflight is not None:
            after = before.copy()
            op = plan(inflight, after)
            after.apply(op)
            self.kills_in[op.kind] = self.kills_in.get(op.kind, 0) + 1
        t0 = time.perf_counter()
        self.verify(acked, inflight, before, after)
        self.seconds_checking += time.perf_counter() - t0

    def verify(self, acked: list[int], inflight: int | None, before: Model, after: Model | None) -> None:
        """``vecnest check`` passes; the main collection equals the model with every acknowledged
        operation, and the in-flight one whole or not at all; ANN agrees with exact search."""
        import vecnest

        report = vecnest.check(self.root)
        assert report.ok, json.dumps(report.to_json(), indent=1)[:4000]
        notes = [f.message for _, f in report.findings()]
        self.leftover_index_writes += sum("leftover temporary file" in m and ".faiss.tmp" in m for m in notes)
        self.leftover_drops += sum("of dropped collection" in m for m in notes)
        db, col = open_main(str(self.root), read_only=True)
        try:
            actual = {d.id: (d.text, d.metadata, d.vector.tobytes()) for d in col.get(include_vectors=True)}
            candidates = [before] + ([after] if after is not None else [])
            matches = [i for i, m in enumerate(candidates) if actual == {k: (t, md, v.tobytes()) for k, (t, md, v) in m.docs.items()}]
            assert matches, _diff(actual, candidates[-1])
            self.applied += acked
            self.model = candidates[matches[-1]]
            if matches[-1] == 1:
                self.applied.append(inflight)  # type: ignore[arg-type]
            if len(matches) == 1 and inflight is not None:  # (optimize and side ops change nothing here)
                self.inflight_applied += matches[0] == 1
                self.inflight_lost += matches[0] == 0
            self._recall(col, self.model)
        finally:
            db.close()
        if self.kills % 5 == 0:  # sweep the leftovers of interrupted drops and merges
            report = vecnest.check(self.root, repair=True)
            assert report.ok and not [f for _, f in report.findings() if f.part == "files" and not f.repaired], report.to_json()
            self.repairs += 1

    def _recall(self, col: Any, model: Model) -> None:
        ids = sorted(model.docs)
        if len(ids) < 20:
            return
        rng = np.random.default_rng(self.kills)
        total = 0.0
        for doc_id in rng.choice(ids, 10, replace=False):
            q = model.docs[str(doc_id)][2] + rng.normal(scale=0.1, size=DIM).astype(np.float32)
            exact = [h.id for h in col.search(q, k=10, strategy="exact", include=())]
            ann = col.search(q, k=10, strategy="ann", include=(), explain=True)
            if ann.plan.strategy.value != "ann":
                return  # no index yet
            total += len(set(exact) & {h.id for h in ann}) / len(exact)
        recall = total / 10
        self.ann_checks += 1
        self.min_recall = min(self.min_recall, recall)
        assert recall >= RECALL_TOLERANCE, f"ANN recall@10 {recall:.2f} < {RECALL_TOLERANCE}"

    def summary(self) -> dict[str, Any]:
        """The campaign's figures."""
        return {
            "kills": self.kills,
            "operations_acknowledged": self.ops_acked,
            "operations_committed": len(self.applied),
            "in_flight_write_found_committed_whole": self.inflight_applied,
            "in_flight_write_found_absent_whole": self.inflight_lost,
            "kills_inside": dict(sorted(self.kills_in.items())),
            "kills_inside_an_index_save": self.leftover_index_writes,
            "kills_between_a_drop_and_its_file_removal": self.leftover_drops,
            "ann_recall_checks": self.ann_checks,
            "min_ann_recall_at_10": round(self.min_recall, 3),
            "repairs_run": self.repairs,
            "check_seconds_total": round(self.seconds_checking, 1),
        }


def _kind(s: int, target: str) -> bool:
    k = s % 12
    if target == "side":
        return k == 11
    if target == "optimize":
        return k == 10
    return k not in (10, 11)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _diff(actual: dict[str, Any], model: Model) -> str:
    want = set(model.docs)
    got = set(actual)
    return f"missing {sorted(want - got)[:5]}, unexpected {sorted(got - want)[:5]}, {len(got & want)} common"


if __name__ == "__main__":
    if sys.argv[1:] == ["server"]:
        server()
    else:
        raise SystemExit("usage: python _crash.py server")
