"""Inventory and start-up benchmarks against the lab, each figure beside its
baseline in the same run, as median and range of several samples.

1. Refresh: `dr-console --site SITE status --refresh` as a whole process
   (its verify cache warmed first by one untimed refresh, so no dump is
   hashed again: the bench checks the cache gained no entry) against
   (a) the same listings made by the `openstack`, `aws`, `mariadb` and
       `ssh` clients one after the other, each a whole process (the exact
       commands are printed and recorded), and
   (b) the providers' discover() run one after another in this process,
       against the same providers run concurrently (dr-console's collect()),
       alternating, after one untimed round of each (imports, first
       connections). Each provider keeps its own internal threads.
2. Start-up: `dr-console --site SITE status` reading a cache written just
   before (younger than --max-age, so no backend is asked: the bench checks
   the cache file is not rewritten), whole process, beside `python -c pass`
   with the same interpreter.

A sample whose command fails (or whose refresh reports an unreadable
source) is an error: the bench exits non-zero.

Run: `make bench` (all benches), or `.venv/bin/python tests/bench/bench_inventory.py`
with the lab up (`make lab-up`).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import yaml
from benchlib import (
    RATIO_FASTER,
    REPO,
    BenchError,
    alternating,
    fmt_range,
    machine,
    main_guard,
    now_iso,
    ratio,
    require_tools,
    run_id,
    run_timed,
    summary,
    venv_bin,
    write_part,
)

AWS = "/usr/bin/aws"  # Debian's awscli, never a shim that may shadow it on PATH
OPENSTACK = "/usr/bin/openstack"
STARTUP_TARGET = 0.25  # seconds


@dataclass
class Command:
    """One baseline command: what it reads, its argv, and its environment."""

    reads: str
    argv: list[str]
    env: dict[str, str]
    ok_stderr: str = ""  # a non-zero exit with this in stderr is an answer (e.g. NoSuchTagSet)

    def run(self) -> float:
        ok = range(256) if self.ok_stderr else (0,)
        timed = run_timed(self.argv, env=self.env, timeout=300, what=self.reads, ok=ok)
        if timed.returncode != 0 and self.ok_stderr not in timed.stderr:
            raise BenchError(f"{self.reads} failed (exit {timed.returncode}): {timed.stderr[-500:]}")
        return timed.seconds


def _abs(base: Path, value: str) -> str:
    return str((base / os.path.expanduser(value)).resolve())


def _aws_env(base: Path, entry: dict[str, Any]) -> dict[str, str]:
    env = dict(os.environ, AWS_CONFIG_FILE=os.devnull, AWS_PAGER="",
               AWS_DEFAULT_REGION=entry.get("region") or "us-east-1")
    if entry.get("credentials_file"):
        env["AWS_SHARED_CREDENTIALS_FILE"] = _abs(base, entry["credentials_file"])
    if entry.get("profile"):
        env["AWS_PROFILE"] = entry["profile"]
    return env


def _aws(entry: dict[str, Any], *args: str) -> list[str]:
    endpoint = ["--endpoint-url", entry["endpoint_url"]] if entry.get("endpoint_url") else []
    return [AWS, *endpoint, "--output", "json", *args]


def baseline_commands(site_file: Path, site: dict[str, Any], work: Path) -> list[Command]:
    """The same listings dr-console's providers make, with the ecosystem's
    own clients and the lab's own credential files (secrets stay in files)."""
    from dr_console.providers.hosts import _COMMAND as HOST_COMMAND

    base = site_file.parent
    commands: list[Command] = []
    stores = site.get("stores", [])
    for cloud in site.get("clouds", []):
        if cloud["type"] == "openstack":
            env = dict(os.environ)
            if cloud.get("clouds_yaml"):
                env["OS_CLIENT_CONFIG_FILE"] = _abs(base, cloud["clouds_yaml"])
            os_cli = [OPENSTACK, "--os-cloud", cloud["cloud"]]
            for what in (["server", "list", "--long"], ["volume", "list", "--long"],
                         ["volume", "snapshot", "list", "--long"], ["volume", "backup", "list", "--long"],
                         ["image", "list", "--long"]):
                commands.append(Command(f"openstack {' '.join(what[:-1])}", [*os_cli, *what, "-f", "json"],
                                        env))
        else:
            env = _aws_env(base, cloud)
            services = cloud.get("services") or ["ec2", "rds", "s3"]
            if "ec2" in services:
                account = json.loads(run_timed(_aws(cloud, "sts", "get-caller-identity"), env=env,
                                               what="aws sts get-caller-identity").stdout)["Account"]
                commands += [
                    Command("aws ec2 instances", _aws(cloud, "ec2", "describe-instances"), env),
                    Command("aws ec2 volumes", _aws(cloud, "ec2", "describe-volumes"), env),
                    Command("aws sts account", _aws(cloud, "sts", "get-caller-identity"), env),
                    Command("aws ebs snapshots", _aws(cloud, "ec2", "describe-snapshots", "--owner-ids",
                                                      "self", "--filters",
                                                      f"Name=owner-id,Values={account}"), env),
                ]
            if "rds" in services:
                commands += [
                    Command("aws rds instances", _aws(cloud, "rds", "describe-db-instances"), env),
                    Command("aws rds snapshots", _aws(cloud, "rds", "describe-db-snapshots"), env),
                ]
            if "s3" in services:
                listed = json.loads(run_timed(_aws(cloud, "s3api", "list-buckets"), env=env,
                                              what="aws s3api list-buckets").stdout)
                own = {s["bucket"] for s in stores if s.get("endpoint_url") == cloud.get("endpoint_url")}
                commands.append(Command("aws s3 buckets", _aws(cloud, "s3api", "list-buckets"), env))
                for bucket in sorted(b["Name"] for b in listed.get("Buckets", [])):
                    if bucket not in own:
                        commands.append(Command(f"aws s3 tags of {bucket}",
                                                _aws(cloud, "s3api", "get-bucket-tagging", "--bucket",
                                                     bucket), env, ok_stderr="NoSuchTagSet"))
    for store in stores:
        env = _aws_env(base, store)
        prefix = ["--prefix", store["prefix"]] if store.get("prefix") else []
        commands.append(Command(f"store {store['name']}: object listing",
                                _aws(store, "s3api", "list-objects-v2", "--bucket", store["bucket"], *prefix),
                                env))
        target = work / f"manifests-{store['name']}"
        commands.append(Command(f"store {store['name']}: manifests",
                                _aws(store, "s3", "cp", "--recursive", "--only-show-errors",
                                     f"s3://{store['bucket']}/{store.get('prefix') or ''}", str(target),
                                     "--exclude", "*", "--include", "*.manifest.json"), env))
    for server in site.get("mysql", []):
        cnf = work / f"mysql-{server['name']}.cnf"
        secret = Path(_abs(base, server["password_file"])).read_text().strip()
        secret = secret.replace("\\", "\\\\").replace('"', '\\"')
        cnf.write_text(f'[client]\nuser={server["user"]}\npassword="{secret}"\nhost={server["host"]}\n'
                       f'port={server.get("port", 3306)}\nprotocol=TCP\n')
        cnf.chmod(0o600)
        sql = ("SELECT VERSION(); SELECT schema_name FROM information_schema.schemata; "
               "SELECT table_schema, COUNT(*), COALESCE(SUM(data_length + index_length), 0) "
               "FROM information_schema.tables GROUP BY table_schema")
        commands.append(Command(f"mysql {server['name']}: schemas",
                                ["mariadb", f"--defaults-file={cnf}", "-e", sql], dict(os.environ)))
    for host in site.get("hosts", []):
        argv = ["ssh", "-F", "/dev/null", "-i", _abs(base, host["key_file"]),
                "-o", f"UserKnownHostsFile={_abs(base, host['known_hosts'])}",
                "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
                "-o", "BatchMode=yes", "-o", "ControlMaster=no", "-o", "IdentitiesOnly=yes",
                "-p", str(host.get("port", 22)), f"{host.get('user', 'root')}@{host['address']}",
                HOST_COMMAND]
        commands.append(Command(f"host {host['name']}: ssh facts", argv, dict(os.environ)))
    return commands


