"""Side-by-side peer benchmark: vecnest against Chroma, LanceDB, Qdrant (local), FAISS, hnswlib,
usearch and Milvus Lite on the same vectors, the same filters, the same machine, in one run.

Entry point: ``benchmarks/peers.py`` (``.venv/bin/python benchmarks/peers.py --all``).

Modules:
  data        — scale points (SciFact, arXiv titles, ≥1M arXiv abstract chunks) written to a folder
                that every worker reads: base/query vectors, attribute columns, workloads.
  predicates  — the neutral filter form, its translation per system, and numpy evaluation.
  systems     — one adapter per system (build, search with a knob and a filter, bytes on disk).
  worker      — the subprocess that hosts one system (so memory is measured per system).
  runner      — ground truth, the interleaved query schedule, recall/QPS/nDCG aggregation.
  plots       — PNG plots under ``benchmarks/results/``.
"""
