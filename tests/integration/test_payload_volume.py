"""Runbook 3 against the lab, as an operator runs it (`dr-console run
payload-volume` as a real process): a Cinder backup or snapshot becomes a
new volume, attached through Nova to app-1, found inside the lab host app1
by its virtio serial, proven read-only over SSH (fsck, the seeded sha256
list) and mounted. Faults: a damaged copy, a backup in error, no quota, an
attach that never completes, a changed host key, a SIGKILL — each a clear
message, the original untouched, and `resume` finishing the job.

Every test puts app-1 back as the lab seeded it: restored volumes unmounted,
detached and deleted, the originals attached again, fstab as it was."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paramiko
import pytest
from labhelpers import flat, run_cli

from dr_console.lab import volumefaults
from dr_console.schema import Site

pytestmark = pytest.mark.lab

WAIT = 180
RUN_TAG = "dr:run"


# -- the lab as seeded, and putting it back ---------------------------------------------


@pytest.fixture(scope="module")
def lab(lab_state: dict[str, Any]) -> Path:
    return Path(lab_state["lab_dir"])


@pytest.fixture(scope="module")
def server(lab_state: dict[str, Any]) -> dict[str, Any]:
    return dict(lab_state["lab_servers"]["app-1"])


@pytest.fixture(scope="module")
def volumes(lab_state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(lab_state["payload_volumes"]["volumes"])


@pytest.fixture(scope="module")
def conn(lab: Path) -> Any:
    import openstack.config
    import openstack.connection

    config = openstack.config.OpenStackConfig(config_files=[str(lab / "clouds.yaml")],
                                              vendor_files=[])
    return openstack.connection.Connection(config=config.get_one(cloud="drlab"))


class Guest:
    """A root shell in app1, pinned to the lab's known_hosts."""

    def __init__(self, server: dict[str, Any]) -> None:
        self.client = paramiko.SSHClient()
        self.client.load_host_keys(server["known_hosts"])
        self.client.set_missing_host_key_policy(paramiko.RejectPolicy())
        self.client.connect(server["address"], port=server["port"], username=server["user"],
                            key_filename=server["key_file"], allow_agent=False,
                            look_for_keys=False, timeout=10)

    def run(self, command: str, stdin: bytes = b"") -> tuple[int, str]:
        chan_in, out, err = self.client.exec_command(command, timeout=120)
        if stdin:
            chan_in.write(stdin)
        chan_in.channel.shutdown_write()
        text = out.read().decode() + err.read().decode()
        return out.channel.recv_exit_status(), text

    def close(self) -> None:
        self.client.close()


def _wait(conn: Any, volume_id: str, status: str) -> None:
    volume = conn.block_storage.get_volume(volume_id)
    conn.block_storage.wait_for_status(volume, status, failures=["error"], interval=0.5, wait=WAIT)


def _restored(conn: Any) -> list[Any]:
    return [v for v in conn.block_storage.volumes(details=True) if RUN_TAG in (v.metadata or {})]


@pytest.fixture
def seeded(conn: Any, server: dict[str, Any], volumes: dict[str, dict[str, Any]],
           lab: Path) -> Iterator[None]:
    """app-1 as the lab seeded it, before and after the test."""
    _put_back(conn, server, volumes, lab)
    yield
    _put_back(conn, server, volumes, lab)