# --------------------------------------------------------------------------


class Refresh:
    """`dr-console status --refresh` in a private XDG cache and state."""

    def __init__(self, site_file: Path, work: Path) -> None:
        self.site_file = site_file
        self.cache_home = work / "xdg-cache"
        self.env = dict(os.environ, XDG_CACHE_HOME=str(self.cache_home),
                        XDG_STATE_HOME=str(work / "xdg-state"), COLUMNS="200")
        self.argv = [venv_bin("dr-console"), "--site", str(site_file), "status", "--refresh"]

    def verify_entries(self) -> set[str]:
        try:
            data = json.loads((self.cache_home / "dr-console" / "verify.json").read_text())
        except (OSError, ValueError):
            return set()
        return set(data.get("entries", {}))

    def snapshot_file(self) -> Path:
        found = list((self.cache_home / "dr-console" / "snapshots").glob("*.json"))
        if len(found) != 1:
            raise BenchError(f"expected one cached snapshot in {self.cache_home}, found {len(found)}")
        return found[0]

    def run(self, *, warm_up: bool = False) -> float:
        before = self.verify_entries()
        # status exits 0-2 by design (OK, WARNING, CRITICAL); 3 is UNKNOWN: nothing readable.
        timed = run_timed(self.argv, env=self.env, timeout=300, ok=(0, 1, 2),
                          what="dr-console status --refresh")
        snapshot = json.loads(self.snapshot_file().read_text())["snapshot"]
        if snapshot.get("problems"):
            raise BenchError(f"the refresh could not read every source: {snapshot['problems']}")
        if not warm_up and self.verify_entries() - before:
            raise BenchError("the refresh hashed a copy (new verify-cache entries): the cache was "
                             "not warm, so the sample would time hashing, not listing")
        return timed.seconds


