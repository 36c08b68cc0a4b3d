"""Entry points. `dr-console` alone opens the console; the subcommands serve
scripts and monitoring. Heavy imports (Textual, cloud SDKs) happen inside the
commands that need them, so `status` from the cache starts fast."""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from dr_console import __version__
from dr_console.errors import DrConsoleError

if TYPE_CHECKING:
    from dr_console.config import Site
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
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    tui = sub.add_parser("tui", help="open the console (the default)")
    tui.add_argument("--drill", action="store_true", help="drill mode banner")

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

        return run_tui(args.site, mode="DRILL" if getattr(args, "drill", False) else "LIVE")
    site = _load_site(args.site)
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


if __name__ == "__main__":
    raise SystemExit(main())
