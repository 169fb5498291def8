"""The demo: index the bundled arXiv sample (CC0) and run a few searches, with and without filters."""

from __future__ import annotations

import time
from importlib.resources import files
from pathlib import Path

from rich.console import Console

import vecnest
from vecnest.cli.ingest import JsonlSource
from vecnest.cli.render import hits_table, info_table

COLLECTION = "arxiv-sample"

#: (query, where, where_document) — real questions over the sample's real attributes.
QUERIES: tuple[tuple[str, dict | None, dict | None], ...] = (
    ("retrieval-augmented generation for question answering", None, None),
    (
        "3D reconstruction of a scene from images",
        {"primary_category": "cs.CV", "year": 2026},
        None,
    ),
    (
        "making large language model inference cheaper",
        {"$and": [{"categories": {"$contains": "cs.CL"}}, {"listing_date": {"$gte": "2025-10-01"}}]},
        None,
    ),
    ("robot learning from human demonstrations", {"n_authors": {"$lte": 4}}, {"$contains": "robot"}),
)


def sample_path() -> Path:
    """Path of the bundled sample file."""
    return Path(str(files("vecnest") / "data" / "arxiv-cs-sample.jsonl.gz"))


def run_demo(db_path: Path, console: Console, *, fresh: bool = False) -> int:
    """Index the sample into ``db_path`` (once) and print example searches with timings."""
    from vecnest.cli.main import ingest_source

    if fresh:
        vecnest.delete_store(db_path)  # refuses anything but a vecnest store or an empty folder
    source = JsonlSource(sample_path())
    console.rule("[bold]vecnest demo")
    console.print(
        f"store: [cyan]{db_path}[/]   data: 1,000 arXiv cs papers (CC0), model: "
        "all-MiniLM-L6-v2 (int8 ONNX, offline)"
    )
    with vecnest.open(db_path) as db:
        col = db.get_or_create_collection(
            COLLECTION, indexed_fields=("primary_category", "year", "listing_date")
        )
        if len(col) < source.count():
            n, seconds = ingest_source(db, COLLECTION, source, console, upsert=True, batch_size=250)
            console.print(f"indexed {n:,} papers in {seconds:.1f} s ({n / seconds:,.0f} docs/s)")
        else:
            console.print(f"already indexed: {len(col):,} papers (use --fresh to rebuild)")
        show = ("primary_category", "listing_date", "n_authors")
        for query, where, where_document in QUERIES:
            start = time.perf_counter()
            hits = col.search(query, k=5, where=where, where_document=where_document)
            elapsed = (time.perf_counter() - start) * 1000
            console.print()
            if where or where_document:
                console.print(f"[dim]where={where} where_document={where_document}[/]")
            console.print(hits_table(query, hits, elapsed, show))
        console.print()
        console.print(info_table(db.info()))
    return 0