def in_process(site_file: Path, cache_home: Path, samples: int) -> dict[str, Any]:
    """Providers serially (one discover() after another) against dr-console's
    concurrent collect(), in this process, alternating."""
    from dr_console.config import load_site
    from dr_console.inventory import collect, providers_for
    from dr_console.verifycache import VerifyCache

    site = load_site(site_file)
    cache_path = cache_home / "dr-console" / "verify.json"

    def providers() -> list[Any]:
        return providers_for(site, verify_cache=VerifyCache(cache_path))

    per_provider: dict[str, list[float]] = {}

    def serial() -> float:
        start = time.perf_counter()
        for provider in providers():
            t0 = time.perf_counter()
            try:
                provider.discover()
            except Exception as exc:
                raise BenchError(f"provider {provider.source} failed: {exc}") from None
            per_provider.setdefault(provider.source, []).append(time.perf_counter() - t0)
        return time.perf_counter() - start

    def concurrent() -> float:
        start = time.perf_counter()
        collected = collect(providers())
        took = time.perf_counter() - start
        if collected.source_problems:
            raise BenchError(f"concurrent refresh: {[p.reason for p in collected.source_problems]}")
        return took

    serial()
    concurrent()  # untimed round: imports, first connections
    per_provider.clear()
    runs: dict[str, list[float]] = {"serial": [], "concurrent": []}
    order = alternating(samples, "serial", "concurrent")
    for which in order:
        runs[which].append(serial() if which == "serial" else concurrent())
    return {
        "order": order,
        "serial": summary(runs["serial"]),
        "concurrent": summary(runs["concurrent"]),
        "serial_per_provider": {name: summary(values) for name, values in per_provider.items()},
        "ratio": ratio(statistics.median(runs["serial"]), statistics.median(runs["concurrent"])),
        "ratio_means": "serial median / concurrent median (> 1: concurrency helps)",
        "what": "discover() of every provider of the site file, excluding binding and policy; "
                "each provider keeps its own internal threads",
    }


