"""Ingest throughput: vecnest (encode + store) against the same model run by hand, same texts.

Three contenders over the first ``n`` SciFact documents (text = ``(title + " " + text).strip()``):

* ``raw_fixed`` (a)  — tokenizers + onnxruntime, fixed batches of 32 in input order (model card);
* ``raw_sorted`` (a') — the same loop with vecnest's batching (length-sorted token budget,
  per 512-document chunk);
* ``vecnest`` (b)    — ``vecnest.open`` → ``create_collection`` → ``col.add(ids, texts)`` in
  chunks of 512 (what the CLI does) → ``close``, end to end with SQLite and segment writes.

Runs are interleaved (a, b, a' per round, vecnest always between the two raw loops) so background
noise hits every contender; medians are reported. A short probe then times the raw sorted loop
under vecnest's onnxruntime session options, to attribute any gap between (a') and (b).
"""

from __future__ import annotations

import gc
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _common import REPO_ROOT, beir_doc_text, load_embeddings, median, read_jsonl
from _raw_onnx import encode_fixed, encode_sorted, load_session, load_tokenizer, token_lengths, tokenizer_path

import vecnest

#: Documents per ``col.add`` call, as in ``vecnest ingest --batch-size`` (default 512).
ADD_CHUNK = 512
#: Texts per batch in the hand-written model-card loop.
RAW_BATCH = 32
#: One round of the interleaved schedule.
ROUND = ("raw_fixed", "vecnest", "raw_sorted")
#: Documents and rounds of the session-options probe.
PROBE_DOCS = 128
PROBE_ROUNDS = 3

StartTask = Callable[[str, int], Callable[[int], None]]


def _vecnest_ingest(
    root: Path, ids: list[str], texts: list[str], metas: list[dict[str, Any]], progress: Callable[[int], None] | None
) -> float:
    """Seconds for open + create_collection + add in chunks + close, on a fresh store."""
    gc.collect()
    t0 = time.perf_counter()
    db = vecnest.open(root)
    col = db.create_collection("scifact")
    for s in range(0, len(ids), ADD_CHUNK):
        col.add(ids[s : s + ADD_CHUNK], texts[s : s + ADD_CHUNK], metas[s : s + ADD_CHUNK], progress=progress)
    db.close()
    return time.perf_counter() - t0


def _store_only(
    root: Path, ids: list[str], texts: list[str], metas: list[dict[str, Any]], vectors: np.ndarray
) -> float:
    """The same writes with the vectors given: what vecnest adds on top of the model."""
    gc.collect()
    t0 = time.perf_counter()
    db = vecnest.open(root)
    col = db.create_collection("scifact")
    for s in range(0, len(ids), ADD_CHUNK):
        col.add(
            ids[s : s + ADD_CHUNK],
            texts[s : s + ADD_CHUNK],
            metas[s : s + ADD_CHUNK],
            vectors=vectors[s : s + ADD_CHUNK],
        )
    db.close()
    return time.perf_counter() - t0


def _min_cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.min(np.sum(a * b, axis=1)))


