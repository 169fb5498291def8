"""``vecnest`` command line: ingest, search, info, eval, calibrate, demo, serve, keys. Calls only the public API."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

import vecnest
from vecnest.cli.ingest import JsonlSource
from vecnest.cli.serve import add_parsers as add_server_parsers
from vecnest.cli.tune import add_arguments as add_tune_arguments
from vecnest.cli.render import hits_json, hits_table, info_table, ingest_progress
from vecnest.errors import InvalidInputError, VecnestError


def _json_arg(value: str | None, flag: str) -> dict | None:
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"{flag} must be a JSON object, e.g. '{{\"year\": {{\"$gte\": 2025}}}}'; could not "
            f"parse {value!r}: {exc.msg}"
        ) from None
    return parsed


def _csv(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def ingest_source(
    db: vecnest.Database,
    collection: str,
    source: JsonlSource,
    console: Console,
    *,
    model: str = "default",
    batch_size: int = 512,
    limit: int | None = None,
    upsert: bool = False,
    index_fields: tuple[str, ...] = (),
) -> tuple[int, float]:
    """Ingest a JSONL source into ``collection`` with a progress bar; returns (docs, seconds)."""
    col = db.get_or_create_collection(collection, model, indexed_fields=index_fields)
    total = source.count()
    if limit is not None:
        total = min(total, limit)
    start = time.perf_counter()
    done = 0
    with ingest_progress(console, total, f"ingest → {collection}") as advance:
        for ids, texts, metas in source.batches(batch_size, limit):
            writer = col.upsert if upsert else col.add
            writer(ids, texts, metas, progress=advance)
            done += len(ids)
    return done, time.perf_counter() - start


def _cmd_ingest(args: argparse.Namespace, console: Console) -> int:
    source = JsonlSource(
        Path(args.data),
        id_field=args.id_field,
        text_fields=_csv(args.text_fields),
        metadata_fields=_csv(args.metadata_fields) if args.metadata_fields else None,
    )
    with vecnest.open(args.db) as db:
        n, seconds = ingest_source(
            db,
            args.collection,
            source,
            console,
            model=args.model,
            batch_size=args.batch_size,
            limit=args.limit,
            upsert=args.upsert,
            index_fields=_csv(args.index_fields) if args.index_fields else (),
        )
        total = len(db.get_collection(args.collection))
    console.print(
        f"[green]ingested[/] {n:,} documents in {seconds:.1f} s ({n / max(seconds, 1e-9):,.0f} "
        f"docs/s); collection [cyan]{args.collection}[/] now holds {total:,}"
    )
    return 0


def _cmd_search(args: argparse.Namespace, console: Console) -> int:
    where = _json_arg(args.where, "--where")
    where_document = _json_arg(args.where_document, "--where-document")
    with vecnest.open(args.db, read_only=True) as db:
        col = db.get_collection(args.collection)
        start = time.perf_counter()
        hits = col.search(args.query, k=args.k, where=where, where_document=where_document)
        elapsed = (time.perf_counter() - start) * 1000
    if args.json:
        print(hits_json(hits))
    else:
        console.print(hits_table(args.query, hits, elapsed, _csv(args.show) if args.show else ()))
    return 0


def _cmd_info(args: argparse.Namespace, console: Console) -> int:
    with vecnest.open(args.db, read_only=True) as db:
        info = db.info()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        console.print(info_table(info))
    return 0


def _cmd_eval(args: argparse.Namespace, console: Console) -> int:
    from rich.table import Table

    from vecnest.eval.sweep import load_sweep, plot_sweep, run_sweep

    if args.sweep:
        spec = load_sweep(args.sweep)
        with console.status("sweep") as status:
            reports = run_sweep(spec, progress=lambda msg: status.update(msg))
    else:
        if not args.dataset:
            raise InvalidInputError("vecnest eval needs --dataset DIR (or --sweep FILE.toml)")
        db = vecnest.open(args.db, read_only=True) if args.db else None
        target = db.get_collection(args.collection) if db else args.model
        search: dict[str, object] = {"mode": args.mode}
        if args.rerank != "none":
            search["rerank"] = args.rerank
        with console.status("evaluating"):
            reports = [vecnest.evaluate(target, args.dataset, _csv(args.metrics), k=args.k, index=args.index, search=search)]
        if db is not None:
            db.close()
    table = Table(title=f"[bold]{reports[0].dataset}[/] — {reports[0].n_docs:,} docs, "
                  f"{reports[0].n_queries} queries, model {reports[0].config['model']}", title_justify="left")
    for col, justify in (("config", "left"), ("search", "left"), *((m, "right") for m in reports[0].quality),
                         ("recall@10 vs exact", "right"), ("p50 ms", "right"), ("p99 ms", "right"),
                         ("QPS 1 thread", "right"), ("bytes/vector", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in reports:
        table.add_row(
            r.config.get("name", r.config["index"]), json.dumps(r.config["search"]) if r.config["search"] else "",
            *(f"{v:.4f}" for v in r.quality.values()),
            f"{r.ann_recall['recall@10']:.4f}" if "recall@10" in r.ann_recall else "—",
            f"{r.latency_ms['p50']:.2f}", f"{r.latency_ms['p99']:.2f}",
            f"{r.throughput_qps['single_thread']:,.0f}", f"{sum(r.bytes_per_vector.values()):,.0f}",
        )
    console.print(table)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "eval.json").write_text(json.dumps([r.to_json() for r in reports], indent=2) + "\n")
        (out / "eval.md").write_text("\n".join(r.to_markdown() for r in reports))
        written = ["eval.json", "eval.md"]
        if args.sweep or len(reports) > 1:
            written += [p.name for p in plot_sweep(reports, out)]
        console.print(f"wrote {', '.join(str(out / w) for w in written)}")
    return 0


def _cmd_calibrate(args: argparse.Namespace, console: Console) -> int:
    from rich.table import Table

    from vecnest.eval.hybrid import calibrate_dataset

    with console.status("calibrating the relevance cut-off"):
        model = calibrate_dataset(args.dataset, model=args.model, mode=args.mode, holdout=args.holdout, min_relevance=args.min_relevance)
    report = model.fitted_on
    table = Table(title=f"relevance cut-off on {report['dataset']} (held-out {report['heldout_queries']} queries, "
                  f"min_relevance={report['min_relevance']}, top {report['k']})", title_justify="left")
    for col in ("model", "precision", "recall", "queries returning nothing"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for label, key in (("fitted (logistic)", "heldout"), ("label-free (distribution)", "heldout_distribution_model")):
        q = report[key]
        table.add_row(label, f"{q['precision']:.3f}", f"{q['recall']:.3f}", f"{q['empty_rate']:.1%}")
    console.print(table)
    model.save(args.out)
    console.print(f"wrote {args.out}")
    return 0


def _cmd_tune(args: argparse.Namespace, console: Console) -> int:
    import numpy as np

    from vecnest.cli.tune import run

    with vecnest.open(args.db) as db:
        col = db.get_collection(args.collection, model=None)
        docs = col.get(include_vectors=True)
        if not docs:
            raise InvalidInputError(f"collection {args.collection!r} is empty: nothing to tune on")
        vectors = np.stack([d.vector for d in docs]).astype(np.float32)
        return run(args, vectors, console, l2=col.metric.value == "l2", apply=col.set_compression)


def _cmd_check(args: argparse.Namespace, console: Console) -> int:
    from vecnest.cli.check import run

    return run(args.db, console, repair=args.repair, as_json=args.json)


def _cmd_demo(args: argparse.Namespace, console: Console) -> int:
    from vecnest.cli.demo import run_demo

    return run_demo(Path(args.db), console, fresh=args.fresh)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(
        prog="vecnest", description="Embedded semantic search: ingest, search, inspect."
    )
    parser.add_argument("--version", action="version", version=f"vecnest {vecnest.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="embed and store a JSONL file or BEIR directory")
    p.add_argument("data", help="a .jsonl/.jsonl.gz file, or a BEIR dir with corpus.jsonl")
    p.add_argument("--db", required=True, help="store directory (created if new)")
    p.add_argument("-c", "--collection", required=True)
    p.add_argument("--id-field", default="_id")
    p.add_argument("--text-fields", default="title,text", help="joined with a space (default: title,text)")
    p.add_argument("--metadata-fields", default=None, help="comma list; default: all other fields")
    p.add_argument("--index-fields", default=None, help="metadata fields to index for filtering")
    p.add_argument("--model", default="default", help="'default' or 'sentence-transformers:NAME'")
    p.add_argument("--batch-size", type=int, default=512, help="documents per atomic write")
    p.add_argument("--limit", type=int, default=None, help="ingest only the first N documents")
    p.add_argument("--upsert", action="store_true", help="replace documents whose id exists")
    p.set_defaults(func=_cmd_ingest)

    p = sub.add_parser("search", help="semantic search in a collection")
    p.add_argument("query")
    p.add_argument("--db", required=True)
    p.add_argument("-c", "--collection", required=True)
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--where", default=None, help='metadata filter as JSON, e.g. \'{"year": 2026}\'')
    p.add_argument("--where-document", default=None, help='text filter, e.g. \'{"$contains": "LLM"}\'')
    p.add_argument("--show", default=None, help="metadata fields to show (comma list)")
    p.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    p.set_defaults(func=_cmd_search)

    p = sub.add_parser("info", help="collections, counts, models and bytes on disk")
    p.add_argument("--db", required=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser(
        "check",
        help="verify a store (catalog, vectors, checksums, indexes, files); exit 0 sound, 1 damaged, 2 not checkable",
    )
    p.add_argument("--db", required=True)
    p.add_argument("--repair", action="store_true", help="rebuild derived data, sweep leftovers, re-embed lost vectors")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("eval", help="quality and cost of a model/collection on a BEIR dataset")
    p.add_argument("--dataset", default=None, help="BEIR dir: corpus.jsonl, queries.jsonl, qrels/test.tsv")
    p.add_argument("--sweep", default=None, help="a sweep file (TOML): many configs, plots")
    p.add_argument("--index", default=None, help="index of the collection built: exact, hnsw, ivf, ivf_pq")
    p.add_argument("--model", default="default", help="model to build a temporary collection with")
    p.add_argument("--db", default=None, help="evaluate an existing collection instead (with -c)")
    p.add_argument("-c", "--collection", default=None)
    p.add_argument("--metrics", default="ndcg@10,recall@100,mrr@10")
    p.add_argument("-k", type=int, default=100)
    p.add_argument("--mode", default="auto", choices=["auto", "dense", "lexical", "hybrid"],
                   help="search mode (auto: hybrid, the default of text searches)")
    p.add_argument("--rerank", default="none", choices=["none", "feedback"], help="rerank the candidates")
    p.add_argument("--out", default=None, help="folder for eval.json, eval.md and plots")
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser("tune", help="pick a compression pipeline for a RAM budget or a quality floor, on the collection's own vectors")
    p.add_argument("--db", required=True)
    p.add_argument("-c", "--collection", required=True)
    add_tune_arguments(p)
    p.set_defaults(func=_cmd_tune)

    p = sub.add_parser("calibrate", help="fit the min_relevance cut-off from a BEIR dataset's judgements")
    p.add_argument("--dataset", required=True, help="BEIR dir: corpus.jsonl, queries.jsonl, qrels/test.tsv")
    p.add_argument("--model", default="default", help="the collection's model")
    p.add_argument("--mode", default="hybrid", choices=["hybrid", "dense", "lexical"])
    p.add_argument("--holdout", type=float, default=0.5, help="share of judged queries held out to report on")
    p.add_argument("--min-relevance", type=float, default=0.5, help="threshold the held-out report uses")
    p.add_argument("--out", default="relevance.json", help="where the fitted model (JSON) goes")
    p.set_defaults(func=_cmd_calibrate)

    p = sub.add_parser("demo", help="index the bundled arXiv sample and run example searches")
    p.add_argument("--db", default=".demo/store")
    p.add_argument("--fresh", action="store_true", help="re-index from scratch (deletes --db only if it is a vecnest store)")
    p.set_defaults(func=_cmd_demo)

    add_server_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code. Errors print one line, not a traceback."""
    args = build_parser().parse_args(argv)
    console = Console(stderr=False)
    try:
        return int(args.func(args, console))
    except VecnestError as exc:
        Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {type(exc).__name__}: {exc}", highlight=False)
        return 2
    except (OSError, ValueError) as exc:
        Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {exc}", highlight=False)
        return 2
    except KeyboardInterrupt:
        Console(stderr=True, soft_wrap=True).print("[yellow]interrupted[/]: every completed batch is stored")
        return 130


if __name__ == "__main__":
    sys.exit(main())
