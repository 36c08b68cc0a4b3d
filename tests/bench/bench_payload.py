"""Payload-volume drill benchmark: `dr-console drill payload-volume` end to
end against the same work done by hand with the `openstack` CLI and `ssh`,
both as whole processes, alternating, in one run against the lab.

Per sample, each side restores the volume's last good copy into a new
volume, attaches it to the site's scratch server (drills.scratch_servers),
proves it over SSH on the scratch host (the hosts entry whose server is the
scratch server) and removes it again:

  dr-console  `python -m dr_console --site SITE drill payload-volume --volume V`
              with a private XDG_STATE_HOME (empty: journal, lock, evidence)
              and a private XDG_CACHE_HOME copied from one the bench refreshes
              (`dr-console status --refresh`, untimed) just before the sample,
              so every sample chooses the copy from an inventory seconds old
              and none gathers one (the bench checks the cache is not
              rewritten). The same refresh runs before every baseline sample
              too, so both sides start from the same warmth. Afterwards
              `dr-console report RUN --format json` must say verdict passed,
              from the copy the baseline restores, with its cleanup done.
  baseline    one bash process: `openstack volume backup restore BACKUP NAME`
              (a new volume from the backup in one call; Debian 12's
              openstackclient 6.0.0 has no `volume create --backup`), or
              `volume create --snapshot` when the last good copy is a
              snapshot; poll until available; `server add volume`; poll until
              in-use; one ssh session to the scratch host: wait for
              /dev/disk/by-id/virtio-<id[:20]>, blkid, blockdev --setro,
              xfs_repair -n / e2fsck -fn, mount ro,norecovery,nouuid /
              ro,noload, the site rule's files, `sha256sum -c` of its
              sha256_list, umount; `server remove volume`; poll until
              available; `volume delete`; poll until gone. Every poll is one
              `openstack volume show` and sleeps dr-console's own interval
              (dr_console.runbooks.volumes._POLL) between polls. It prints
              bash's clock between phases (create, attach, prove, remove),
              recorded beside dr-console's own step times.

dr-console does in addition: reads the cached inventory to choose the copy
and checks its age against the RPO; creates the volume empty (named and
tagged with the run, in the server's zone) and restores the backup into it,
waiting 1 s before each wait; journals every event (fsynced JSON lines) under
a lock; keeps a command log; records the drill on the copy's metadata
(dr:drilled, dr:drill-run, dr:drill-verdict: Cinder API 3.43); writes the
evidence report (Markdown and JSON).

After every sample (untimed) the bench checks that nothing is left: no
volume named like either side's, the scratch server's Nova attachments and
its guest's /dev/disk/by-id and mounts as they were before the first sample.
A failed sample is cleaned up (`dr-console drill cleanup`, then whatever
either side's naming finds) and the bench fails: never a timing.

Run: `make bench` (all benches), or with the lab up (`make lab-up`):
`.venv/bin/python tests/bench/bench_payload.py --site .lab/site.yaml --out .bench/parts/payload.json`
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import itertools
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
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

# dr-console's own poll interval: the baseline sleeps as long between polls,
# so neither side waits less for the platform than the other.
from dr_console.runbooks.volumes import _POLL as PRODUCT_POLL

OPENSTACK = "/usr/bin/openstack"  # Debian's python3-openstackclient, never a shim on PATH
PRODUCT, BASELINE = "dr-console", "baseline"
BYHAND_DIR = "/mnt/bench-byhand-check"
OSC_RESTORE_BUG = "cannot unpack non-iterable VolumeBackupsRestore object"
SAMPLE_TIMEOUT = 900.0  # a 1 GiB restore takes seconds here; a hang must not stall `make bench`
DEVICE_WAIT = 30  # seconds, as dr-console's find-device step (payload_volume.DEVICE_WAIT)
# The remote script's last line: under `set -e` it is reached only when every check passed.
_MARKER = re.compile(r"^byhand-checked dev=(?P<dev>\S+) fs=(?P<fs>\S+)$", re.M)
_PHASE = re.compile(r"^phase (?P<name>\S+) (?P<at>[\d.]+)$", re.M)


# --------------------------------------------------------------------------
# What the site file says


@dataclass
class Scratch:
    """The volume to drill, its cloud, the scratch server and its SSH host."""

    site_file: Path
    volume: str
    cloud_name: str  # the site file's cloud entry
    os_cloud: str  # its clouds.yaml entry
    clouds_yaml: Path
    server: str  # drills.scratch_servers[cloud]
    host: dict[str, Any]  # the hosts entry whose server is the scratch server
    files: list[str]
    sha256_list: Path
    rule: str

    @property
    def product_prefix(self) -> str:
        return f"{self.volume}-restored-"  # payload_volume.restored_name

    @property
    def baseline_prefix(self) -> str:
        return f"{self.volume}-byhand-"

    def ssh_argv(self) -> list[str]:
        base = self.site_file.parent
        return ["ssh", "-F", "/dev/null", "-i", _abs(base, self.host["key_file"]),
                "-o", f"UserKnownHostsFile={_abs(base, self.host['known_hosts'])}",
                "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
                "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "ControlMaster=no",
                "-p", str(self.host.get("port", 22)),
                f"{self.host.get('user', 'root')}@{self.host['address']}"]

    def os_env(self) -> dict[str, str]:
        return dict(os.environ, OS_CLIENT_CONFIG_FILE=str(self.clouds_yaml))


def _abs(base: Path, value: str) -> str:
    return str((base / os.path.expanduser(value)).resolve())


def scratch_of(site_file: Path, site: dict[str, Any], volume: str) -> Scratch:
    """Map the site file to what the baseline needs: the OpenStack cloud with
    a scratch server, that server's SSH host, and the payload rule's checks."""
    base = site_file.parent
    scratch_servers = (site.get("drills") or {}).get("scratch_servers") or {}
    clouds = [c for c in site.get("clouds", [])
              if c.get("type") == "openstack" and c["name"] in scratch_servers]
    if len(clouds) != 1:
        raise BenchError(f"{site_file}: expected one OpenStack cloud with a drills.scratch_servers entry, "
                         f"found {[c['name'] for c in clouds]}")
    cloud = clouds[0]
    server = scratch_servers[cloud["name"]]
    hosts = [h for h in site.get("hosts", []) if (h.get("server") or {}).get("name") == server
             and (h["server"].get("cloud") in (None, cloud["name"]))]
    if len(hosts) != 1:
        raise BenchError(f"{site_file}: expected one hosts entry whose server is {server}, "
                         f"found {len(hosts)}")
    # First matching rule wins, as in the site file's semantics.
    rule = next((r for r in site.get("payload", [])
                 if r.get("cloud") in (None, cloud["name"])
                 and any(fnmatch.fnmatchcase(volume, g) for g in r.get("volumes", []))), None)
    checks = (rule or {}).get("checks") or {}
    if not checks.get("sha256_list"):
        raise BenchError(f"{site_file}: no payload rule with a sha256_list for {volume}: the drill "
                         "would be unverified, and there would be nothing to compare")
    if checks.get("command"):
        raise BenchError(f"{site_file}: the payload rule has a check command; the baseline does not "
                         "run one yet, so the work would differ")
    listing = Path(_abs(base, checks["sha256_list"].replace("{volume}", volume)))
    if not listing.is_file():
        raise BenchError(f"no sha256 list at {listing}")
    if not cloud.get("clouds_yaml"):
        raise BenchError(f"{site_file}: cloud {cloud['name']} names no clouds_yaml")
    return Scratch(site_file=site_file, volume=volume, cloud_name=cloud["name"], os_cloud=cloud["cloud"],
                   clouds_yaml=Path(_abs(base, cloud["clouds_yaml"])), server=server, host=hosts[0],
                   files=list(checks.get("files") or []), sha256_list=listing,
                   rule=f"payload rule volumes={rule['volumes']}" if rule else "")


# --------------------------------------------------------------------------
# The cloud and the guest, seen by the bench (openstacksdk and ssh: the bench
# checks the product, not with it)


class Cloud:
    def __init__(self, scratch: Scratch) -> None:
        import openstack
        from openstack.config import loader

        config = loader.OpenStackConfig(config_files=[str(scratch.clouds_yaml)])
        self.conn = openstack.connection.Connection(config=config.get_one(cloud=scratch.os_cloud))
        self.scratch = scratch
        self.server_id = self.conn.compute.find_server(scratch.server, ignore_missing=False).id

    def ours(self) -> list[Any]:
        """Every volume either side may have made (any status)."""
        prefixes = (self.scratch.product_prefix, self.scratch.baseline_prefix)
        return [v for v in self.conn.block_storage.volumes(details=True)
                if (v.name or "").startswith(prefixes)]

    def attachments(self) -> list[str]:
        return sorted(a.volume_id for a in self.conn.compute.volume_attachments(self.server_id))

    def remove(self, volume: Any) -> None:
        """Detach (from any server) and delete one volume, waiting for each."""
        for attachment in volume.attachments or []:
            with contextlib.suppress(Exception):
                self.conn.compute.delete_volume_attachment(attachment["server_id"], volume.id)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            current = self.conn.block_storage.find_volume(volume.id, ignore_missing=True)
            if current is None or current.status in ("available", "error", "error_restoring"):
                break
            time.sleep(PRODUCT_POLL)
        with contextlib.suppress(Exception):
            self.conn.block_storage.delete_volume(volume.id, ignore_missing=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and \
                self.conn.block_storage.find_volume(volume.id, ignore_missing=True) is not None:
            time.sleep(PRODUCT_POLL)


def guest_state(scratch: Scratch) -> dict[str, list[str]]:
    """The scratch guest's disks by id and its mounts under /mnt and /srv."""
    cmd = "ls -1 /dev/disk/by-id; echo --; findmnt -rn -o TARGET | grep -E '^/(mnt|srv)/' || true"
    done = subprocess.run([*scratch.ssh_argv(), cmd], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise BenchError(f"ssh to {scratch.host['name']} failed: {done.stderr.strip()[-500:]}")
    disks, _, mounts = done.stdout.partition("--\n")
    return {"by_id": sorted(disks.split()), "mounts": sorted(mounts.split())}


def unmount_in_guest(scratch: Scratch) -> None:
    """What a failed check may leave mounted, either side's."""
    cmd = (f"for d in /mnt/dr-console-check-* {BYHAND_DIR}; do [ -d \"$d\" ] || continue; "
           "mountpoint -q \"$d\" && umount \"$d\"; rmdir \"$d\"; done; true")
    subprocess.run([*scratch.ssh_argv(), cmd], capture_output=True, timeout=60)


@dataclass
class Baseline:
    """The scratch server and guest before the first sample."""

    attachments: list[str]
    guest: dict[str, list[str]]


def leftovers(cloud: Cloud, scratch: Scratch, before: Baseline) -> list[str]:
    left = [f"volume {v.name} ({v.id}) {v.status}" for v in cloud.ours()]
    extra = sorted(set(cloud.attachments()) - set(before.attachments))
    if extra:
        left.append(f"{scratch.server} still has volume(s) {', '.join(extra)} attached")
    guest = guest_state(scratch)
    for key in ("by_id", "mounts"):
        more = sorted(set(guest[key]) - set(before.guest[key]))
        if more:
            left.append(f"{scratch.host['name']}: {key} {', '.join(more)}")
    return left


def clean_up(cloud: Cloud, scratch: Scratch, product_env: dict[str, str] | None) -> None:
    """After a failed sample: dr-console's own cleanup of its drill (from its
    journal), then whatever either side's naming still finds."""
    if product_env is not None:
        subprocess.run([venv_bin("dr-console"), "--site", str(scratch.site_file), "drill", "cleanup"],
                       env=product_env, capture_output=True, timeout=600)
    unmount_in_guest(scratch)
    for volume in cloud.ours():
        cloud.remove(volume)


# --------------------------------------------------------------------------
# The copy


def last_good_copy(scratch: Scratch, env: dict[str, str]) -> dict[str, str]:
    """The volume's last good copy as `dr-console status --json` names it."""
    # status exits 0-2 by design (OK, WARNING, CRITICAL): the lab seeds faults.
    out = run_timed([venv_bin("dr-console"), "--site", str(scratch.site_file), "status", "--json"],
                    env=env, ok=(0, 1, 2), timeout=300, what="dr-console status --json").stdout
    assets = [a for a in json.loads(out)["assets"] if a["name"] == scratch.volume
              and a["source"] == scratch.cloud_name and a["kind"] == "volume"]
    if len(assets) != 1 or not assets[0].get("last_good"):
        raise BenchError(f"status --json: no single volume {scratch.volume} in {scratch.cloud_name} "
                         "with a last good copy")
    good = assets[0]["last_good"]
    if good["kind"] not in ("volume-backup", "volume-snapshot"):
        raise BenchError(f"last good copy of {scratch.volume} is a {good['kind']}")
    return {"id": good["id"].rsplit(":", 1)[-1], "kind": good["kind"], "location": good["location"],
            "created_at": good["created_at"], "volume_id": assets[0]["id"].rsplit(":", 1)[-1]}


# --------------------------------------------------------------------------
# The baseline


def remote_script(scratch: Scratch) -> str:
    """Run on the scratch host with `serial` set; the sha256 list on stdin."""
    d = shlex.quote(BYHAND_DIR)
    files = "".join(f"test -e {shlex.quote(f)}\n" for f in scratch.files)
    return f"""set -eu
link=/dev/disk/by-id/virtio-$serial
i=0
while [ ! -e "$link" ]; do
  i=$((i + 1)); [ $i -le {DEVICE_WAIT} ] || {{ echo "$link never appeared" >&2; exit 1; }}
  sleep {PRODUCT_POLL:g}
done
dev=$(readlink -e "$link")
fs=$(blkid -o value -s TYPE "$dev")
blockdev --setro "$dev"
case "$fs" in
  xfs) xfs_repair -n "$dev" >&2; opts=ro,norecovery,nouuid ;;
  ext4|ext3) e2fsck -fn "$dev" >&2; opts=ro,noload ;;
  *) echo "no read-only check for filesystem $fs" >&2; exit 1 ;;
esac
mkdir -p {d}
mount -o "$opts" "$dev" {d}
cd {d}
{files}sha256sum --quiet -c - >&2
cd /
umount {d}
rmdir {d}
echo "byhand-checked dev=$dev fs=$fs"
"""


def baseline_script(scratch: Scratch, copy: dict[str, str], size_gb: int) -> str:
    """`bash -c SCRIPT bench-payload NAME`: the operator's commands, in order."""
    q = shlex.quote
    if copy["kind"] == "volume-backup":
        # openstackclient 6.0.0 starts the restore, then fails to print its
        # answer (exit 1, OSC_RESTORE_BUG): that failure, and only that, is let
        # through; the new volume's id is then asked by its name.
        create = "\n".join([
            f'if ! out=$(os volume backup restore {q(copy["id"])} "$name" 2>&1); then',
            f'  case "$out" in *{q(OSC_RESTORE_BUG)}*) ;; *) echo "$out" >&2; exit 1 ;; esac',
            "fi",
            'vol=$(os volume show "$name" -f value -c id)'])
    else:
        create = (f"vol=$(os volume create --snapshot {q(copy['id'])} --size {size_gb} \"$name\" "
                  "-f value -c id)")
    remote = remote_script(scratch)
    return "\n".join([
        "set -euo pipefail",
        'name="$1"',
        "phase() { echo \"phase $1 $EPOCHREALTIME\"; }  # bash's clock: no process, nothing to time",
        f"export OS_CLIENT_CONFIG_FILE={q(str(scratch.clouds_yaml))}",
        f"os() {{ {OPENSTACK} --os-cloud {q(scratch.os_cloud)} \"$@\"; }}",
        "wait_status() {  # volume, wanted status",
        "  local s",
        "  while :; do",
        '    s=$(os volume show "$1" -f value -c status)',
        '    [ "$s" = "$2" ] && return 0',
        '    case "$s" in error*) echo "volume $1 went to $s" >&2; return 1 ;; esac',
        f"    sleep {PRODUCT_POLL:g}",
        "  done",
        "}",
        f"remote={q(remote)}",
        "phase create",
        create,
        'wait_status "$vol" available',
        "phase attach",
        f'os server add volume {q(scratch.server)} "$vol"',
        'wait_status "$vol" in-use',
        "phase prove",
        f'{shlex.join(scratch.ssh_argv())} "serial=${{vol:0:20}}; $remote" < {q(str(scratch.sha256_list))}',
        "phase remove",
        f'os server remove volume {q(scratch.server)} "$vol"',
        'wait_status "$vol" available',
        'os volume delete "$vol"',
        f'while os volume show "$vol" -f value -c status >/dev/null 2>&1; do sleep {PRODUCT_POLL:g}; done',
        "phase end",
        'echo "byhand-volume $vol"',
    ])


def baseline_what(copy: dict[str, str]) -> str:
    """The baseline script in words, for the results file and the README."""
    if copy["kind"] == "volume-backup":
        create = ("`openstack volume backup restore BACKUP NAME` (openstackclient 6.0.0, Debian 12's, "
                  "has no `volume create --backup`; the error it prints after starting the restore, "
                  "exit 1, is let through, that one only), `volume show NAME` for the new id")
    else:
        create = "`openstack volume create --snapshot SNAPSHOT --size N NAME`"
    return (f"one bash script: {create}, poll until available, `server add volume`, poll until "
            "in-use, one `ssh` to the scratch host (its known_hosts, StrictHostKeyChecking=yes) that "
            "waits for the by-id link, then `blkid`, `blockdev --setro`, `xfs_repair -n` / `e2fsck -fn`, "
            "`mount -o ro,norecovery,nouuid` / `ro,noload`, `test -e` of the rule's files, "
            "`sha256sum -c` of its list, `umount`; `server remove volume`, poll until available, "
            "`volume delete`, poll until gone")


# --------------------------------------------------------------------------
# The two sides


@dataclass
class Sample:
    side: str
    seconds: float
    detail: dict[str, Any] = field(default_factory=dict)


class Product:
    """`dr-console drill payload-volume` with private XDG dirs per sample."""

    def __init__(self, scratch: Scratch, work: Path) -> None:
        self.scratch = scratch
        self.work = work
        self.template = work / "xdg-template"
        self.argv = [sys.executable, "-m", "dr_console", "--site", str(scratch.site_file), "drill",
                     "payload-volume", "--volume", scratch.volume]

    def env(self, xdg: Path) -> dict[str, str]:
        return dict(os.environ, XDG_STATE_HOME=str(xdg / "state"), XDG_CACHE_HOME=str(xdg / "cache"),
                    COLUMNS="200")

    def warm(self) -> None:
        """A fresh inventory (and a warm verify cache) in the template, untimed."""
        run_timed([venv_bin("dr-console"), "--site", str(self.scratch.site_file), "status", "--refresh"],
                  env=self.env(self.template), ok=(0, 1, 2), timeout=300, what="dr-console status --refresh")

    def prepare(self, index: int) -> tuple[Path, dict[str, str]]:
        xdg = self.work / f"xdg-product-{index}"
        shutil.copytree(self.template / "cache", xdg / "cache")
        (xdg / "state").mkdir(parents=True)
        return xdg, self.env(xdg)

    def run(self, xdg: Path, env: dict[str, str], copy: dict[str, str]) -> Sample:
        snapshots = list((xdg / "cache" / "dr-console" / "snapshots").glob("*.json"))
        if len(snapshots) != 1:
            raise BenchError(f"expected one cached inventory in {xdg}, found {len(snapshots)}")
        mark = snapshots[0].stat().st_mtime_ns
        # drill exits like status: 0 passed, 1 unverified, 2 failed; only 0 is a timing.
        timed = run_timed(self.argv, env=env, timeout=SAMPLE_TIMEOUT, what="dr-console drill payload-volume")
        if snapshots[0].stat().st_mtime_ns != mark:
            raise BenchError("the drill rewrote the cached inventory: it gathered one instead of "
                             "choosing from the cache, so the sample would time a refresh")
        runs = sorted((xdg / "state" / "dr-console" / "runs").glob("*.jsonl"))
        if len(runs) != 1:
            raise BenchError(f"expected one run journal in {xdg}, found {len(runs)}")
        run = runs[0].stem
        report = json.loads(run_timed([venv_bin("dr-console"), "--site", str(self.scratch.site_file),
                                       "report", run, "--format", "json"], env=env,
                                      what="dr-console report").stdout)
        if report.get("verdict") != "passed" or report.get("outcome") != "succeeded":
            raise BenchError(f"drill {run}: verdict {report.get('verdict')!r}, outcome "
                             f"{report.get('outcome')!r}:\n{timed.stdout[-1500:]}")
        if copy["id"] not in report["copy"]["location"]:
            raise BenchError(f"drill {run} restored {report['copy']['location']}, the baseline "
                             f"restores {copy['location']}: not the same work")
        if not report["cleanup"]["ok"] or report["cleanup"]["left"]:
            raise BenchError(f"drill {run}: cleanup {report['cleanup']}")
        failed = [c["name"] for c in report["checks"] if c["passed"] is not True]
        if failed:
            raise BenchError(f"drill {run}: checks not passed: {failed}")
        return Sample(PRODUCT, timed.seconds, {
            "run_id": run, "rto_measured_seconds": report["rto"]["measured_seconds"],
            "steps": {s["id"]: s["seconds"] for s in report["steps"]},
            "checks": [c["name"] for c in report["checks"]], "commands_logged": len(report["commands"]),
            "peak_rss_bytes": timed.maxrss_bytes})


def run_baseline(scratch: Scratch, script: str, index: int) -> Sample:
    name = f"{scratch.baseline_prefix}{index}"
    timed = run_timed(["bash", "-c", script, "bench-payload", name], env=scratch.os_env(),
                      timeout=SAMPLE_TIMEOUT, what="baseline openstack + ssh")
    marker = _MARKER.search(timed.stdout)
    if marker is None:
        raise BenchError(f"the baseline ended without its checks' marker:\n{timed.stdout[-800:]}")
    marks = [(m["name"], float(m["at"])) for m in _PHASE.finditer(timed.stdout)]
    phases = {phase: round(end - at, 3) for (phase, at), (_, end) in itertools.pairwise(marks)}
    return Sample(BASELINE, timed.seconds, {"name": name, "device": marker["dev"], "fs": marker["fs"],
                                            "phase_seconds": phases})


# --------------------------------------------------------------------------


def print_results(part: dict[str, Any]) -> None:
    p, b = part["product"], part["baseline"]
    print(f"\npayload-volume drill of {part['volume']} ({part['copy']['kind']} {part['copy']['id']}) onto "
          f"{part['scratch_server']}, whole processes, median (range) of {part['samples_per_side']}:")
    print(f"{'measure':<42}{'dr-console':>26}{'baseline':>26}{'ratio':>9}")
    print(f"{'restore, attach, prove over SSH, remove':<42}{fmt_range(p['seconds']):>26}"
          f"{fmt_range(b['seconds']):>26}{part['ratio']:>8.2f}x")
    print(f"  dr-console RTO measured by its own report: {fmt_range(p['rto_measured_seconds'])}")
    for side, samples, key in ((PRODUCT, p["samples"], "steps"), (BASELINE, b["samples"], "phase_seconds")):
        print(f"  {side}, each sample: " + " | ".join(
            ", ".join(f"{k} {v:.1f}" for k, v in sample[key].items()) for sample in samples))
    print(f"  load average at the start {_load(part['load_average_at_start'])}, at the end "
          f"{_load(part['machine']['load_average'])}")
    print(f"ratio: {RATIO_FASTER}")


def _load(values: list[float]) -> str:
    return " ".join(f"{v:.2f}" for v in values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=REPO / ".lab" / "site.yaml")
    parser.add_argument("--volume", default="app-media")
    parser.add_argument("--samples", type=int, default=3, help="samples per side (>= 3)")
    parser.add_argument("--out", type=Path, default=REPO / ".bench" / "parts" / "payload.json")
    args = parser.parse_args()
    if args.samples < 3:
        raise BenchError("--samples must be at least 3")
    require_tools({OPENSTACK: "Debian package python3-openstackclient", "ssh": "openssh-client",
                   "bash": "bash"})
    site_file = args.site.resolve()
    if not site_file.exists():
        raise BenchError(f"no site file at {site_file}: start the lab first (make lab-up)")
    scratch = scratch_of(site_file, yaml.safe_load(site_file.read_text()), args.volume)
    version = subprocess.run([OPENSTACK, "--version"], capture_output=True, text=True)
    started, load_at_start = now_iso(), list(os.getloadavg())
    work = Path(tempfile.mkdtemp(prefix="drbench-payload-"))
    product = Product(scratch, work)

    def on_signal(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)  # through the sample's clean-up and the finally below

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        cloud = Cloud(scratch)
        product.warm()
        copy = last_good_copy(scratch, product.env(product.template))
        size_gb = int(cloud.conn.block_storage.get_volume(copy["volume_id"]).size)
        clean_up(cloud, scratch, None)  # a previous bench killed half-way
        before = Baseline(cloud.attachments(), guest_state(scratch))
        script = baseline_script(scratch, copy, size_gb)
        order = alternating(args.samples, PRODUCT, BASELINE)
        print(f"[set-up] {scratch.volume}: last good copy {copy['kind']} {copy['id']} "
              f"(made {copy['created_at']}); scratch server {scratch.server} = host "
              f"{scratch.host['name']}; {len(before.attachments)} volume(s) attached there before")
        print(f"{args.samples} samples per side, order "
              + " ".join("A" if s == PRODUCT else "B" for s in order) + f" (A = {PRODUCT}, B = {BASELINE})")
        taken: list[Sample] = []
        for index, side in enumerate(order, 1):
            env: dict[str, str] | None = None
            try:
                # The same untimed refresh before every sample of either side, so
                # neither starts with the platform's caches warmer than the other.
                product.warm()
                if side == PRODUCT:
                    xdg, env = product.prepare(index)
                    sample = product.run(xdg, env, copy)
                else:
                    sample = run_baseline(scratch, script, index)
                left = leftovers(cloud, scratch, before)
                if left:
                    raise BenchError(f"the {side} sample left: {'; '.join(left)}")
            except BaseException:
                try:
                    clean_up(cloud, scratch, env)
                except Exception as exc:  # the sample's own error is the one to report
                    print(f"clean-up after the failed sample failed too: {exc}", file=sys.stderr)
                raise
            sample.detail["load_average_after"] = list(os.getloadavg())
            taken.append(sample)
            print(f"  {index:2d} {side:<10} {sample.seconds:8.2f} s"
                  + (f"  RTO {sample.detail['rto_measured_seconds']:.1f} s, run {sample.detail['run_id']}"
                     if side == PRODUCT else f"  {sample.detail['fs']} on {sample.detail['device']}"),
                  flush=True)
        products = [s for s in taken if s.side == PRODUCT]
        baselines = [s for s in taken if s.side == BASELINE]
        part: dict[str, Any] = {
            "bench": "payload",
            "run_id": run_id(),
            "started_at": started,
            "finished_at": now_iso(),
            "machine": machine(),
            "load_average_at_start": load_at_start,
            "volume": scratch.volume,
            "cloud": scratch.cloud_name,
            "copy": {k: copy[k] for k in ("id", "kind", "location", "created_at")},
            "size_gb": size_gb,
            "scratch_server": scratch.server,
            "scratch_host": scratch.host["name"],
            "checks": {"files": scratch.files, "sha256_list": str(scratch.sha256_list),
                       "rule": scratch.rule},
            "poll_seconds": PRODUCT_POLL,
            "samples_per_side": args.samples,
            "order": order,
            "product": {
                "command": product.argv,
                "xdg": "private XDG_STATE_HOME per sample (empty); XDG_CACHE_HOME copied per sample "
                       "from one refreshed by `dr-console status --refresh` just before it (untimed, "
                       "and run before every baseline sample too): the inventory is seconds old and "
                       "the verify cache warm; checked: no sample rewrote the cached inventory",
                "seconds": summary([s.seconds for s in products]),
                "rto_measured_seconds": summary([s.detail["rto_measured_seconds"] for s in products]),
                "samples": [s.detail for s in products],
                "verified": "`dr-console report RUN --format json` of every sample: verdict passed, "
                            "outcome succeeded, every check passed, cleanup ok, the same copy",
            },
            "baseline": {
                "command": ["bash", "-c", script, "bench-payload", f"{scratch.baseline_prefix}<sample>"],
                "what": baseline_what(copy),
                "openstack_cli": (version.stdout or version.stderr).strip(),
                "seconds": summary([s.seconds for s in baselines]),
                "samples": [s.detail for s in baselines],
            },
            "equal_work": "restore that copy into a new volume, attach it to the scratch "
                          "server, wait for each end state polling every "
                          f"{PRODUCT_POLL:g} s, find the disk by its virtio serial, blkid, blockdev "
                          "--setro, a no-change fsck, a read-only mount that replays nothing, the "
                          "rule's files and sha256 list, unmount, detach, delete, wait until gone",
            "product_also": "chooses the copy from the cached inventory (age vs RPO); creates the volume "
                            "empty (named, tagged with the run, in the server's zone) then restores the "
                            "backup into it, waiting 1 s before each wait; journals every event under a "
                            "lock; keeps a command log; records the drill on the copy's metadata; writes "
                            "the evidence report",
            "baseline_polls": "each poll is a whole `openstack volume show` process (a new token "
                              "each time), then the same sleep",
            "left_behind": "no volume named like either side's is left, and the scratch server's Nova "
                           "attachments and its guest's by-id disks and mounts are as before the first "
                           "sample",
            "ratio_means": RATIO_FASTER,
        }
        part["ratio"] = ratio(part["baseline"]["seconds"]["median"], part["product"]["seconds"]["median"])
        write_part(args.out, part)
        print_results(part)
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main_guard(main))
