"""`dr-console lab up|down|status`: argparse wiring for the lab.

`register(subparsers)` adds the `lab` command; each sub-command sets
`func(args) -> int` (the exit code). `up` prints the site file path as its
last stdout line, so scripts can do `SITE=$(dr-console lab up | tail -1)`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

DEFAULT_DIR = Path(".lab")


def register(subparsers: Any) -> argparse.ArgumentParser:
    lab = subparsers.add_parser(
        "lab", help="run the local lab (real services on 127.0.0.1)",
        description="Start, stop and inspect the local lab: MariaDB, SSH hosts, "
                    "moto (AWS and the offsite store) and an OpenStack control plane.")
    sub = lab.add_subparsers(dest="lab_command",
                             metavar="{up,down,status,fault,volume-fault,bare-reset,bare-fingerprint}",
                             required=True)

    up = sub.add_parser("up", help="start the lab (idempotent); print the site file path")
    up.add_argument("--no-openstack", action="store_true",
                    help="skip the OpenStack control plane (starts in seconds)")
    up.set_defaults(func=cmd_up)

    down = sub.add_parser("down", help="stop every lab service by PID")
    down.add_argument("--purge", action="store_true",
                      help="then delete the lab directory (data, keys, secrets)")
    down.set_defaults(func=cmd_down)

    status = sub.add_parser("status", help="list lab services; exit 1 if any is not running")
    status.set_defaults(func=cmd_status)

    fault = sub.add_parser("fault", help="provoke or undo a boot-network fault",
                           description="Faults a boot-infra runbook test provokes on demand "
                                       "(docs/lab-boot-network.md).")
    fault.add_argument("action", choices=("list", "on", "off"))
    fault.add_argument("name", nargs="?", help="the fault (see `fault list`)")
    fault.add_argument("--host", help="host-key-changed: probe1 (default), boot-bare or boot1")
    fault.set_defaults(func=cmd_fault)

    bare = sub.add_parser("bare-reset", help="make the boot network's bare host cold again "
                                             "(new root, new host key, nothing pinned)")
    bare.set_defaults(func=cmd_bare_reset)
    bare_fp = sub.add_parser("bare-fingerprint",
                             help="print the bare host's host key fingerprint, as the lab made it "
                                  "(what its console would show; a drill pins it from here)")
    bare_fp.set_defaults(func=cmd_bare_fingerprint)

    volume_fault = sub.add_parser("volume-fault", help="provoke or undo a fault for the "
                                  "payload-volume runbook (see docs/lab-volumes.md)")
    which = volume_fault.add_subparsers(dest="fault", required=True)
    hang = which.add_parser("attach-hang", help="Nova attaches wait in the compute driver")
    hang.add_argument("switch", choices=["on", "off"])
    hang.add_argument("--volume", action="append", default=[], metavar="VOLUME_ID",
                      help="only these volumes (default: every attach)")
    key = which.add_parser("host-key", help="a lab host presents a key other than the pinned one")
    key.add_argument("action", choices=["rotate", "restore"])
    key.add_argument("host")
    quota = which.add_parser("volume-quota", help="no room for a new volume in the tenant")
    quota.add_argument("action", choices=["low", "restore"])
    shown = which.add_parser("status", help="which switches are on")
    for parser in (hang, key, quota, shown):
        parser.set_defaults(func=cmd_volume_fault)

    for parser in (up, down, status, fault, bare, bare_fp, hang, key, quota, shown):
        parser.add_argument("--dir", type=Path, default=DEFAULT_DIR,
                            help="lab directory (default: .lab in the current directory)")
    return lab


def _fail(message: str) -> int:
    print(f"dr-console lab: {message}", file=sys.stderr)
    return 3


def cmd_up(args: argparse.Namespace) -> int:
    from dr_console.errors import DrConsoleError
    from dr_console.lab.procs import LabError
    from dr_console.lab.runner import lab_up

    try:
        site = lab_up(args.dir, openstack=not args.no_openstack)
    except (LabError, DrConsoleError) as exc:
        return _fail(str(exc))
    print(site)
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from dr_console.lab.guesthost import leftovers
    from dr_console.lab.runner import lab_down

    stopped = lab_down(args.dir, purge=args.purge)
    print(f"stopped {len(stopped)} service(s)" + (f": {', '.join(stopped)}" if stopped else ""))
    # A loop device or a mount outlives the processes: say so, and fail.
    left = leftovers(args.dir.resolve())
    for item in left:
        print(f"dr-console lab: left behind: {item}", file=sys.stderr)
    return 1 if left else 0


def cmd_volume_fault(args: argparse.Namespace) -> int:
    import json

    from dr_console.lab import volumefaults
    from dr_console.lab.procs import LabError

    lab_dir = args.dir.resolve()
    try:
        if args.fault == "attach-hang":
            volumefaults.attach_hang(lab_dir, args.switch == "on", args.volume)
            print(f"attach-hang {args.switch}" + (f": {', '.join(args.volume)}"
                                                  if args.volume else ""))
        elif args.fault == "host-key":
            key = volumefaults.host_key(lab_dir, args.host, args.action == "rotate")
            print(f"{args.host} presents {key}")
        elif args.fault == "volume-quota":
            quota = volumefaults.volume_quota(lab_dir, args.action == "low")
            print("tenant volume quota: " + ", ".join(f"{k}={v}" for k, v in quota.items()))
        else:
            print(json.dumps(volumefaults.status(lab_dir), indent=2))
    except LabError as exc:
        return _fail(str(exc))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from dr_console.lab.runner import lab_status, read_state

    services = lab_status(args.dir)
    if not services:
        print(f"lab in {args.dir} is not running")
        return 1
    width = max(len(name) for name, _, _ in services)
    for name, pid, alive in services:
        print(f"{name:<{width}}  {pid:>8}  {'running' if alive else 'NOT RUNNING'}")
    state = read_state(args.dir.resolve())
    if state.get("site"):
        print(f"site file: {args.dir.resolve() / state['site']}")
    return 0 if all(alive for _, _, alive in services) else 1


def cmd_fault(args: argparse.Namespace) -> int:
    import json

    from dr_console.lab import bootfaults
    from dr_console.lab.procs import LabError

    lab_dir = args.dir.resolve()
    if args.action == "list":
        active = bootfaults.active(lab_dir)
        for name, what in bootfaults.FAULTS.items():
            print(f"{name:<22} {'ON ' if name in active else 'off'}  {what}")
        return 0
    if not args.name:
        return _fail(f"fault {args.action}: name the fault (see `fault list`)")
    try:
        record = (bootfaults.provoke(lab_dir, args.name, args.host) if args.action == "on"
                  else bootfaults.undo(lab_dir, args.name))
    except LabError as exc:
        return _fail(str(exc))
    print(json.dumps({"fault": args.name, "active": args.action == "on", **record}, indent=2))
    return 0


def cmd_bare_reset(args: argparse.Namespace) -> int:
    import json

    from dr_console.lab.bootnet import reset_bare
    from dr_console.lab.procs import LabError

    try:
        bare = reset_bare(args.dir)
    except LabError as exc:
        return _fail(str(exc))
    print(json.dumps(bare, indent=2))
    return 0


def cmd_bare_fingerprint(args: argparse.Namespace) -> int:
    from dr_console.lab.runner import read_state

    bare = (read_state(args.dir.resolve()).get("bootnet") or {}).get("bare") or {}
    if not bare.get("fingerprint"):
        return _fail(f"no running lab with a boot network in {args.dir}")
    print(bare["fingerprint"])
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dr_console.lab")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))