def _put_back(conn: Any, server: dict[str, Any], volumes: dict[str, dict[str, Any]], lab: Path) -> None:
    volumefaults.attach_hang(lab, False)
    volumefaults.volume_quota(lab, low=False)
    if "app1" in volumefaults.rotated_hosts(lab):
        volumefaults.host_key(lab, "app1", rotated=False)
    guest = Guest(server)
    try:
        for name in volumes:
            guest.run(f"umount /srv/{name} 2>/dev/null; rmdir /srv/{name} 2>/dev/null; true")
        Path(server["fstab"]).write_text("".join(
            line for line in Path(server["fstab"]).read_text().splitlines(keepends=True)
            if "/srv/app-" not in line))
    finally:
        guest.close()
    for volume in _restored(conn):
        if volume.status == "in-use":
            conn.compute.delete_volume_attachment(server["id"], volume.id)
            _wait(conn, volume.id, "available")
        conn.block_storage.delete_volume(volume.id)
        conn.block_storage.wait_for_delete(volume, interval=0.5, wait=WAIT)
    for name, volume in volumes.items():
        current = conn.block_storage.get_volume(volume["id"])
        if current.status == "available":
            conn.compute.create_volume_attachment(server["id"], volume=volume["id"])
            _wait(conn, volume["id"], "in-use")
        assert conn.block_storage.get_volume(volume["id"]).status == "in-use", name


