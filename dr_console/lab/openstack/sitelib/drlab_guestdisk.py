"""Guest disks of the dr-console lab: a Cinder volume attached to a Nova
server that a lab host plays becomes a real block device inside that host.

Standard library only: nova-compute imports it as ``drlab_guestdisk``
(Debian's python3, sitelib on PYTHONPATH) and the lab's own code imports it
from the venv, so attach, detach, restart and `lab down` share one set of
rules. See docs/lab-volumes.md.

How a disk is exposed: ``losetup`` on the volume's backing file, then a
block node named like a guest disk (``vdb``) and the link
``/dev/disk/by-id/virtio-<first 20 chars of the volume id>`` inside the
host's private /dev. That /dev is a tmpfs mounted in the host's own mount
namespace; it is reached through ``/proc/<pid>/root/dev`` of the host's
first process, never through the machine's /dev (one devtmpfs shared by
every namespace, where nothing of ours may appear).

The guests directory (``lab_dir/guests``):

    servers.json          {server uuid: {"server": name, "host": lab host}}
    disks.json            {volume id: what is attached where (the record)}
    disks.lock            serialises changes to disks.json
    attach-hang           fault switch: while present, attaches wait
                          (lines: volume ids; empty: every attach)
    <host>/namespace.pid  PID of the host's sshd: its namespace's first process
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

SERVERS = "servers.json"
DISKS = "disks.json"
HANG_SWITCH = "attach-hang"
PID_FILE = "namespace.pid"
# Written by the host's namespace launcher into its private /dev: proof that
# a path under /proc/<pid>/root/dev is that host's /dev and not the machine's.
MARKER = ".drlab-host"
BY_ID = "disk/by-id"
# A forgotten switch must not wedge nova-compute for ever: after this the
# attach fails and Nova rolls it back (the volume returns to available).
HANG_LIMIT = 900.0
_DEVICE_NAME = re.compile(r"^(?:vd|sd|xvd)([a-z]{1,2})$")
_LOOP = re.compile(r"^loop\d+$")

# Under eventlet (nova-compute) threading.Lock is green: a greenthread that
# waits here lets the holder run. flock alone would block the whole process.
_PROCESS_LOCK = threading.Lock()

Log = Callable[[str], None]


class GuestDiskError(RuntimeError):
    """A disk could not be exposed or taken away; the message says why."""


class GuestNotRunning(GuestDiskError):
    """The lab host playing the server has no live namespace."""


class DiskBusy(GuestDiskError):
    """The disk is mounted inside the lab host: a guest would refuse too."""


def by_id_name(volume_id: str) -> str:
    """The name a virtio disk gets from udev in a real guest."""
    return f"virtio-{volume_id[:20]}"


# -- files ------------------------------------------------------------------------


def _read_json(path: str) -> dict[str, Any]:
    try:
        with open(path) as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return {}
    return data if isinstance(data, dict) else {}


def _write_json(path: str, data: dict[str, Any]) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(guests_dir: str) -> Iterator[None]:
    """One change to disks.json at a time, across processes (nova-compute,
    `lab up`, `lab down`). Polls instead of blocking: under eventlet a
    blocking flock would stop every greenthread."""
    os.makedirs(guests_dir, exist_ok=True)
    with _PROCESS_LOCK, open(os.path.join(guests_dir, "disks.lock"), "w") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def servers(guests_dir: str) -> dict[str, dict[str, str]]:
    return _read_json(os.path.join(guests_dir, SERVERS))


def write_servers(guests_dir: str, mapping: dict[str, dict[str, str]]) -> None:
    os.makedirs(guests_dir, exist_ok=True)
    _write_json(os.path.join(guests_dir, SERVERS), mapping)


def records(guests_dir: str) -> dict[str, dict[str, Any]]:
    return _read_json(os.path.join(guests_dir, DISKS))


def host_for(guests_dir: str, server_uuid: str) -> str | None:
    """The lab host playing this server, or None (an ordinary fake server)."""
    entry = servers(guests_dir).get(server_uuid)
    return entry.get("host") if entry else None


# -- the host's namespace -----------------------------------------------------------


def _mnt_ns(pid: int | str) -> str:
    return os.readlink(f"/proc/{pid}/ns/mnt")


def namespace_pid(guests_dir: str, host: str) -> int:
    """PID of the host's first process, checked: alive, in a mount namespace
    other than ours, and its /dev carries the host's marker."""
    try:
        with open(os.path.join(guests_dir, host, PID_FILE)) as handle:
            pid = int(handle.read().strip())
        other = _mnt_ns(pid) != _mnt_ns("self")
        with open(f"/proc/{pid}/root/dev/{MARKER}") as handle:
            marked = handle.read().strip() == host
    except (OSError, ValueError) as exc:
        raise GuestNotRunning(f"lab host {host} is not running ({exc})") from None
    if not (other and marked):
        raise GuestNotRunning(f"lab host {host}: PID {pid} is not its namespace")
    return pid


def _guest_dev(pid: int, *parts: str) -> str:
    return os.path.join(f"/proc/{pid}/root/dev", *parts)


