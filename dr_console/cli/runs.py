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
    from dr_console.model import Snapshot
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


def drill(site: Site, args: argparse.Namespace) -> int:
    """`drill RUNBOOK …`, `drill --all`, `drill cleanup [RUN_ID]`."""
    from dr_console.cli.sink import RichSink
    from dr_console.runbooks import Engine, registry

    if args.drill_all:
        return drill_all(site, args.asset_class)
    if args.runbook is None:
        raise DrConsoleError("drill what? `drill metadata-db --db X`, `drill payload-volume "
                             "--volume V`, `drill boot-infra --host H`, `drill --all`, or "
                             "`drill cleanup`")
    if args.runbook == "cleanup":
        return drill_cleanup(site, args.run_id)
    if args.runbook == "metadata-db":
        params: dict[str, object] = {"db": args.db, "copy": args.copy, "server": args.server}
    elif args.runbook == "boot-infra":
        params = {"host": args.host, "copies": args.copy, "fingerprint": args.fingerprint}
    else:
        params = {"volume": args.volume, "cloud": args.cloud, "copy": args.copy,
                  "attach_timeout": args.attach_timeout}
    runbook = registry.build(args.runbook, site, {**params, "drill": True})
    signals = Signals()
    # Nothing live is touched: the drill's steps need no typed confirmation.
    result = Engine(runbook, RichSink(), assume_yes=True, dry_run=args.dry_run,
                    cancel=signals.cancel, stop_after_step=signals.stop_after_step).run()
    if args.dry_run or result.exit_code == 130:
        return result.exit_code
    # Like `status` and `drill --all`: what monitoring and cron expect.
    return {"passed": 0, "unverified": 1}.get(print_verdict(result.run_id), 2)


def print_verdict(run_id: str) -> str:
    from rich.console import Console

    from dr_console.runbooks.evidence import build, report_paths

    report = build(run_id)
    _, md_path = report_paths(report["run_id"])
    colour = {"passed": "green", "unverified": "yellow"}.get(report["verdict"], "red")
    measured = report["rto"]["measured_seconds"]
    Console(highlight=False).print(
        f"[bold {colour}]{report['kind']} {report['verdict']}[/]"
        + (f", RTO {measured:.1f}s" if measured is not None else "")
        + f"; evidence: {md_path}")
    return str(report["verdict"])


def drill_cleanup(site: Site, run_id: str | None) -> int:
    """The finally steps of drills that did not finish theirs (killed, or
    the machine went down), each under its run's lock and journal."""
    from dr_console.cli.sink import RichSink
    from dr_console.runbooks import Engine, registry
    from dr_console.runbooks.journal import find_run, iter_runs, run_status

    if run_id is not None:
        todo = [find_run(run_id)]
    else:
        todo = [r for r in iter_runs() if r.kind == "drill" and run_status(r) != "running"
                and not (r.state.get("cleanup") or {}).get("ok")]
    if not todo:
        print("no drill left anything to clean up")
        return 0
    worst = 0
    for run in todo:
        runbook = registry.build(run.runbook, site, run.params)
        result = Engine(runbook, RichSink(), run_id=run.run_id, state=run.state,
                        resuming=True).run_cleanup()
        worst = max(worst, 0 if result.state.get("cleanup", {}).get("ok") else 1)
    return worst


