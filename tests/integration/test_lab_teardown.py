"""`lab down` leaves nothing behind: no loop device, no mount, no process
of a lab host's namespace. Proved on a lab of its own (one guest host and
one disk, no OpenStack: the same code paths the compute driver uses), so
the shared lab keeps running for the other tests. Nothing is mocked."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest
from labenv import lab_missing

from dr_console.lab import guesthost, payloadfs, procs, sshd
from dr_console.lab.openstack._config import Layout
from dr_console.lab.openstack.sitelib import drlab_guestdisk as guestdisk
from dr_console.lab.runner import lab_down
from dr_console.lab.sshd import LabHost

pytestmark = pytest.mark.lab

HOST = "app1"


@pytest.fixture
def small_lab(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0 or not Path(sshd.SSHD).exists():
        lab_missing("needs root and OpenSSH's sshd")
    lab = (tmp_path / "lab").resolve()
    yield lab
    lab_down(lab)  # whatever the test did


def _start_host(lab: Path, host: LabHost) -> int:
    service = guesthost.start(lab, host)
    procs.wait_for_port(service, host.port, timeout=30)
    return guesthost.wait_namespace(lab, HOST)


def _ssh(lab: Path, port: int) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.load_host_keys(str(sshd.known_hosts(lab)))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect("127.0.0.1", port=port, username="root", key_filename=str(sshd.client_key(lab)),
                   allow_agent=False, look_for_keys=False, timeout=10)
    return client


def _run(client: paramiko.SSHClient, command: str) -> str:
    _, out, err = client.exec_command(command, timeout=60)
    text = out.read().decode()
    assert out.channel.recv_exit_status() == 0, f"{command}: {text}{err.read().decode()}"
    return text


def test_lab_down_leaves_no_loop_device_mount_or_process(small_lab: Path) -> None:
    lab = small_lab
    host = LabHost(HOST, procs.free_port(), ("app",), {})
    sshd.prepare(lab, [host])
    guesthost.prepare(lab, host)
    pid = _start_host(lab, host)
    namespace = os.readlink(f"/proc/{pid}/ns/mnt")

    volume_id = str(uuid.uuid4())
    backing = Layout(lab).volumes / f"volume-{volume_id}"
    backing.parent.mkdir(parents=True)
    with open(backing, "wb") as handle:
        handle.truncate(1 << 30)
    payloadfs.make_filesystem(backing, "ext4", "teardown", str(uuid.uuid4()),
                              payloadfs.files_for("teardown", "ext4"))
    gdir = str(guesthost.guests_dir(lab))
    guestdisk.write_servers(gdir, {"server-1": {"server": "app-1", "host": HOST}})
    record = guestdisk.attach(gdir, "server-1", volume_id, str(backing), "/dev/vdb")
    assert record is not None and record["node"] == "vdb"

    # A restarted host (new namespace) gets its disk back from the record,
    # as after a restart of nova-compute or of the lab.
    procs.stop_service(lab, f"sshd-{HOST}")
    pid = _start_host(lab, host)
    namespace = os.readlink(f"/proc/{pid}/ns/mnt")
    assert guestdisk.reconcile(gdir, lambda _: None) == []

    # Leave the worst: a mounted disk and an SSH session still running.
    session = _ssh(lab, host.port)
    _run(session, f"mkdir -p /mnt/d && mount -o ro,noload /dev/disk/by-id/virtio-{volume_id[:20]}"
                  " /mnt/d && test -f /mnt/d/README.txt")
    session.exec_command("sleep 600")
    assert subprocess.run(["losetup", "-j", str(backing)], capture_output=True,
                          text=True).stdout
    assert not os.path.lexists(f"/dev/disk/by-id/virtio-{volume_id[:20]}")

    lab_down(lab)
    session.close()

    assert subprocess.run(["losetup", "-j", str(backing)], capture_output=True,
                          text=True, check=True).stdout == ""
    mounts = subprocess.run(["findmnt", "-rn", "-o", "TARGET,SOURCE"], capture_output=True,
                            text=True, check=True).stdout
    assert str(lab) not in mounts and f"drlab-dev-{HOST}" not in mounts
    deadline = time.monotonic() + 5
    while guesthost.processes_in(namespace) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert guesthost.processes_in(namespace) == []
    assert guesthost.leftovers(lab) == []
    # The record stays (Nova still counts the volume attached); only the loop is gone.
    assert guestdisk.records(gdir)[volume_id]["loop"] is None