def _journal(xdg: dict[str, str]) -> list[dict[str, Any]]:
    (path,) = (Path(xdg["XDG_STATE_HOME"]) / "dr-console" / "runs").glob("*.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def _state(xdg: dict[str, str]) -> dict[str, Any]:
    return [r for r in _journal(xdg) if r["type"] == "state"][-1]["state"]


def _run_id(xdg: dict[str, str]) -> str:
    return str(_journal(xdg)[0]["run_id"])


def _mounted(server: dict[str, Any], name: str) -> str:
    guest = Guest(server)
    try:
        return guest.run(f"findmnt -rn -o SOURCE --mountpoint /srv/{name}")[1].strip()
    finally:
        guest.close()


# -- restores -----------------------------------------------------------------------------


def test_restore_from_the_last_good_backup_checks_and_mounts_it(
        seeded: None, lab_site: Site, conn: Any, server: dict[str, Any],
        volumes: dict[str, dict[str, Any]], xdg: dict[str, str]) -> None:
    app_data = volumes["app-data"]
    run = run_cli(lab_site.path, xdg, "run", "payload-volume", "--volume", "app-data", "--yes")
    text = flat(run)
    assert run.returncode == 0, text
    state = _state(xdg)
    assert state["copy"]["kind"] == "volume-backup" and state["copy"]["id"] == app_data["backups"][-1]["id"]
    assert "inside the payload RPO" in text
    assert state["proof"] == "ssh" and state["fs"]["type"] == "ext4"
    assert state["checks"]["sha256"]["files"] == len(Path(app_data["sha256_list"]).read_text().splitlines())
    (restored,) = _restored(conn)
    assert restored.metadata[RUN_TAG] == _run_id(xdg) and restored.status == "in-use"
    # Mounted where the site says, from the device the serial names.
    assert _mounted(server, "app-data") == state["device"]
    guest = Guest(server)
    try:
        listing = Path(app_data["sha256_list"]).read_bytes()
        code, out = guest.run("cd /srv/app-data && sha256sum -c -", listing)
        assert code == 0, out  # checked again here, independently of the runbook
    finally:
        guest.close()
    assert f"UUID={state['fs']['uuid']} /srv/app-data ext4" in Path(server["fstab"]).read_text()
    original = conn.block_storage.get_volume(app_data["id"])
    assert original.status == "available" and not original.attachments  # detached, kept


def test_restore_from_a_snapshot_of_an_xfs_volume(
        seeded: None, lab_site: Site, conn: Any, server: dict[str, Any],
        volumes: dict[str, dict[str, Any]], xdg: dict[str, str]) -> None:
    snapshot = volumes["app-media"]["snapshots"][-1]["id"]
    run = run_cli(lab_site.path, xdg, "run", "payload-volume", "--volume", "app-media",
                  "--copy", snapshot, "--yes")
    assert run.returncode == 0, flat(run)
    state = _state(xdg)
    assert state["copy"] == {"id": snapshot, "kind": "volume-snapshot", "created_at": None}
    assert state["fs"]["type"] == "xfs" and "xfs_repair -n" in state["fsck"]["command"]
    assert _mounted(server, "app-media") == state["device"]


def test_dry_run_prints_every_step_and_changes_nothing(
        seeded: None, lab_site: Site, conn: Any, xdg: dict[str, str]) -> None:
    before = sorted((v.id, v.status) for v in conn.block_storage.volumes(details=True))
    run = run_cli(lab_site.path, xdg, "run", "payload-volume", "--volume", "app-data", "--dry-run")
    text = flat(run)
    assert run.returncode == 0, text
    for command in ("volume backup restore", "server add volume", "readlink -f /dev/disk/by-id/virtio-",
                    "blockdev --setro", "server remove volume app-1 app-data", "ssh -p",
                    "mount"):
        assert command in text, command
    assert sorted((v.id, v.status) for v in conn.block_storage.volumes(details=True)) == before
    assert not (Path(xdg["XDG_STATE_HOME"]) / "dr-console" / "runs").exists()


@pytest.fixture
def ec2(lab_site: Site, lab_state: dict[str, Any]) -> Iterator[Any]:
    """The EBS twin as seeded, before and after: restored volumes deleted,
    app-data-ebs attached to the instance app-1 at its device."""
    from dr_console.lab.seed_aws import clients as aws_clients
    from dr_console.schema import AwsCloud

    cloud = next(c for c in lab_site.clouds if isinstance(c, AwsCloud))
    client = aws_clients(cloud)[0]
    instance = lab_state["aws"]["payload_instance"]["id"]
    original = lab_state["payload_volumes"]["aws"]["app-data-ebs"]

    def put_back() -> None:
        tagged = client.describe_volumes(Filters=[{"Name": "tag-key", "Values": [RUN_TAG]}])["Volumes"]
        for volume in tagged:
            for attachment in volume.get("Attachments", []):
                client.detach_volume(VolumeId=volume["VolumeId"], InstanceId=attachment["InstanceId"],
                                     Device=attachment["Device"])
            client.delete_volume(VolumeId=volume["VolumeId"])
        state = client.describe_volumes(VolumeIds=[original["id"]])["Volumes"][0]
        if not state.get("Attachments"):
            client.attach_volume(VolumeId=original["id"], InstanceId=instance, Device=original["device"])

    put_back()
    yield client
    put_back()


def test_ebs_twin_is_proven_by_the_platform_only(ec2: Any, lab_site: Site, lab_state: dict[str, Any],
                                                 xdg: dict[str, str]) -> None:
    run = run_cli(lab_site.path, xdg, "run", "payload-volume", "--volume", "app-data-ebs",
                  "--cloud", "lab-aws", "--yes")
    text = flat(run)
    assert run.returncode == 0, text
    assert "platform ok" in text and "not mounted" in text
    state = _state(xdg)
    assert state["proof"] == "platform" and "mounted_at" not in state
    assert state["copy"]["kind"] == "ebs-snapshot"
    restored = ec2.describe_volumes(VolumeIds=[state["restored"]["id"]])["Volumes"][0]
    instance = lab_state["aws"]["payload_instance"]
    assert restored["AvailabilityZone"] == instance["zone"]  # the instance's zone, or no attach
    assert restored["Attachments"][0]["InstanceId"] == instance["id"]


# -- faults --------------------------------------------------------------------------------


def test_a_damaged_copy_stops_at_the_check_with_its_fsck_output(
        seeded: None, lab_site: Site, conn: Any, server: dict[str, Any],
        volumes: dict[str, dict[str, Any]], xdg: dict[str, str]) -> None:
    home = volumes["app-home"]
    bad = next(b for b in home["backups"] if not b["good"])
    run = run_cli(lab_site.path, xdg, "run", "payload-volume", "--volume", "app-home",
                  "--copy", bad["id"], "--yes")
    text = flat(run)
    assert run.returncode == 1, text
    assert "found the filesystem damaged" in text and "e2fsck" in text
    state = _state(xdg)
    assert state["fsck"]["status"] != 0 and state["fsck"]["output"]  # the evidence, journaled
    assert _mounted(server, "app-home") == ""  # nothing mounted read-write
    original = conn.block_storage.get_volume(home["id"])
    assert original.status == "in-use" and original.attachments  # untouched, still attached
    (restored,) = _restored(conn)
    assert restored.status == "available"  # the bad copy detached again, kept for a look


def test_a_backup_in_error_is_refused_and_nothing_is_left(
        seeded: None, lab_site: Site, conn: Any, volumes: dict[str, dict[str, Any]],
        xdg: dict[str, str]) -> None:
    logs = volumes["app-logs"]
    broken = next(b for b in logs["backups"] if b["status"] == "error")
    run = run_cli(lab_site.path, xdg, "run", "payload-volume", "--volume", "app-logs",
                  "--copy", broken["id"], "--yes")
    text = flat(run)
    assert run.returncode == 1, text
    assert "restoring the backup into it refused (HTTP 400)" in text, text
    assert _restored(conn) == []  # the empty volume made for it is gone again
    assert conn.block_storage.get_volume(logs["id"]).status == "in-use"


def test_no_quota_then_a_changed_host_key_then_resume_finishes(
        seeded: None, lab_site: Site, lab: Path, conn: Any, server: dict[str, Any],
        volumes: dict[str, dict[str, Any]], xdg: dict[str, str]) -> None:
    volumefaults.volume_quota(lab, low=True)
    first = run_cli(lab_site.path, xdg, "run", "payload-volume", "--volume", "app-data", "--yes")
    assert first.returncode == 1 and "refused (HTTP 413)" in flat(first), flat(first)
    assert _restored(conn) == []
    run_id = _run_id(xdg)

    volumefaults.volume_quota(lab, low=False)
    volumefaults.host_key(lab, "app1", rotated=True)
    second = run_cli(lab_site.path, xdg, "resume", run_id, "--yes")
    assert second.returncode == 1, flat(second)
    assert "host key CHANGED" in flat(second)
    assert conn.block_storage.get_volume(volumes["app-data"]["id"]).status == "in-use"

    volumefaults.host_key(lab, "app1", rotated=False)
    third = run_cli(lab_site.path, xdg, "resume", run_id, "--yes")
    assert third.returncode == 0, flat(third)
    assert len(_restored(conn)) == 1  # the volume made by the second attempt, not a new one
    assert _mounted(server, "app-data") == _state(xdg)["device"]


def test_an_attach_that_never_completes_times_out_and_resume_finishes(
        seeded: None, lab_site: Site, lab: Path, conn: Any, server: dict[str, Any],
        xdg: dict[str, str]) -> None:
    volumefaults.attach_hang(lab, True)
    first = run_cli(lab_site.path, xdg, "run", "payload-volume", "--volume", "app-data",
                    "--attach-timeout", "15", "--yes")
    text = flat(first)
    assert first.returncode == 1, text
    assert "attaching app-data-restored-" in text and "after 15s" in text
    volumefaults.attach_hang(lab, False)
    done = run_cli(lab_site.path, xdg, "resume", _run_id(xdg), "--yes")
    assert done.returncode == 0, flat(done)
    assert len(_restored(conn)) == 1
    assert _mounted(server, "app-data") == _state(xdg)["device"]


def test_sigkill_mid_restore_then_resume_leaves_exactly_one_restored_volume(
        seeded: None, lab_site: Site, conn: Any, server: dict[str, Any],
        xdg: dict[str, str]) -> None:
    env = dict(os.environ, **xdg, COLUMNS="200")
    proc = subprocess.Popen([sys.executable, "-m", "dr_console", "--site", str(lab_site.path), "run",
                             "payload-volume", "--volume", "app-data", "--yes"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not _restored(conn):  # the run's new volume exists: kill it now
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    run_id = _run_id(xdg)
    done = run_cli(lab_site.path, xdg, "resume", run_id, "--yes")
    assert done.returncode == 0, flat(done)
    (restored,) = _restored(conn)
    assert restored.metadata[RUN_TAG] == run_id
    state = _state(xdg)
    assert state["checks"]["sha256"]["status"] == 0
    assert _mounted(server, "app-data") == state["device"]
