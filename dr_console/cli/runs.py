"""The CLI's commands that change the world or look back at what did:
`backup db`, `run`, `resume`, `runs`, `drop-kept`. Each runbook runs on the
engine with the Rich sink; Ctrl-C, a hang-up or SIGTERM cancel it cleanly."""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from dr_console.errors import DrConsoleError

if TYPE_CHECKING:
    from dr_console.schema import Site, Store

# Volumes restored at once by `--all`: the cloud serialises attaches per
# server anyway; two keep one restoring while the other attaches.
ALL_PARALLEL = 2


def backup_db(site: Site, name: str, server_name: str | None, store_name: str | None) -> int:
    from rich.console import Console
    from rich.progress import (
        DownloadColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    from dr_console import snapshots
    from dr_console.backup import timestamp
    from dr_console.backup.dump import backup_database
    from dr_console.humanize import size

    server = site.mysql_server(name, server_name)
    store = _backup_store(site, store_name)
    key = f"mysql/{name}/{name}-{timestamp()}.sql.gz"
    console = Console(highlight=False)
    with Progress(TextColumn(f"  dumping {name}"), DownloadColumn(), TransferSpeedColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task(name, total=None)
        full_key, manifest = backup_database(
            server, name, store, key, progress=lambda done: bar.update(task, completed=done))
    # The cached inventory does not know this copy yet: the next reader gathers anew.
    snapshots.forget(site.path)
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


class Signals:
    """How a CLI run answers signals. Ctrl-C (once) or SIGTERM cancels: the
    running step stops at its next check and cleans up its half-done work; a
    second Ctrl-C interrupts at once. A hang-up (the SSH session dropped)
    does not throw work away: the running step finishes, then the run stops
    before the next one, journaled, to be resumed."""

    def __init__(self) -> None:
        import signal

        self.cancel = threading.Event()
        self.stop_after_step = threading.Event()
        signal.signal(signal.SIGINT, self._interrupt)
        signal.signal(signal.SIGTERM, self._terminate)
        signal.signal(signal.SIGHUP, self._hang_up)

    def _interrupt(self, signum: int, frame: object) -> None:
        if self.cancel.is_set():
            raise KeyboardInterrupt
        self.cancel.set()
        print("dr-console: cancelling after the current chunk (Ctrl-C again to stop now)",
              file=sys.stderr)

    def _terminate(self, signum: int, frame: object) -> None:
        self.cancel.set()

    def _hang_up(self, signum: int, frame: object) -> None:
        # Nothing is printed: the terminal is gone. The engine journals it.
        self.stop_after_step.set()


def run_runbook(site: Site, args: argparse.Namespace) -> int:
    from dr_console.cli.sink import RichSink
    from dr_console.runbooks import Engine, registry

    if args.runbook == "payload-volume" and args.all:
        return run_payload_all(site, args)
    params = runbook_params(args)
    runbook = registry.build(args.runbook, site, params)
    signals = Signals()
    engine = Engine(runbook, RichSink(), assume_yes=args.yes, dry_run=args.dry_run,
                    cancel=signals.cancel, stop_after_step=signals.stop_after_step, skip=args.skip)
    return engine.run().exit_code


def runbook_params(args: argparse.Namespace) -> dict[str, object]:
    """The runbook's parameters from its command line (names, never secrets)."""
    if args.runbook == "metadata-db":
        return {"db": args.db, "copy": args.copy, "server": args.server}
    if args.runbook == "boot-infra":
        return {"host": args.host, "target": args.target, "copies": args.copy,
                "fingerprint": args.fingerprint, "check_only": args.check_only,
                "whole_etc": args.whole_etc, "clear_selections": args.clear_selections}
    if args.volume is None:
        raise DrConsoleError("payload-volume needs --volume NAME|ID, or --server S --all")
    return {"volume": args.volume, "server": args.server, "cloud": args.cloud, "copy": args.copy,
            "mount": args.mount, "reset_state": args.reset_state,
            "attach_timeout": args.attach_timeout}


def run_payload_all(site: Site, args: argparse.Namespace) -> int:
    """Every payload volume attached to one server, each its own run (its own
    journal and lock), a few at a time, one line each on screen. One typed
    confirmation, the server's name, covers the destructive steps of all."""
    from concurrent.futures import ThreadPoolExecutor

    from rich.console import Console

    from dr_console.cli.sink import MultiRunSink, ask_typed_name
    from dr_console.runbooks import Engine, registry
    from dr_console.runbooks.payload_volume import payload_volumes_of

    if args.server is None or args.volume is not None or args.copy is not None:
        raise DrConsoleError("--all takes --server S (and no --volume or --copy)")
    console = Console(highlight=False)
    cloud, server, volumes = payload_volumes_of(site, args.cloud, args.server)
    if not volumes:
        raise DrConsoleError(f"no payload volume is attached to {server} in {cloud}")
    console.print(f"{len(volumes)} payload volumes of {server} ({cloud}): "
                  + ", ".join(name for name, _ in volumes))
    runbooks = [registry.build("payload-volume", site, {
        "volume": volume_id, "server": args.server, "cloud": cloud, "mount": None,
        "reset_state": args.reset_state, "attach_timeout": args.attach_timeout})
        for _, volume_id in volumes]
    if args.dry_run:
        from dr_console.cli.sink import RichSink

        for runbook in runbooks:
            Engine(runbook, RichSink(console), dry_run=True).run()
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            raise DrConsoleError("--all detaches every original: it needs the server's name typed, "
                                 "and there is no terminal; run again with --yes")
        console.print(f"This detaches {len(volumes)} volumes from {server} (each kept, untouched) "
                      "and attaches their restored copies.")
        if not ask_typed_name(console, sys.stdin, server):
            return 2
    signals = Signals()
    sink = MultiRunSink(console, [name for name, _ in volumes])
    with sink, ThreadPoolExecutor(max_workers=ALL_PARALLEL, thread_name_prefix="volume") as pool:
        results = list(pool.map(
            lambda pair: Engine(pair[1], sink.for_run(pair[0]), assume_yes=True,
                                cancel=signals.cancel,
                                stop_after_step=signals.stop_after_step).run(),
            zip([name for name, _ in volumes], runbooks, strict=True)))
    sink.summary(results)
    return max(r.exit_code for r in results)


def resume(site: Site | None, run_id: str, yes: bool, skip: list[str]) -> int:
    from dr_console.cli.sink import RichSink
    from dr_console.runbooks import resume as resume_run

    signals = Signals()
    return resume_run(run_id, RichSink(), assume_yes=yes, site=site, cancel=signals.cancel,
                      stop_after_step=signals.stop_after_step, skip=skip).exit_code


def list_runs(as_json: bool) -> int:
    from rich.console import Console
    from rich.table import Table

    from dr_console import runview
    from dr_console.run_history import with_status
    from dr_console.runbooks.journal import iter_runs

    runs = with_status(list(iter_runs()))  # oldest first, as a log reads
    if as_json:
        json.dump([r.to_dict() for r in runs], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    table = Table(title="Runbook runs", caption="resume one with: dr-console resume RUN_ID")
    for column in ("run", "runbook", "target", "operator", "started", "outcome", "duration"):
        table.add_column(column)
    for run in runs:
        table.add_row(run.run_id, run.runbook, run.target, f"{run.operator}@{run.host}",
                      run.started.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z"),
                      runview.outcome_text(run.outcome), runview.elapsed_text(run.duration))
    Console(highlight=False).print(table)
    return 0


def drop_kept(site: Site, schema: str, server_name: str | None, yes: bool) -> int:
    from rich.console import Console

    from dr_console import mysqldb
    from dr_console.cli.sink import ask_typed_name
    from dr_console.restore.checks import schema_exists
    from dr_console.restore.swap import drop_kept as drop_schema
    from dr_console.runbooks.journal import new_run_id
    from dr_console.runbooks.locks import TargetLock

    match = re.fullmatch(r"(.+)__pre_restore_\d{8}T\d{6}Z", schema)
    if not match:
        raise DrConsoleError(f"{schema!r} is not a schema kept by a restore "
                             "(<db>__pre_restore_<YYYYMMDDTHHMMSSZ>); refusing to drop it")
    db = match.group(1)
    server = site.mysql_server(db, server_name)
    conn = mysqldb.connect(mysqldb.Account.restore(server))
    try:
        if not schema_exists(conn, schema):
            raise DrConsoleError(f"no schema {schema} on {server.name}")
        if not yes:
            console = Console(highlight=False)
            if not sys.stdin.isatty():
                print(f"dr-console: dropping {schema} needs its typed name and there is no "
                      "terminal; run again with --yes", file=sys.stderr)
                return 2
            console.print(f"This drops {schema} on {server.name} for good.")
            if not ask_typed_name(console, sys.stdin, schema):
                console.print("nothing dropped")
                return 2
        with TargetLock(f"mysql:{server.name}/{db}", new_run_id()):
            drop_schema(conn, schema)
    finally:
        conn.close()
    print(f"dropped {schema} on {server.name}")
    return 0


def site_or_none(path: Path | None) -> Site | None:
    """`resume` takes the site file from the run's journal unless --site says."""
    if path is None:
        return None
    from dr_console.config import load_site

    return load_site(path)
