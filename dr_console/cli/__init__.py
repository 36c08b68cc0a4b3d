"""Entry points. `dr-console` alone opens the console; the subcommands serve
scripts and monitoring. Heavy imports (Textual, cloud SDKs) happen inside the
commands that need them, so `status` from the cache starts fast."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from dr_console import __version__
from dr_console.cli import runs
from dr_console.errors import DrConsoleError
from dr_console.snapshots import MAX_AGE_SECONDS

if TYPE_CHECKING:
    from dr_console.model import Snapshot
    from dr_console.schema import Site

EXIT_UNKNOWN = 3
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a reader that left
DEFAULT_MAX_AGE = f"{MAX_AGE_SECONDS // 60}m"


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
    tui.add_argument("--drill", action="store_true",
                     help="a drill console: R runs the runbook's drill (scratch targets only)")
    # Its own dest: a subparser's default would overwrite `dr-console --write tui`.
    tui.add_argument("--write", dest="tui_write", action="store_true",
                     help="allow runbooks to be started (the console is read-only by default)")

    status = sub.add_parser(
        "status", help="overall backup status; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN"
    )
    _add_snapshot_options(status)
    status.add_argument("--json", action="store_true", help="the documented JSON contract")
    status.add_argument("--prometheus", type=Path, metavar="FILE",
                        help="also write a node_exporter textfile (atomically): statuses, "
                        "copy ages, last drills and their RTO")

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
    boot = run_sub.add_parser(
        "boot-infra", help="rebuild a boot host (DHCP/TFTP, NTP, FTP) from its offsite copies and "
        "the playbooks, proven by probes from a host on the boot network")
    boot.add_argument("--host", required=True, metavar="NAME", help="the boot host of the site file")
    boot.add_argument("--target", metavar="ADDRESS[:PORT]",
                      help="the (bare) machine to rebuild it on (default: the host's own address)")
    boot.add_argument("--copy", action="append", default=[], metavar="KIND=LOCATION",
                      help="git-bundle, etc-archive or package-list to use (default: the last good "
                      "one); repeatable")
    boot.add_argument("--fingerprint", metavar="SHA256:…",
                      help="the target's host key as checked on its console: pins it without a "
                      "prompt (--yes alone never trusts a key)")
    boot.add_argument("--check-only", action="store_true",
                      help="only choose the copies and run the four probes; change nothing")
    boot.add_argument("--whole-etc", action="store_true",
                      help="restore the whole /etc archive, not only the roles' files (typed)")
    boot.add_argument("--clear-selections", action="store_true",
                      help="dpkg --clear-selections first: remove every package not in the list (typed)")
    _add_run_options(boot)
    metadata = run_sub.add_parser(
        "metadata-db", help="restore a metadata database from its last good dump, via staging")
    metadata.add_argument("--db", required=True, metavar="NAME", help="database to restore")
    metadata.add_argument("--copy", metavar="LOCATION",
                          help="s3://bucket/key of the dump (default: the last good one)")
    metadata.add_argument("--server", metavar="S", help="mysql server of the site file")
    _add_run_options(metadata)
    payload = run_sub.add_parser(
        "payload-volume", help="restore a payload volume as a new volume from its last good "
        "backup or snapshot, reattach it and prove its filesystem over SSH")
    payload.add_argument("--volume", metavar="NAME|ID", help="the volume to bring back")
    payload.add_argument("--server", metavar="NAME|ID",
                         help="the server it comes back to (default: where it is attached)")
    payload.add_argument("--all", action="store_true",
                         help="every payload volume attached to --server, a few at a time")
    payload.add_argument("--cloud", metavar="C", help="cloud of the site file holding the volume")
    payload.add_argument("--copy", metavar="ID", help="backup or snapshot id (default: the last good one)")
    payload.add_argument("--mount", metavar="PATH", help="final mount point (default: the site's)")
    payload.add_argument("--reset-state", action="store_true",
                         help="allow a typed reset of an original stuck attaching/detaching")
    payload.add_argument("--attach-timeout", type=float, metavar="SECONDS",
                         help="how long an attach or a detach may take (default 300)")
    _add_run_options(payload)

    drill = sub.add_parser(
        "drill", help="prove copies restorable: the runbooks against scratch targets only, "
        "always cleaned up, with an evidence report")
    drill.add_argument("--all", action="store_true", dest="drill_all",
                       help="drill every asset it can (cron-friendly: exit codes like status)")
    drill.add_argument("--class", dest="asset_class", metavar="CLASS",
                       help="with --all: only this class")
    drill_sub = drill.add_subparsers(dest="runbook", metavar="RUNBOOK")
    drill_db = drill_sub.add_parser("metadata-db", help="restore a dump into a scratch schema")
    drill_db.add_argument("--db", required=True, metavar="NAME")
    drill_db.add_argument("--copy", metavar="LOCATION")
    drill_db.add_argument("--server", metavar="S")
    drill_volume = drill_sub.add_parser("payload-volume",
                                        help="restore a volume and attach it to a scratch server")
    drill_volume.add_argument("--volume", required=True, metavar="NAME|ID")
    drill_volume.add_argument("--cloud", metavar="C")
    drill_volume.add_argument("--copy", metavar="ID")
    drill_volume.add_argument("--attach-timeout", type=float, metavar="SECONDS")
    drill_boot = drill_sub.add_parser(
        "boot-infra", help="rebuild a boot host on its scratch host (drills.boot_hosts), prove it "
        "with the probes, then make the scratch host bare again")
    drill_boot.add_argument("--host", required=True, metavar="NAME")
    drill_boot.add_argument("--copy", action="append", default=[], metavar="KIND=LOCATION")
    drill_boot.add_argument("--fingerprint", metavar="SHA256:…",
                            help="the scratch host's key (default: the site's fingerprint_command)")
    drill_cleanup = drill_sub.add_parser(
        "cleanup", help="remove what drills left after a crash or a kill (default: every drill "
        "whose cleanup did not finish)")
    drill_cleanup.add_argument("run_id", nargs="?", metavar="RUN_ID")
    for drill_parser in (drill_db, drill_volume, drill_boot):
        drill_parser.add_argument("--dry-run", action="store_true",
                                  help="show the plan and every equivalent command; touch nothing")

    plan = sub.add_parser("plan", help="the whole site's recovery in order, with copies, runbooks, "
                          "last drills and the RTO they measured")
    _add_snapshot_options(plan)
    plan.add_argument("--json", action="store_true")

    report = sub.add_parser("report", help="the evidence report of a run or drill")
    report.add_argument("run_id", metavar="RUN_ID")
    report.add_argument("--format", choices=("md", "json"), default="md")

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
        code = _dispatch(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the try, not at exit
        return code
    except BrokenPipeError:
        # `dr-console runs --json | head -1`: the reader has all it wanted.
        # Quiet, like any Unix tool killed by SIGPIPE; stdout goes to
        # /dev/null so the interpreter's last flush cannot complain either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except DrConsoleError as exc:
        print(f"dr-console: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("dr-console: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # last line of defence: no traceback reaches the operator
        from dr_console import crashlog

        print(f"dr-console: internal error; details in {crashlog.write(exc)}", file=sys.stderr)
        return EXIT_UNKNOWN


def _dispatch(args: argparse.Namespace) -> int:
    command = args.command or "tui"
    if command == "lab":
        return int(args.func(args))
    if command == "tui":
        from dr_console.tui import run_tui

        return run_tui(args.site, mode="DRILL" if getattr(args, "drill", False) else "LIVE",
                       write=bool(args.write or getattr(args, "tui_write", False)))
    if command == "runs":
        return runs.list_runs(args.json)
    if command == "report":
        return runs.show_report(args.run_id, args.format)
    if command == "resume":
        return runs.resume(runs.site_or_none(args.site), args.run_id, args.yes, args.skip)
    if command in ("status", "inventory"):
        snapshot = _snapshot(args.site, args.refresh, args.max_age)
        if command == "status":
            if args.prometheus is not None:
                _write_prometheus(snapshot, args.prometheus)
            return _print_status(snapshot, args.json)
        return _print_inventory(snapshot, args.asset_class, args.json)
    site = _load_site(args.site)
    if command == "backup":
        return runs.backup_db(site, args.name, args.server, args.store)
    if command == "run":
        return runs.run_runbook(site, args)
    if command == "drill":
        return runs.drill(site, args)
    if command == "plan":
        return runs.show_plan(_snapshot(args.site, args.refresh, args.max_age), args.json)
    if command == "drop-kept":
        return runs.drop_kept(site, args.schema, args.server, args.yes)
    if command == "verify":
        return _verify(site, args.assets, args.deep, args.json)
    raise DrConsoleError(f"unknown command {command!r}")


def _load_site(path: Path | None) -> Site:
    from dr_console.config import load_site

    return load_site(path)


def _snapshot(site_path: Path | None, refresh: bool, max_age: str) -> Snapshot:
    """The cached snapshot while it is younger than `max_age` and was gathered
    with this very site file (no need to load and validate it again: this is
    what keeps `status` under monitoring fast); otherwise the site file is
    loaded and every backend asked."""
    from dr_console import snapshots
    from dr_console.humanize import parse_duration
    from dr_console.locations import default_site_path

    try:
        limit = parse_duration(max_age)
    except ValueError as exc:
        raise DrConsoleError(f"--max-age: {exc}") from None
    if not refresh:
        cached = snapshots.load(site_path or default_site_path(), same_site_file=True)
        if cached is not None and snapshots.is_fresh(cached, limit):
            return cached
    from dr_console.inventory import current

    return current(_load_site(site_path), max_age=limit, refresh=refresh)


def _write_prometheus(snapshot: Snapshot, path: Path) -> None:
    import tempfile

    from dr_console.prometheus import textfile
    from dr_console.runbooks.journal import iter_runs
    from dr_console.runbooks.plan import recovery_plan

    text = textfile(snapshot, recovery_plan(snapshot, list(iter_runs())), datetime.now(UTC))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # In the same folder, then renamed: the collector never reads half a file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        raise DrConsoleError(f"cannot write {path}: {exc.strerror or exc}") from None


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


if __name__ == "__main__":
    raise SystemExit(main())