def alternate(samples: int,
              sides: dict[str, Callable[[], float]]) -> tuple[list[str], dict[str, list[float]]]:
    a, b = list(sides)
    order = alternating(samples, a, b)
    taken: dict[str, list[float]] = {a: [], b: []}
    for side in order:
        taken[side].append(sides[side]())
    return order, taken


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lab-dir", type=Path, default=Path(os.environ.get("DR_LAB_DIR", REPO / ".lab")))
    parser.add_argument("--samples", type=int, default=5, help="refresh samples per side (>= 3)")
    parser.add_argument("--startup-samples", type=int, default=10, help="start-up samples per side (>= 10)")
    parser.add_argument("--out", type=Path, default=REPO / ".bench" / "parts" / "inventory.json")
    args = parser.parse_args()
    if args.samples < 3 or args.startup_samples < 10:
        raise BenchError("--samples must be at least 3 and --startup-samples at least 10")
    site_file = (args.lab_dir / "site.yaml").resolve()
    if not site_file.exists():
        raise BenchError(f"no lab at {args.lab_dir}: run `make lab-up` first")
    require_tools({AWS: "Debian package awscli: `make deps`", OPENSTACK: "python3-openstackclient",
                   "mariadb": "mariadb-client", "ssh": "openssh-client"})
    site = yaml.safe_load(site_file.read_text())
    started = now_iso()
    work = Path(tempfile.mkdtemp(prefix="drbench-inventory-"))
    try:
        return _measure(args, site_file, site, work, started)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _measure(args: argparse.Namespace, site_file: Path, site: dict[str, Any], work: Path,
             started: str) -> int:
    refresh = Refresh(site_file, work)
    refresh.run(warm_up=True)  # warms the verify cache: every dump hashed once, untimed
    warm = len(refresh.verify_entries())
    commands = baseline_commands(site_file, site, work)
    for command in commands:
        command.run()  # each must work once before any timing
    per_command: dict[str, list[float]] = {c.reads: [] for c in commands}

    def cli_sequence() -> float:
        start = time.perf_counter()
        for command in commands:
            per_command[command.reads].append(command.run())
        return time.perf_counter() - start

    print(f"refresh: {args.samples} samples per side, verify cache warm ({warm} copies hashed before, "
          "none re-hashed)")
    print("baseline, one after the other:")
    for command in commands:
        print(f"  {command.reads:<34} {shlex.join(command.argv)}")
    order, taken = alternate(args.samples, {"dr-console": refresh.run, "clients": cli_sequence})
    provider_runs = in_process(site_file, refresh.cache_home, args.samples)

    # Start-up: status from a cache younger than --max-age.
    run_timed([*refresh.argv], env=refresh.env, ok=(0, 1, 2), what="dr-console status --refresh")
    snapshot = refresh.snapshot_file()
    mark = snapshot.stat().st_mtime_ns
    status_argv = [venv_bin("dr-console"), "--site", str(site_file), "status"]

    def status_from_cache() -> float:
        timed = run_timed(status_argv, env=refresh.env, ok=(0, 1, 2), what="dr-console status")
        if snapshot.stat().st_mtime_ns != mark:
            raise BenchError("dr-console status rewrote the cache: it refreshed instead of reading it")
        return timed.seconds

    bare = [sys.executable, "-c", "pass"]
    startup_order, startup = alternate(args.startup_samples, {
        "dr-console": status_from_cache,
        "python": lambda: run_timed(bare, what="python -c pass").seconds})

    refresh_stats = summary(taken["dr-console"])
    cli_stats = summary(taken["clients"])
    part = {
        "bench": "inventory",
        "run_id": run_id(),
        "started_at": started,
        "finished_at": now_iso(),
        "machine": machine(),
        "assets": len(json.loads(snapshot.read_text())["snapshot"].get("assets", [])),
        "refresh": {
            "samples_per_side": args.samples,
            "order": order,
            "product": {"command": refresh.argv, "seconds": refresh_stats,
                        "verify_cache": f"warmed by one untimed refresh ({warm} copies hashed); "
                                        "checked: no sample added an entry, so nothing was re-hashed"},
            "baseline": {"what": "the same listings by the ecosystem's clients, one after the other, "
                                 "each a whole process",
                         "commands": [{"reads": c.reads, "argv": c.argv} for c in commands],
                         "seconds": cli_stats,
                         "per_command": {k: summary(v) for k, v in per_command.items()}},
            "ratio": ratio(cli_stats["median"], refresh_stats["median"]),
            "ratio_means": RATIO_FASTER,
        },
        "providers": provider_runs,
        "startup": {
            "samples_per_side": args.startup_samples,
            "order": startup_order,
            "product": {"command": status_argv, "seconds": summary(startup["dr-console"]),
                        "cache": "written by a refresh just before, younger than --max-age (10m); "
                                 "checked: no sample rewrote it"},
            "baseline": {"command": bare, "seconds": summary(startup["python"])},
            "ratio": ratio(summary(startup["dr-console"])["median"], summary(startup["python"])["median"]),
            "ratio_means": "dr-console median / python -c pass median (the bare interpreter's floor)",
            "target_seconds": STARTUP_TARGET,
        },
    }
    part["startup"]["meets_target"] = part["startup"]["product"]["seconds"]["median"] < STARTUP_TARGET
    write_part(args.out, part)
    print_results(part)
    return 0


def print_results(part: dict[str, Any]) -> None:
    r, p, s = part["refresh"], part["providers"], part["startup"]
    print(f"\n{'measure: median (range)':<52}{'dr-console':>24}{'baseline':>24}{'ratio':>8}")
    print(f"{'refresh vs the same listings by the CLIs':<52}{fmt_range(r['product']['seconds']):>24}"
          f"{fmt_range(r['baseline']['seconds']):>24}{r['ratio']:>7.2f}x")
    print(f"{'providers concurrent vs serial (in-process)':<52}{fmt_range(p['concurrent']):>24}"
          f"{fmt_range(p['serial']):>24}{p['ratio']:>7.2f}x")
    print(f"{'start-up: status from the cache vs python -c pass':<52}"
          f"{fmt_range(s['product']['seconds']):>24}{fmt_range(s['baseline']['seconds']):>24}"
          f"{s['ratio']:>7.2f}x")
    print(f"  refresh samples {r['samples_per_side']} per side; start-up {s['samples_per_side']}; "
          f"target < {s['target_seconds']} s: {'met' if s['meets_target'] else 'not met'}")
    print("  serial, per provider: " + ", ".join(f"{k} {v['median']:.2f} s"
                                                for k, v in p["serial_per_provider"].items()))
    print(f"  ratios: refresh and providers: {RATIO_FASTER.split(' (')[0]}; "
          "start-up: dr-console / python -c pass")


if __name__ == "__main__":
    raise SystemExit(main_guard(main))
