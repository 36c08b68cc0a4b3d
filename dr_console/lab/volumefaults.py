"""Faults a payload-volume runbook's tests provoke on demand, each with its
undo (`dr-console lab fault ...`; docs/lab-volumes.md):

- attach-hang: Nova attaches wait in the compute driver until switched off;
- host-key: a lab host presents another host key than the pinned one;
- volume-quota: the tenant's Cinder quota leaves no room for a new volume.

The seeded faults (a damaged newest backup, a backup in state error) need
no switch: see openstack/_payload.py.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import time
from pathlib import Path
from typing import Any

from dr_console.lab import guesthost, procs, sshd
from dr_console.lab.openstack._payload import LAB_QUOTA
from dr_console.lab.openstack.sitelib import drlab_guestdisk as guestdisk
from dr_console.lab.procs import LabError

# -- attach never completes ---------------------------------------------------------------


def hang_switch(lab_dir: Path) -> Path:
    return guesthost.guests_dir(lab_dir) / guestdisk.HANG_SWITCH


def attach_hang(lab_dir: Path, on: bool, volume_ids: list[str] | None = None) -> None:
    """On: attaches of these volumes (all, if none named) wait in the
    compute driver; the volume stays `attaching`. Off: they go on."""
    switch = hang_switch(lab_dir)
    if on:
        switch.parent.mkdir(parents=True, exist_ok=True)
        tmp = switch.with_suffix(".tmp")
        tmp.write_text("".join(f"{v}\n" for v in volume_ids or []))
        tmp.replace(switch)
    else:
        switch.unlink(missing_ok=True)


# -- a changed host key ------------------------------------------------------------------------


def _host_dir(lab_dir: Path, host: str) -> Path:
    hdir = sshd.ssh_dir(lab_dir) / "hosts" / host
    if not (hdir / "sshd_config").exists():
        raise LabError(f"no lab host {host!r} in {lab_dir}")
    return hdir


def rotated_key(lab_dir: Path, host: str) -> Path:
    return _host_dir(lab_dir, host) / "ssh_host_ed25519_key.rotated"


def rotated_public_key(lab_dir: Path, host: str) -> str:
    """The key the host presents while rotated (made once, kept)."""
    key = rotated_key(lab_dir, host)
    if not key.exists():
        procs.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                   f"{host}@drlab-rotated", "-f", str(key)])
    keytype, blob = key.with_suffix(".rotated.pub").read_text().split()[:2]
    return f"{keytype} {blob}"


def _presented_key(port: int) -> str | None:
    import paramiko

    try:
        with socket.create_connection((procs.LOOPBACK, port), timeout=5) as sock:
            transport = paramiko.Transport(sock)
            try:
                transport.start_client(timeout=10)
                key = transport.get_remote_server_key()
                return f"{key.get_name()} {key.get_base64()}"
            finally:
                transport.close()
    except (OSError, EOFError, paramiko.SSHException):  # sshd is re-executing: not yet
        return None


def _port(config: Path) -> int:
    match = re.search(r"^Port (\d+)$", config.read_text(), re.MULTILINE)
    if not match:
        raise LabError(f"{config}: no Port line")
    return int(match.group(1))


def host_key(lab_dir: Path, host: str, rotated: bool, timeout: float = 20) -> str:
    """Make the host's sshd present its rotated key (`rotated`) or its
    pinned one again; returns the key it now presents. The lab's
    known_hosts is left alone: a client that pins keys must refuse."""
    hdir = _host_dir(lab_dir, host)
    config = hdir / "sshd_config"
    key = hdir / "ssh_host_ed25519_key"
    wanted_key = rotated_key(lab_dir, host) if rotated else key
    wanted = (rotated_public_key(lab_dir, host) if rotated
              else " ".join(key.with_suffix(".pub").read_text().split()[:2]))
    text = re.sub(r"^HostKey .*$", f"HostKey {wanted_key}", config.read_text(),
                  flags=re.MULTILINE)
    config.write_text(text)
    service = next((s for s in procs.registered(lab_dir) if s.name == f"sshd-{host}"), None)
    if service is None or not procs.pid_alive(service.pid):
        raise LabError(f"lab host {host} is not running")
    # sshd re-executes itself on SIGHUP: same PID, same mount namespace, new key.
    os.kill(service.pid, signal.SIGHUP)
    port = _port(config)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _presented_key(port) == wanted:
            return wanted
        time.sleep(0.2)
    raise LabError(f"lab host {host} does not present the {'rotated' if rotated else 'pinned'} "
                   f"key after {timeout:.0f}s; see {service.log}")


def rotated_hosts(lab_dir: Path) -> list[str]:
    hosts = sshd.ssh_dir(lab_dir) / "hosts"
    if not hosts.is_dir():
        return []
    return sorted(h.name for h in hosts.iterdir() if (h / "sshd_config").exists()
                  and ".rotated" in (h / "sshd_config").read_text())


# -- no room for a new volume -------------------------------------------------------------------


def _admin(lab_dir: Path) -> Any:
    from dr_console.lab.openstack import OpenStackLab, connect

    clouds = lab_dir / "clouds.yaml"
    if not clouds.exists():
        raise LabError(f"no OpenStack in the lab in {lab_dir}")
    return connect(OpenStackLab(clouds_yaml=clouds), admin=True)


def _tenant_project(admin: Any) -> Any:
    from dr_console.lab.openstack._config import TENANT_PROJECT

    project = admin.identity.find_project(TENANT_PROJECT)
    if project is None:
        raise LabError(f"no project {TENANT_PROJECT} in the lab")
    return project


def volume_quota(lab_dir: Path, low: bool) -> dict[str, int]:
    """Low: the tenant's `volumes` and `gigabytes` quota set to what it uses
    now, so the next volume (a restore's too) is refused with HTTP 413.
    Restore: the lab's quota again. Returns the quota now in force."""
    admin = _admin(lab_dir)
    project = _tenant_project(admin)
    if low:
        volumes = list(admin.block_storage.volumes(details=True, all_projects=True,
                                                   project_id=project.id))
        snapshots = list(admin.block_storage.snapshots(details=True, all_projects=True,
                                                       project_id=project.id))
        # Cinder counts snapshots in `gigabytes` too.
        quota = {"volumes": len(volumes),
                 "gigabytes": sum(int(v.size or 0) for v in [*volumes, *snapshots])}
    else:
        quota = dict(LAB_QUOTA)
    admin.block_storage.update_quota_set(project, **quota)
    return quota


def status(lab_dir: Path) -> dict[str, Any]:
    """Which switches are on now."""
    switch = hang_switch(lab_dir)
    hang: Any = None
    if switch.exists():
        hang = [line for line in switch.read_text().split() if line] or "every attach"
    return {"attach-hang": hang, "host-key rotated": rotated_hosts(lab_dir)}