def _mounts_of(pid: int | str, rdev: int) -> list[str]:
    """Mount points (in that process's namespace) of the block device rdev."""
    wanted = f"{os.major(rdev)}:{os.minor(rdev)}"
    points = []
    with open(f"/proc/{pid}/mountinfo") as handle:
        for line in handle:
            fields = line.split()
            if fields[2] == wanted:
                # mountinfo escapes blanks and backslashes as octal
                points.append(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)),
                                     fields[4]))
    return points


# -- loop devices -----------------------------------------------------------------------


def loop_devices() -> dict[str, str]:
    """{"/dev/loopN": backing file} for every bound loop device (what
    `losetup -a` shows), read from sysfs."""
    out = {}
    for name in sorted(os.listdir("/sys/block")):
        if not _LOOP.match(name):
            continue
        try:
            with open(f"/sys/block/{name}/loop/backing_file") as handle:
                backing = handle.read().rstrip("\n")
        except OSError:
            continue  # not bound
        out[f"/dev/{name}"] = backing.removesuffix(" (deleted)")
    return out


def loops_under(root: str) -> dict[str, str]:
    """Loop devices whose backing file lies under root: the lab's own."""
    prefix = os.path.realpath(root).rstrip("/") + "/"
    return {dev: f for dev, f in loop_devices().items() if f.startswith(prefix)}


def _loop_backing(loop: str) -> str | None:
    return loop_devices().get(loop)


def _run(argv: list[str]) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise GuestDiskError(f"{' '.join(argv)}: {proc.stderr.strip() or proc.returncode}")
    return proc.stdout


def _losetup(backing_file: str) -> str:
    return _run(["losetup", "--find", "--show", backing_file]).strip()


def _release_loop(loop: str, backing_file: str) -> None:
    """Detach a loop device, but only while it still holds our file (loop
    numbers are reused by whoever asks next, another lab included)."""
    if _loop_backing(loop) != backing_file:
        return
    for mount_point in _mounts_of("self", os.stat(loop).st_rdev):
        # Mounted in the machine's namespace: ours by its backing file.
        subprocess.run(["umount", "-l", mount_point], capture_output=True, timeout=60)
    _run(["losetup", "--detach", loop])


# -- exposing a disk inside a host -----------------------------------------------------------


def _node_name(wanted: str, pid: int, taken: set[str]) -> str:
    """A virtio disk name: Nova's letter when it gave one (its /dev/sdc
    is vdc here), else the first free one."""
    match = _DEVICE_NAME.match(os.path.basename(wanted or ""))
    if match and f"vd{match.group(1)}" not in taken:
        return f"vd{match.group(1)}"
    for letter in "bcdefghijklmnopqrstuvwxyz":
        name = f"vd{letter}"
        if name not in taken and not os.path.lexists(_guest_dev(pid, name)):
            return name
    raise GuestDiskError("no free guest disk name")


def _expose(pid: int, record: dict[str, Any]) -> None:
    rdev = os.stat(record["loop"]).st_rdev
    node = _guest_dev(pid, record["node"])
    if os.path.lexists(node):
        os.unlink(node)
    os.mknod(node, 0o660 | stat.S_IFBLK, rdev)
    link_dir = _guest_dev(pid, BY_ID)
    os.makedirs(link_dir, exist_ok=True)
    link = os.path.join(link_dir, by_id_name(record["volume_id"]))
    if os.path.lexists(link):
        os.unlink(link)
    os.symlink(f"../../{record['node']}", link)


def _unexpose(pid: int, record: dict[str, Any]) -> None:
    for path in (_guest_dev(pid, BY_ID, by_id_name(record["volume_id"])),
                 _guest_dev(pid, record["node"])):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _exposed(pid: int, record: dict[str, Any]) -> bool:
    try:
        node = os.stat(_guest_dev(pid, record["node"]))
        return node.st_rdev == os.stat(record["loop"]).st_rdev and os.path.lexists(
            _guest_dev(pid, BY_ID, by_id_name(record["volume_id"])))
    except (OSError, KeyError, TypeError):
        return False


# -- the fault switch -------------------------------------------------------------------------


def hang_requested(guests_dir: str, volume_id: str) -> bool:
    try:
        with open(os.path.join(guests_dir, HANG_SWITCH)) as handle:
            wanted = {line.strip() for line in handle if line.strip()}
    except FileNotFoundError:
        return False
    return not wanted or volume_id in wanted


def wait_while_hung(guests_dir: str, volume_id: str, log: Log,
                    limit: float = HANG_LIMIT) -> None:
    """The "attach never completes" fault: wait while the switch is on.
    Switched off, the attach goes on; left on past `limit`, it fails."""
    if not hang_requested(guests_dir, volume_id):
        return
    log(f"attach of {volume_id} held by {os.path.join(guests_dir, HANG_SWITCH)}")
    deadline = time.monotonic() + limit
    while hang_requested(guests_dir, volume_id):
        if time.monotonic() > deadline:
            raise GuestDiskError(f"attach of {volume_id} held for {limit:.0f}s by the "
                                 "attach-hang switch; giving up")
        time.sleep(0.5)
    log(f"attach of {volume_id} released")


