"""``vecnest serve`` and ``vecnest keys add|list|revoke``."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from vecnest.server.auth import KeyStore
from vecnest.server.config import Limits, ServerConfig

_LIMIT_FLAGS = {
    "max_body_bytes": int,
    "max_batch": int,
    "max_k": int,
    "max_page": int,
    "max_query_chars": int,
    "max_text_chars": int,
    "max_filter_depth": int,
    "max_filter_nodes": int,
}


def _keys_path(args: argparse.Namespace) -> Path:
    return Path(args.keys) if args.keys else Path(args.db) / "keys.json"


def cmd_serve(args: argparse.Namespace, console: Console) -> int:
    from vecnest.server.run import serve

    defaults = Limits()
    limits = Limits(
        **{name: getattr(args, name) if getattr(args, name) is not None else getattr(defaults, name)
           for name in _LIMIT_FLAGS},
        request_timeout=args.timeout if args.timeout is not None else defaults.request_timeout,
    )
    config = ServerConfig(
        db=Path(args.db),
        host=args.host,
        port=args.port,
        keys_file=Path(args.keys) if args.keys else None,
        limits=limits,
        models=tuple(args.model) if args.model else ("default",),
        datasets_dir=Path(args.datasets) if args.datasets else None,
        reports_dir=Path(args.reports) if args.reports else None,
        read_threads=args.threads,
    )
    serve(config, access_log=args.access_log, announce=lambda line: print(line, flush=True))
    return 0


def cmd_keys(args: argparse.Namespace, console: Console) -> int:
    store = KeyStore(_keys_path(args))
    if args.keys_command == "add":
        if not args.keys:  # the default keys file lives in the store: make sure it is one
            import vecnest

            vecnest.open(args.db).close()
        key, record = store.add(args.name, args.scope, args.collections.split(","))
        console.print(f"created key [cyan]{record.key_id}[/] ({record.scope}, collections "
                      f"{', '.join(record.collections)}) in {store.path}", highlight=False)
        console.print("the key (shown once, stored only as a hash):", highlight=False)
        print(key)
    elif args.keys_command == "revoke":
        record = store.revoke(args.key_id)
        console.print(f"revoked key [cyan]{record.key_id}[/] ({record.name}); servers refuse it "
                      "from their next request", highlight=False)
    else:
        table = Table(title=f"API keys in {store.path}", title_justify="left")
        for col in ("id", "name", "scope", "collections", "created", "state"):
            table.add_column(col)
        for r in store.records():
            table.add_row(r.key_id, r.name, r.scope, ", ".join(r.collections), r.created_at,
                          "[red]revoked[/]" if r.revoked else "[green]active[/]")
        console.print(table)
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``serve`` and ``keys`` on the main parser."""
    p = sub.add_parser("serve", help="serve a store over HTTP (extra: server)")
    p.add_argument("--db", required=True, help="store directory (created if new)")
    p.add_argument("--host", default="127.0.0.1", help="interface; non-loopback needs API keys")
    p.add_argument("--port", type=int, default=8000, help="TCP port (0: any free port)")
    p.add_argument("--keys", default=None, help="API keys file (default: <db>/keys.json)")
    p.add_argument("--model", action="append", default=None,
                   help="model spec clients may create collections with (repeatable; default: 'default')")
    p.add_argument("--datasets", default=None, help="folder of BEIR datasets clients may evaluate on")
    p.add_argument("--reports", default=None, help="folder of evaluation reports shown on /ui")
    p.add_argument("--threads", type=int, default=32, help="worker threads for engine calls")
    p.add_argument("--timeout", type=float, default=None, help="seconds a read may run (default 30)")
    for name, kind in _LIMIT_FLAGS.items():
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, default=None,
                       help=f"limit (default {getattr(Limits(), name):,})")
    p.add_argument("--access-log", action="store_true", help="log each request (never keys)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("keys", help="manage the API keys of vecnest serve")
    ks = p.add_subparsers(dest="keys_command", required=True)
    for name, help_ in (("add", "create a key (printed once)"), ("list", "show keys (never the keys)"),
                        ("revoke", "revoke a key by id")):
        q = ks.add_parser(name, help=help_)
        q.add_argument("--db", required=True, help="store directory the keys belong to")
        q.add_argument("--keys", default=None, help="keys file (default: <db>/keys.json)")
        if name == "add":
            q.add_argument("--name", required=True, help="a label for the key")
            q.add_argument("--scope", choices=("read", "write"), default="read")
            q.add_argument("--collections", default="*", help="comma list of names or patterns (default '*')")
        if name == "revoke":
            q.add_argument("key_id")
        q.set_defaults(func=cmd_keys)
