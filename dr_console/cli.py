"""Entry points. `dr-console` alone opens the console; the subcommands serve
scripts and monitoring. Heavy imports (Textual, cloud SDKs) happen inside the
commands that need them, so `status` from the cache starts fast."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from dr_console import __version__
from dr_console.errors import DrConsoleError

if TYPE_CHECKING:
    from dr_console.config import Site, Store
    from dr_console.model import Snapshot

EXIT_UNKNOWN = 3
DEFAULT_MAX_AGE = "10m"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dr-console",
        description="Disaster-recovery console: what must come back, which copy to trust, "
        "and how to restore it.",
    )
    parser.add_argument("--version", action="version", version=f"dr-console {__version__}")
    parser.add_argument(
        "--site", type=Path, default=None,
        help="site file (default: $DR_CONSOLE_SITE, then ~/.config/dr-console/site.yaml)",
    )
    parser.add_argument("--write", action="store_true", default=False,
                        help="console only: allow runbooks to be started (read-only by default)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    tui = sub.add_parser("tui", help="open the console (the default)")
    tui.add_argument("--drill", action="store_true", help="drill mode banner")
    # Its own dest: a subparser's default would overwrite `dr-console --write tui`.
    tui.add_argument("--write", dest="tui_write", action="store_true",
                     help="allow runbooks to be started (the console is read-only by default)")

    status = sub.add_parser(
        "status", help="overall backup status; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN"
    )
    _add_snapshot_options(status)
    status.add_argument("--json", action="store_true", help="the documented JSON contract")

    inventory = sub.add_parser("inventory", help="every asset with its class and last good copy")
    _add_snapshot_options(inventory)
    inventory.add_argument("--class", dest="asset_class", metavar="CLASS",
                           help="only this class (boot-infra, metadata, payload, "
                           "reproducible, unclassified)")
    inventory.add_argument("--json", action="store_true")

    verify = sub.add_parser("verify", help="check the copies of assets (deep: download and hash)")
    verify.add_argument("assets", nargs="*", metavar="ASSET", help="asset names or ids (default: all)")
    verify.add_argument("--deep", action="store_true",
                        help="download and hash every copy in the stores, even if hashed before")
    verify.add_argument("--json", action="store_true")

    backup = sub.add_parser("backup", help="make an offsite backup now")
    backup_sub = backup.add_subparsers(dest="backup_kind", metavar="KIND", required=True)
    backup_db = backup_sub.add_parser(
        "db", help="dump one MySQL/MariaDB database into a store, with a manifest")
    backup_db.add_argument("name", metavar="NAME", help="database name")
    backup_db.add_argument("--server", metavar="S", help="mysql server of the site file")
    backup_db.add_argument("--store", metavar="S", help="store of the site file")

    run = sub.add_parser("run", help="run a restore runbook (journaled, resumable)")
    run_sub = run.add_subparsers(dest="runbook", metavar="RUNBOOK", required=True)
    metadata = run_sub.add_parser(
        "metadata-db", help="restore a metadata database from its last good dump, via staging")
    metadata.add_argument("--db", required=True, metavar="NAME", help="database to restore")
    metadata.add_argument("--copy", metavar="LOCATION",
                          help="s3://bucket/key of the dump (default: the last good one)")
    metadata.add_argument("--server", metavar="S", help="mysql server of the site file")
    _add_run_options(metadata)

    runs = sub.add_parser("runs", help="runbook runs from the journal")
    runs.add_argument("--json", action="store_true")

    resume = sub.add_parser("resume", help="resume a run: every step re-checks the world first")
    resume.add_argument("run_id", metavar="RUN_ID")
    _add_skip_option(resume)
    resume.add_argument("--yes", action="store_true",
                        help="confirm destructive steps in advance (no typed confirmation)")

    drop = sub.add_parser("drop-kept", help="drop a schema kept by a restore (<db>__pre_restore_<ts>)")
    drop.add_argument("schema", metavar="SCHEMA")
    drop.add_argument("--server", metavar="S", help="mysql server of the site file")
    drop.add_argument("--yes", action="store_true", help="skip the typed confirmation")

    try:
        from dr_console.lab.cli import register as register_lab
    except ImportError:  # the lab is a development aid; the console works without it
        pass
    else:
        register_lab(sub)
    return parser


def _add_snapshot_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--refresh", action="store_true",
                        help="ask every backend now instead of using the cached inventory")
    parser.add_argument("--max-age", default=DEFAULT_MAX_AGE, metavar="DURATION",
                        help=f"refresh when the cache is older than this (default {DEFAULT_MAX_AGE})")


def _add_skip_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--skip", action="append", default=[], metavar="STEP",
                        help="skip this step (only steps marked skippable, e.g. smoke-check "
                        "while the service is not up yet); repeatable")


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    _add_skip_option(parser)
    parser.add_argument("--dry-run", action="store_true",
                        help="show the plan and every equivalent command; touch nothing")
    parser.add_argument("--yes", action="store_true",
                        help="confirm destructive steps in advance (no typed confirmation)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _dispatch(args)
    except DrConsoleError as exc:
        print(f"dr-console: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("dr-console: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # last line of defence: no traceback reaches the operator
        log = _write_crash_log()
        print(f"dr-console: internal error ({type(exc).__name__}); details in {log}",
              file=sys.stderr)
        return EXIT_UNKNOWN


def _write_crash_log() -> Path:
    from dr_console.locations import state_dir

    path = state_dir() / "crash.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fh.write(f"--- {datetime.now(UTC).isoformat()}\n{traceback.format_exc()}\n")
    return path


def _dispatch(args: argparse.Namespace) -> int:
    command = args.command or "tui"
    if command == "lab":
        return int(args.func(args))
    if command == "tui":
        from dr_console.tui import run_tui

        return run_tui(args.site, mode="DRILL" if getattr(args, "drill", False) else "LIVE",
                       write=bool(args.write or getattr(args, "tui_write", False)))
    if command == "runs":
        return _list_runs(args.json)
    if command == "resume":
        return _resume(args.site, args.run_id, args.yes, args.skip)
    site = _load_site(args.site)
    if command == "backup":
        return _backup_db(site, args.name, args.server, args.store)
    if command == "run":
        return _run_runbook(site, args)
    if command == "drop-kept":
        return _drop_kept(site, args.schema, args.server, args.yes)
    if command == "status":
        snapshot = _snapshot(site, args.refresh, args.max_age)
        return _print_status(snapshot, args.json)
    if command == "inventory":
        snapshot = _snapshot(site, args.refresh, args.max_age)
        return _print_inventory(snapshot, args.asset_class, args.json)
    if command == "verify":
        return _verify(site, args.assets, args.deep, args.json)
    raise DrConsoleError(f"unknown command {command!r}")


def _load_site(path: Path | None) -> Site:
    from dr_console.config import load_site

    return load_site(path)


def _snapshot(site: Site, refresh: bool, max_age: str) -> Snapshot:
    from dr_console.config import parse_duration
    from dr_console.inventory import gather, load_cached, save_snapshot

    try:
        limit = parse_duration(max_age)
    except ValueError as exc:
        raise DrConsoleError(f"--max-age: {exc}") from None
    if not refresh:
        cached = load_cached(site)
        if cached is not None:
            age = (datetime.now(UTC) - cached.generated_at).total_seconds()
            if age <= limit:
                return cached
    snapshot = gather(site)
    save_snapshot(snapshot, site)
    return snapshot


def _print_status(snapshot: Snapshot, as_json: bool) -> int:
    from dr_console import render
    from dr_console.report import snapshot_to_dict

    if as_json:
        json.dump(snapshot_to_dict(snapshot, datetime.now(UTC)), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        render.status(snapshot, datetime.now(UTC))
    return int(snapshot.overall)


def _print_inventory(snapshot: Snapshot, asset_class: str | None, as_json: bool) -> int:
    from dataclasses import replace

    from dr_console import render
    from dr_console.model import AssetClass
    from dr_console.report import snapshot_to_dict

    if asset_class is not None:
        try:
            wanted = AssetClass(asset_class)
        except ValueError:
            names = ", ".join(c.value for c in AssetClass)
            raise DrConsoleError(f"--class: unknown class {asset_class!r} (one of {names})") \
                from None
        snapshot = replace(snapshot, coverages=tuple(
            c for c in snapshot.coverages if c.classification.asset_class is wanted
        ))
    if as_json:
        json.dump(snapshot_to_dict(snapshot, datetime.now(UTC)), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        render.inventory(snapshot, datetime.now(UTC))
    return 0


def _verify(site: Site, names: list[str], deep: bool, as_json: bool) -> int:
    from dr_console import render
    from dr_console.verify import verify_assets

    results = verify_assets(site, names, deep=deep)
    if as_json:
        json.dump([r.to_dict() for r in results], sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        render.verify(results)
    return max((r.exit_code for r in results), default=0)


# --------------------------------------------------------------------------
# Backups and runbooks


def _backup_db(site: Site, name: str, server_name: str | None, store_name: str | None) -> int:
    from rich.console import Console
    from rich.progress import (
        DownloadColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    from dr_console.backup import timestamp
    from dr_console.backup.dump import backup_database
    from dr_console.humanize import size
    from dr_console.inventory import cache_path
    from dr_console.runbooks.metadata_db import pick_server

    server = pick_server(site, server_name, name)
    store = _backup_store(site, store_name)
    key = f"mysql/{name}/{name}-{timestamp()}.sql.gz"
    console = Console(highlight=False)
    with Progress(TextColumn(f"  dumping {name}"), DownloadColumn(), TransferSpeedColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task(name, total=None)
        full_key, manifest = backup_database(
            server, name, store, key, progress=lambda done: bar.update(task, completed=done))
    # The cached inventory does not know this copy yet: the next reader gathers anew.
    cache_path(site).unlink(missing_ok=True)
    rows = sum(manifest.tables.values())
    console.print(f"[green]✓[/] s3://{store.bucket}/{full_key}")
    console.print(f"  size    {size(manifest.size)} ({manifest.size} bytes, gzip)")
    console.print(f"  sha256  {manifest.sha256}")
    console.print(f"  tables  {len(manifest.tables)} ({rows} rows)")
    return 0


def _backup_store(site: Site, name: str | None) -> Store:
    if name is not None:
        for store in site.stores:
            if store.name == name:
                return store
        raise DrConsoleError(f"no store {name!r} in {site.path}")
    # The store the site's dump pattern points at, else the only store.
    named = {p.store for p in site.copies if p.kind == "sql-dump"}
    if len(named) == 1:
        return site.store(named.pop())
    if len(site.stores) == 1:
        return site.stores[0]
    raise DrConsoleError("several stores: choose one with --store")


def _install_cancel() -> threading.Event:
    """First Ctrl-C (or a hang-up, or SIGTERM) asks the running step to stop
    cleanly; a second Ctrl-C interrupts at once."""
    import signal

    cancel = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        if cancel.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        cancel.set()
        if signum == signal.SIGINT:
            print("dr-console: cancelling after the current chunk (Ctrl-C again to stop now)",
                  file=sys.stderr)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    return cancel


def _run_runbook(site: Site, args: argparse.Namespace) -> int:
    from dr_console.runbooks import Engine, registry
    from dr_console.runbooks.sinks import RichSink

    params = {"db": args.db, "copy": args.copy, "server": args.server}
    runbook = registry.build(args.runbook, site, params)
    engine = Engine(runbook, RichSink(), assume_yes=args.yes, dry_run=args.dry_run,
                    cancel=_install_cancel(), skip=args.skip)
    return engine.run().exit_code


def _resume(site_path: Path | None, run_id: str, yes: bool, skip: list[str]) -> int:
    from dr_console.runbooks import resume
    from dr_console.runbooks.sinks import RichSink

    site = _load_site(site_path) if site_path is not None else None
    return resume(run_id, RichSink(), assume_yes=yes, site=site, cancel=_install_cancel(),
                  skip=skip).exit_code


def _list_runs(as_json: bool) -> int:
    from rich.console import Console
    from rich.table import Table

    from dr_console.runbooks.journal import iter_runs
    from dr_console.runbooks.locks import is_locked, read_holder

    runs = list(iter_runs())
    for run in runs:
        if run.outcome == "interrupted" and is_locked(run.target) \
                and read_holder(run.target).get("run_id") == run.run_id:
            run.outcome = "running"
    if as_json:
        json.dump([r.to_dict() for r in runs], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    table = Table(title="Runbook runs", caption="resume one with: dr-console resume RUN_ID")
    for column in ("run", "runbook", "target", "operator", "started", "outcome", "duration"):
        table.add_column(column)
    colours = {"succeeded": "green", "running": "cyan", "dry-run": "cyan"}
    for run in runs:
        colour = colours.get(run.outcome, "red")
        seconds = run.duration
        table.add_row(run.run_id, run.runbook, run.target, f"{run.operator}@{run.host}",
                      run.started.strftime("%Y-%m-%d %H:%M:%SZ"), f"[{colour}]{run.outcome}[/]",
                      "" if seconds is None else f"{seconds:.1f}s")
    Console(highlight=False).print(table)
    return 0


def _drop_kept(site: Site, schema: str, server_name: str | None, yes: bool) -> int:
    import re

    from dr_console.runbooks.journal import new_run_id
    from dr_console.runbooks.locks import TargetLock
    from dr_console.runbooks.metadata_db import connect, pick_server, schema_exists

    match = re.fullmatch(r"(.+)__pre_restore_\d{8}T\d{6}Z", schema)
    if not match:
        raise DrConsoleError(f"{schema!r} is not a schema kept by a restore "
                             "(<db>__pre_restore_<YYYYMMDDTHHMMSSZ>); refusing to drop it")
    db = match.group(1)
    server = pick_server(site, server_name, db)
    conn = connect(server)
    try:
        if not schema_exists(conn, schema):
            raise DrConsoleError(f"no schema {schema} on {server.name}")
        if not yes:
            if not sys.stdin.isatty():
                print(f"dr-console: dropping {schema} needs its typed name and there is no "
                      "terminal; run again with --yes", file=sys.stderr)
                return 2
            print(f"This drops {schema} on {server.name} for good.")
            answer = input(f"Type the name of the target ({schema}) to continue: ")
            if answer.strip() != schema:
                print("Not confirmed; nothing dropped.")
                return 2
        from dr_console.restore.swap import drop_kept

        with TargetLock(f"mysql:{server.name}/{db}", new_run_id()):
            drop_kept(conn, schema)
    finally:
        conn.close()
    print(f"dropped {schema} on {server.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