def drill_all(site: Site, asset_class: str | None) -> int:
    """Every asset a runbook can drill, one after the other; a one-line
    summary and exit codes like `status` (0 all passed, 1 some unverified,
    2 some failed, 3 nothing could be drilled)."""
    from dr_console.cli.sink import RichSink
    from dr_console.runbooks import Engine, registry
    from dr_console.runbooks.evidence import build
    from dr_console.runbooks.plan import drillable

    targets, skipped = drillable(site, asset_class)
    for name, why in skipped:
        print(f"not drilled: {name}: {why}")
    verdicts: dict[str, list[str]] = {"passed": [], "unverified": [], "failed": []}
    signals = Signals()
    for name, runbook_name, params in targets:
        if signals.cancel.is_set():
            break
        runbook = registry.build(runbook_name, site, {**params, "drill": True})
        result = Engine(runbook, RichSink(), assume_yes=True, cancel=signals.cancel).run()
        verdict = build(result.run_id)["verdict"]
        verdicts.setdefault(verdict, []).append(name)
    failed, unverified, passed = verdicts["failed"], verdicts["unverified"], verdicts["passed"]
    summary = (f"drills: {len(passed)} passed, {len(unverified)} unverified, {len(failed)} failed"
               + (f" ({', '.join(failed)})" if failed else "")
               + (f", {len(skipped)} not drillable" if skipped else ""))
    print(summary)
    if not targets:
        return 3
    return 2 if failed else 1 if unverified else 0


def show_plan(snapshot: Snapshot, as_json: bool) -> int:
    """The site's recovery in order, one short block per item: readable at
    80 columns on a jump host (the copy's full location is in --json)."""
    from datetime import UTC, datetime

    from rich.console import Console
    from rich.text import Text

    from dr_console import runview
    from dr_console.humanize import age
    from dr_console.model import Status
    from dr_console.present import STATUS_STYLE
    from dr_console.runbooks.journal import iter_runs
    from dr_console.runbooks.plan import expected_rto, recovery_plan

    items = recovery_plan(snapshot, list(iter_runs()))
    total, undrilled = expected_rto(items)
    if as_json:
        json.dump({"site": snapshot.site, "generated_at": snapshot.generated_at.isoformat(),
                   "items": [i.to_dict() for i in items],
                   "expected_rto_seconds": total, "items_without_drill": undrilled},
                  sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return 0
    console = Console(highlight=False)
    now = datetime.now(UTC)

    def since(iso: str) -> str:
        return f"{age((now - datetime.fromisoformat(iso)).total_seconds())} ago"

    console.print(Text(f"Recovery plan of {snapshot.site}: {len(items)} items, in this order", style="bold"))
    phase = None
    for item in items:
        if item.phase != phase:
            phase = item.phase
            after = f" (after: {', '.join(item.depends_on)})" if item.depends_on else ""
            console.print(Text(f"\n{phase}{after}", style="bold underline"))
        line = Text(f"{item.order:>3}  ")
        line.append(f"{item.name} ", style="bold")
        line.append(f"({item.kind}) ")
        line.append(item.status, style=STATUS_STYLE[Status[item.status]])
        console.print(line)
        facts = [f"copy {since(item.copy_created_at)}" if item.copy_created_at else "no good copy"]
        drill = item.last_drill
        took = "" if drill is None or drill.rto_seconds is None else \
            f" ({runview.elapsed_text(drill.rto_seconds)})"
        facts.append("drill: never" if drill is None else f"drill: {drill.verdict} {since(drill.at)}{took}")
        ran = item.last_run
        facts.append("run: never" if ran is None else f"run: {ran.outcome} {since(ran.at)}")
        console.print(Text("     " + " · ".join(facts)))
        # Not wrapped by us: a command copied from the terminal stays one line.
        console.print(Text.assemble("     $ ", (item.command, "bold")), soft_wrap=True)
        for note in item.notes:
            console.print(Text(f"     {note}", style="yellow"))
    never = f"; {undrilled} never drilled (drill them to know)" if undrilled else ""
    console.print(f"\nexpected RTO, one item after the other: {age(total)} from "
                  f"{len(items) - undrilled} drilled items{never}")
    return 0


def show_report(run_id: str, fmt: str) -> int:
    import json as json_module

    from dr_console.runbooks.evidence import write

    json_path, md_path = write(run_id)
    if fmt == "json":
        sys.stdout.write(json_path.read_text())
    else:
        sys.stdout.write(md_path.read_text())
    report = json_module.loads(json_path.read_text())
    return 0 if report["verdict"] == "passed" else 1


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
        table.add_row(run.run_id, runview.runbook_label(run.runbook, run.kind), run.target,
                      f"{run.operator}@{run.host}",
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