def _vecnest_like_session(model_file: Path, threads: int, *, arena: bool, sequential: bool):  # noqa: ANN202
    """A raw session with (some of) the options ``MiniLMEncoder._get_session`` sets."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.enable_cpu_mem_arena = arena
    if sequential:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(model_file), sess_options=opts, providers=["CPUExecutionProvider"])


def _session_probe(
    texts: list[str], model_file: Path, encoder, tokenizer, start_task: StartTask  # noqa: ANN001
) -> dict[str, Any]:
    """Raw sorted loop under onnxruntime defaults vs vecnest's session options vs vecnest's
    encoder alone (no store), interleaved."""
    from vecnest.encode import minilm

    threads = encoder.intra_op_threads or minilm._default_threads()  # noqa: SLF001
    max_batch_tokens = encoder.max_batch_tokens
    sessions = {
        "onnxruntime_defaults": load_session(model_file),
        "arena_off_only": _vecnest_like_session(model_file, threads, arena=False, sequential=False),
        "vecnest_options": _vecnest_like_session(model_file, threads, arena=encoder.memory_arena, sequential=True),
    }
    for sess in sessions.values():
        encode_sorted(texts[:32], sess, tokenizer, max_batch_tokens=max_batch_tokens)
    names = [*sessions, "vecnest_encoder"]
    runs: dict[str, list[float]] = {k: [] for k in names}
    cpu: dict[str, list[float]] = {k: [] for k in names}
    progress = start_task(f"session-options probe ({len(texts)} docs)", PROBE_ROUNDS * len(names) * len(texts))
    for _ in range(PROBE_ROUNDS):
        for name in names:
            gc.collect()
            t0, c0 = time.perf_counter(), time.process_time()
            if name == "vecnest_encoder":
                encoder.encode_documents(texts, progress=progress)
            else:
                encode_sorted(texts, sessions[name], tokenizer, max_batch_tokens=max_batch_tokens, progress=progress)
            runs[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    med = {k: median(v) for k, v in runs.items()}
    return {
        "docs": len(texts),
        "what": "raw length-sorted loop (a') with three onnxruntime session configurations",
        "vecnest_options": f"enable_cpu_mem_arena={encoder.memory_arena}, ORT_SEQUENTIAL, inter_op_num_threads=1, "
        f"intra_op_num_threads={threads}, ORT_ENABLE_ALL (as MiniLMEncoder._get_session)",
        "vecnest_encoder": "MiniLMEncoder.encode_documents on the same texts (no store)",
        "runs_s": runs,
        "cpu_s": cpu,
        "median_s": med,
        "median_cpu_s": {k: median(v) for k, v in cpu.items()},
        "docs_per_s": {k: len(texts) / v for k, v in med.items()},
        "slowdown_vs_defaults": {k: v / med["onnxruntime_defaults"] - 1.0 for k, v in med.items()},
    }


def run_ingest(
    shared: Path, work: Path, n_docs: int | None, reps: int, start_task: StartTask, log: Callable[[str], None],
    *, probe: bool = True,
) -> dict[str, Any]:
    """Run the interleaved ingest comparison; returns the JSON section.

    Args:
        shared: the shared data folder.
        work: scratch folder for stores.
        n_docs: number of SciFact documents (``None``: all).
        reps: rounds of the schedule :data:`ROUND`.
        probe: also run the session-options probe (:func:`_session_probe`).
        start_task: ``start_task(label, total)`` → progress callback for one run.
        log: one-line status messages.
    """
    from vecnest.encode import minilm

    docs = read_jsonl(shared / "datasets" / "scifact" / "corpus.jsonl")
    n_total = len(docs)
    docs = docs[: n_docs or n_total]
    n = len(docs)
    ids = [str(d["_id"]) for d in docs]
    texts = [beir_doc_text(d) for d in docs]
    # what `vecnest ingest` keeps: every field that is not the id or a text field (none for SciFact)
    metas = [{k: v for k, v in d.items() if k not in ("_id", "title", "text")} for d in docs]

    model_file = minilm.model_path()
    tok_file = tokenizer_path(REPO_ROOT)
    tok_padded = load_tokenizer(tok_file, pad=True)
    tok_plain = load_tokenizer(tok_file, pad=False)
    lengths = token_lengths(texts, tok_plain)

    t0 = time.perf_counter()
    session = load_session(model_file)
    raw_init = time.perf_counter() - t0
    encoder = minilm.default_encoder()
    t0 = time.perf_counter()
    encoder.encode_documents(texts[:4])  # builds the session and checks the weights' SHA-256
    vecnest_init = time.perf_counter() - t0

    log("warm-up (raw loops and a throwaway vecnest store)")
    warm = texts[:64]
    encode_fixed(warm, session, tok_padded, batch_size=RAW_BATCH)
    encode_sorted(warm, session, tok_plain, chunk=ADD_CHUNK, max_batch_tokens=encoder.max_batch_tokens)
    _vecnest_ingest(work / "ingest-warmup", ids[:64], warm, metas[:64], None)
    shutil.rmtree(work / "ingest-warmup", ignore_errors=True)

    times: dict[str, list[float]] = {"raw_fixed": [], "raw_sorted": [], "vecnest": []}
    loadavg: list[float] = []
    outputs: dict[str, np.ndarray] = {}
    schedule = [name for _ in range(reps) for name in ROUND]
    last_store: Path | None = None
    for run_no, name in enumerate(schedule, 1):
        progress = start_task(f"ingest {run_no}/{len(schedule)}: {name}", n)
        if name == "vecnest":
            if last_store is not None:
                shutil.rmtree(last_store, ignore_errors=True)
            last_store = work / f"ingest-vecnest-{run_no}"
            times[name].append(_vecnest_ingest(last_store, ids, texts, metas, progress))
        else:
            gc.collect()
            t0 = time.perf_counter()
            if name == "raw_fixed":
                out = encode_fixed(texts, session, tok_padded, batch_size=RAW_BATCH, progress=progress)
            else:
                out = encode_sorted(
                    texts,
                    session,
                    tok_plain,
                    chunk=ADD_CHUNK,
                    max_batch_tokens=encoder.max_batch_tokens,
                    progress=progress,
                )
            times[name].append(time.perf_counter() - t0)
            outputs[name] = out
        loadavg.append(os.getloadavg()[0])
        log(f"{name}: {times[name][-1]:.2f} s ({n / times[name][-1]:.1f} docs/s), load {loadavg[-1]:.2f}")

    # vectors vecnest stored in the last run, in input order
    assert last_store is not None
    with vecnest.open(last_store, read_only=True) as db:
        col = db.get_collection("scifact", model=None)
        stored = np.stack([d.vector for d in col.get(ids=ids, include_vectors=True)]).astype(np.float32)
    pre_vecs, pre_ids = load_embeddings(shared, "scifact.docs")
    row = {doc_id: i for i, doc_id in enumerate(pre_ids)}
    precomputed = pre_vecs[[row[i] for i in ids]]
    precomputed /= np.linalg.norm(precomputed, axis=1, keepdims=True)

    store_times = []
    for rep in range(max(2, reps)):
        root = work / f"ingest-store-only-{rep}"
        store_times.append(_store_only(root, ids, texts, metas, stored))
        shutil.rmtree(root, ignore_errors=True)

    threads = encoder.intra_op_threads or minilm._default_threads()  # noqa: SLF001
    probe_result = None
    if probe:
        log("probe: raw loop under vecnest's onnxruntime session options")
        probe_result = _session_probe(texts[:PROBE_DOCS], model_file, encoder, tok_plain, start_task)

    med = {k: median(v) for k, v in times.items()}
    return {
        "dataset": "scifact",
        "docs": n,
        "corpus_docs": n_total,
        "full_corpus": n == n_total,
        "tokens": {
            "mean": float(lengths.mean()),
            "total": int(lengths.sum()),
            "truncated_at_256_fraction": float(np.mean(lengths >= 256)),
        },
        "setup": {
            "raw_batch_size": RAW_BATCH,
            "add_chunk": ADD_CHUNK,
            "max_batch_tokens": encoder.max_batch_tokens,
            "schedule": schedule,
            "raw_session_options": "onnxruntime defaults (intra_op_num_threads=0: one per physical core)",
            "vecnest_intra_op_threads": threads,
            "vecnest_memory_arena": bool(getattr(encoder, "memory_arena", False)),
            "model_file": str(model_file),
            "tokenizer_file": str(tok_file.relative_to(REPO_ROOT)),
        },
        "init_s": {"raw_session": raw_init, "vecnest_first_encode_4_docs": vecnest_init},
        "runs_s": times,
        "loadavg_1m_after_each_run": loadavg,
        "median_s": med,
        "docs_per_s": {k: n / v for k, v in med.items()},
        "overhead_vs_raw_fixed": med["vecnest"] / med["raw_fixed"] - 1.0,
        "overhead_vs_raw_sorted": med["vecnest"] / med["raw_sorted"] - 1.0,
        "store_only_s": {"runs": store_times, "median": median(store_times)},
        "store_only_share_of_vecnest": median(store_times) / med["vecnest"],
        "agreement_min_cosine": {
            "vecnest_vs_raw_fixed": _min_cos(stored, outputs["raw_fixed"]),
            "vecnest_vs_raw_sorted": _min_cos(stored, outputs["raw_sorted"]),
            "vecnest_vs_precomputed_embeddings": _min_cos(stored, precomputed),
        },
        "session_options_probe": probe_result,
        "store_path": str(last_store),
    }
