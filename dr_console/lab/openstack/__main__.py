"""Developer entry point: the OpenStack lab alone, with its own MariaDB.

    python -m dr_console.lab.openstack up DIR     # MariaDB + OpenStack + seed
    python -m dr_console.lab.openstack down DIR   # stop every process in DIR's registry
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from dr_console.lab import mariadb, procs
from dr_console.lab.openstack import seed, start, wait_ready


def _up(lab_dir: Path) -> int:
    t0 = time.monotonic()
    db = mariadb.start(lab_dir)
    t_db = time.monotonic()
    lab = start(lab_dir, db)
    t_start = time.monotonic()
    wait_ready(lab)
    t_ready = time.monotonic()
    ids = seed(lab)
    t_seed = time.monotonic()
    print(json.dumps({
        "clouds_yaml": str(lab.clouds_yaml), "cloud": lab.cloud,
        "admin_cloud": lab.admin_cloud, "ports": lab.ports, "ids": ids,
        "seconds": {"mariadb": round(t_db - t0, 1), "start": round(t_start - t_db, 1),
                    "ready": round(t_ready - t0, 1), "seed": round(t_seed - t_ready, 1),
                    "total": round(t_seed - t0, 1)},
    }, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dr_console.lab.openstack")
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("lab_dir", type=Path)
    args = parser.parse_args(argv)
    lab_dir = args.lab_dir.resolve()
    if args.action == "down":
        for name in procs.stop_all(lab_dir):
            print(f"stopped {name}")
        return 0
    lab_dir.mkdir(parents=True, exist_ok=True)
    try:
        return _up(lab_dir)
    except procs.LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