# -- what nova-compute calls ------------------------------------------------------------------


def attach(guests_dir: str, server_uuid: str, volume_id: str, backing_file: str,
           device: str) -> dict[str, Any] | None:
    """Expose the volume inside the host playing the server. Returns the
    record, or None when no lab host plays that server (nothing to do)."""
    host = host_for(guests_dir, server_uuid)
    if host is None:
        return None
    backing_file = os.path.realpath(backing_file)
    with _locked(guests_dir):
        pid = namespace_pid(guests_dir, host)
        disks = records(guests_dir)
        old = disks.get(volume_id)
        if old and old.get("loop") and old["server_uuid"] != server_uuid:
            # Not multiattach: a stale record from a server that is gone.
            _forget(guests_dir, disks, volume_id)
        taken = {r["node"] for r in disks.values() if r.get("host") == host
                 and r["volume_id"] != volume_id}
        loop = old.get("loop") if old else None
        if not loop or _loop_backing(loop) != backing_file:
            loop = _losetup(backing_file)
        record = {
            "volume_id": volume_id, "server_uuid": server_uuid,
            "server": servers(guests_dir)[server_uuid].get("server", ""), "host": host,
            "backing_file": backing_file, "loop": loop,
            "node": old["node"] if old else _node_name(device, pid, taken),
            "nova_device": device,
            "by_id": f"/dev/{BY_ID}/{by_id_name(volume_id)}",
            "attached_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        try:
            _expose(pid, record)
        except BaseException:
            _release_loop(loop, backing_file)
            raise
        disks[volume_id] = record
        _write_json(os.path.join(guests_dir, DISKS), disks)
        return record


def detach(guests_dir: str, volume_id: str, force: bool = False) -> bool:
    """Take the disk away from its host. A disk still mounted inside the
    host is refused (DiskBusy) unless `force`, which unmounts it lazily
    first. Returns whether there was anything to detach."""
    with _locked(guests_dir):
        disks = records(guests_dir)
        if volume_id not in disks:
            return False
        record = disks[volume_id]
        pid = None
        with contextlib.suppress(GuestNotRunning):
            pid = namespace_pid(guests_dir, record["host"])
        loop = record.get("loop")
        if pid is not None and loop and _loop_backing(loop) == record["backing_file"]:
            points = _mounts_of(pid, os.stat(loop).st_rdev)
            if points and not force:
                raise DiskBusy(f"{record['by_id']} is mounted on {', '.join(points)} "
                               f"inside {record['host']}: unmount it first")
            for point in reversed(points):
                _run(["nsenter", f"--target={pid}", "--mount", "umount", "-l", point])
        if pid is not None:
            _unexpose(pid, record)
        _forget(guests_dir, disks, volume_id)
        return True


def _forget(guests_dir: str, disks: dict[str, dict[str, Any]], volume_id: str) -> None:
    record = disks.pop(volume_id)
    if record.get("loop"):
        _release_loop(record["loop"], record["backing_file"])
    _write_json(os.path.join(guests_dir, DISKS), disks)


def detach_server(guests_dir: str, server_uuid: str) -> list[str]:
    """Every disk of a server that is being destroyed, mounted or not."""
    gone = [v for v, r in records(guests_dir).items() if r["server_uuid"] == server_uuid]
    for volume_id in gone:
        detach(guests_dir, volume_id, force=True)
    return gone


def reconcile(guests_dir: str, log: Log) -> list[str]:
    """Make every recorded attachment real again (after `lab up`, or a
    restart of nova-compute or of a host): a loop device holding the
    backing file, the node and link inside the host. Hosts that are not
    running are left for later. Returns what could not be done."""
    problems = []
    with _locked(guests_dir):
        disks = records(guests_dir)
        for volume_id, record in disks.items():
            try:
                loop = record.get("loop")
                if not loop or _loop_backing(loop) != record["backing_file"]:
                    if not os.path.exists(record["backing_file"]):
                        raise GuestDiskError(f"backing file {record['backing_file']} is gone")
                    record["loop"] = _losetup(record["backing_file"])
                    log(f"{volume_id}: loop device {record['loop']}")
                pid = namespace_pid(guests_dir, record["host"])
                if not _exposed(pid, record):
                    _expose(pid, record)
                    log(f"{volume_id}: {record['by_id']} -> {record['node']} in {record['host']}")
            except GuestDiskError as exc:
                problems.append(f"{volume_id}: {exc}")
        _write_json(os.path.join(guests_dir, DISKS), disks)
    return problems


def release_all(guests_dir: str, lab_dir: str) -> list[str]:
    """`lab down`: detach every loop device backed by a file under lab_dir
    (another lab's are never touched) and mark the records unexposed; the
    records stay, since Nova still counts those volumes attached. Returns
    the loop devices released."""
    released = []
    with _locked(guests_dir):
        disks = records(guests_dir)
        for loop, backing in sorted(loops_under(lab_dir).items()):
            _release_loop(loop, backing)
            released.append(loop)
        for record in disks.values():
            record["loop"] = None
        if disks:
            _write_json(os.path.join(guests_dir, DISKS), disks)
    return released
