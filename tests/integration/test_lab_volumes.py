"""Payload volumes in the lab, end to end against the real services: a
volume attached through Nova becomes a disk inside the lab host that plays
the server, reached over SSH with a pinned host key; restores carry the
seeded files; the provokable faults do what docs/lab-volumes.md says.
Nothing is mocked."""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paramiko
import pytest
from labenv import lab_missing

from dr_console.lab import volumefaults
from dr_console.lab.seed_aws import clients as aws_clients
from dr_console.schema import AwsCloud, Site

pytestmark = pytest.mark.lab

WAIT = 180


# -- fixtures and helpers --------------------------------------------------------------


@pytest.fixture(scope="module")
def lab(lab_state: dict[str, Any]) -> Path:
    if not lab_state.get("openstack"):
        lab_missing("the lab runs without OpenStack")
    return Path(lab_state["lab_dir"])


@pytest.fixture(scope="module")
def server(lab_state: dict[str, Any], lab: Path) -> dict[str, Any]:
    return dict(lab_state["lab_servers"]["app-1"])


@pytest.fixture(scope="module")
def volumes(lab_state: dict[str, Any], lab: Path) -> dict[str, dict[str, Any]]:
    return dict(lab_state["payload_volumes"]["volumes"])


@pytest.fixture(scope="module")
def conn(lab: Path) -> Any:
    return _connect(lab, "drlab")


def _connect(lab: Path, cloud: str) -> Any:
    import openstack.config
    import openstack.connection

    config = openstack.config.OpenStackConfig(config_files=[str(lab / "clouds.yaml")],
                                              vendor_files=[])
    return openstack.connection.Connection(config=config.get_one(cloud=cloud))


class Guest:
    """A root shell on the lab host, pinned to the lab's known_hosts."""

    def __init__(self, server: dict[str, Any], known_hosts: str | None = None) -> None:
        self.client = paramiko.SSHClient()
        self.client.load_host_keys(known_hosts or server["known_hosts"])
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

    def ok(self, command: str, stdin: bytes = b"") -> str:
        code, text = self.run(command, stdin)
        assert code == 0, f"{command}: exit {code}\n{text}"
        return text

    def close(self) -> None:
        self.client.close()


@pytest.fixture
def guest(server: dict[str, Any]) -> Iterator[Guest]:
    shell = Guest(server)
    yield shell
    shell.close()


def _wait(conn: Any, volume_id: str, status: str) -> Any:
    volume = conn.block_storage.get_volume(volume_id)
    return conn.block_storage.wait_for_status(volume, status, failures=["error"],
                                              interval=0.5, wait=WAIT)


def _attach(conn: Any, server: dict[str, Any], volume_id: str) -> str:
    """Attach through Nova; returns the by-id path a guest would use."""
    conn.compute.create_volume_attachment(server["id"], volume=volume_id)
    _wait(conn, volume_id, "in-use")
    return f"/dev/disk/by-id/virtio-{volume_id[:20]}"


def _detach(conn: Any, server: dict[str, Any], volume_id: str) -> None:
    conn.compute.delete_volume_attachment(server["id"], volume_id)
    _wait(conn, volume_id, "available")


def _delete(conn: Any, volume_id: str) -> None:
    volume = conn.block_storage.get_volume(volume_id)
    if volume.status == "in-use":
        for attachment in volume.attachments:
            conn.compute.delete_volume_attachment(attachment["server_id"], volume_id)
        _wait(conn, volume_id, "available")
    conn.block_storage.delete_volume(volume_id)
    conn.block_storage.wait_for_delete(volume, interval=0.5, wait=WAIT)


def _backing_file(lab: Path, volume_id: str) -> Path:
    return lab / "openstack" / "cinder" / "volumes" / f"volume-{volume_id}"


def _loops_of(path: Path) -> str:
    return subprocess.run(["losetup", "-j", str(path)], capture_output=True, text=True,
                          check=True).stdout


def _restore(conn: Any, backup_id: str, name: str) -> str:
    restored = conn.block_storage.restore_backup(backup_id, name=name)
    _wait(conn, restored.volume_id, "available")
    return str(restored.volume_id)


def _mount_options(fs: str) -> str:
    # ro alone still replays an ext4 journal; a restored XFS copy shares its
    # original's UUID.
    return "ro,noload" if fs == "ext4" else "ro,norecovery,nouuid"


def _prove_files(guest: Guest, by_id: str, fs: str, sha_list: str) -> None:
    """What the runbook does: read-only device, check, read-only mount,
    sha256 of every listed file equal to the list, unmount."""
    point = f"/mnt/verify-{uuid.uuid4().hex[:8]}"
    assert guest.ok(f"blkid -o value -s TYPE {by_id}").strip() == fs
    guest.ok(f"blockdev --setro {by_id}")
    guest.ok(f"e2fsck -fn {by_id}" if fs == "ext4" else f"xfs_repair -n {by_id}")
    guest.ok(f"mkdir -p {point} && mount -o {_mount_options(fs)} {by_id} {point}")
    try:
        expected = Path(sha_list).read_text()
        paths = " ".join(shlex.quote(line.split("  ", 1)[1]) for line in expected.splitlines())
        assert guest.ok(f"cd {point} && sha256sum {paths}") == expected
    finally:
        guest.ok(f"umount {point} && rmdir {point} && blockdev --setrw {by_id}")


# -- the host and its seeded disks ------------------------------------------------------------


def test_app1_plays_the_nova_server_app_1(conn: Any, server: dict[str, Any],
                                          lab_site: Site) -> None:
    nova = conn.compute.get_server(server["id"])
    assert nova.name == "app-1" and nova.status == "ACTIVE"
    assert nova.metadata == {"dr:class": "payload"}
    host = next(h for h in lab_site.hosts if h.name == server["host"])
    assert host.port == server["port"] and host.tags["dr:server"] == "app-1"
    shell = Guest(server)
    try:
        mounts = shell.ok("findmnt -rn -o TARGET,SOURCE,FSTYPE")
        assert "/dev drlab-dev-app1 tmpfs" in mounts
        assert "/mnt drlab-mnt-app1 tmpfs" in mounts and "/srv drlab-srv-app1 tmpfs" in mounts
        assert shell.ok("cat /etc/fstab") == Path(server["fstab"]).read_text()
    finally:
        shell.close()


def test_seeded_volumes_are_disks_inside_the_host_only(
        conn: Any, server: dict[str, Any], volumes: dict[str, dict[str, Any]],
        guest: Guest) -> None:
    assert len(volumes) >= 4 and {v["fs"] for v in volumes.values()} == {"ext4", "xfs"}
    devices = {a.volume_id: a.device for a in conn.compute.volume_attachments(server["id"])}
    for name, volume in volumes.items():
        assert devices[volume["id"]] == volume["nova_device"], name
        assert volume["by_id"] == f"/dev/disk/by-id/virtio-{volume['id'][:20]}"
        node = guest.ok(f"readlink -f {volume['by_id']}").strip()
        assert node == volume["nova_device"].replace("/dev/sd", "/dev/vd"), name
        found = guest.ok(f"blkid -o export {volume['by_id']}")
        assert f"TYPE={volume['fs']}" in found and f"UUID={volume['uuid']}" in found, name
        # The machine's /dev is shared by every namespace: nothing of ours there.
        assert not os.path.lexists(volume["by_id"]) and not os.path.lexists(node)
    assert not os.path.lexists("/dev/disk/by-id")


@pytest.mark.parametrize("fs", ["ext4", "xfs"])
def test_a_read_only_mount_shows_the_seeded_files(
        fs: str, volumes: dict[str, dict[str, Any]], guest: Guest) -> None:
    volume = next(v for v in volumes.values() if v["fs"] == fs and not v["fault"])
    _prove_files(guest, volume["by_id"], fs, volume["sha256_list"])


# -- restores, attach and detach ---------------------------------------------------------------


def test_a_volume_restored_from_a_backup_carries_the_files(
        lab: Path, conn: Any, server: dict[str, Any], volumes: dict[str, dict[str, Any]],
        guest: Guest) -> None:
    # app-home: its older backup is the good one (the newest is damaged).
    volume = volumes["app-home"]
    good = volume["backups"][0]
    assert good["good"]
    restored = _restore(conn, good["id"], f"test-restore-{uuid.uuid4().hex[:6]}")
    try:
        by_id = _attach(conn, server, restored)
        assert guest.ok(f"blkid -o value -s UUID {by_id}").strip() == volume["uuid"]
        _prove_files(guest, by_id, "ext4", volume["sha256_list"])
        assert _loops_of(_backing_file(lab, restored))
        _final_mount_stays_inside_the_host(guest, server, by_id, volume["uuid"])
        _detach(conn, server, restored)
        assert guest.run(f"test -e {by_id}")[0] == 1
        assert _loops_of(_backing_file(lab, restored)) == ""
    finally:
        _delete(conn, restored)


def _final_mount_stays_inside_the_host(guest: Guest, server: dict[str, Any], by_id: str,
                                       fs_uuid: str) -> None:
    """The runbook's last steps: a read-write mount at its final place and
    an fstab line by UUID. Both land in the host's private /srv and fstab.
    (Not remounted through that line: the original volume, attached too,
    carries the same UUID.)"""
    machine_fstab = Path("/etc/fstab").read_text()
    lab_fstab = Path(server["fstab"]).read_text()
    point = f"/srv/restored-{uuid.uuid4().hex[:8]}"
    line = f"UUID={fs_uuid} {point} ext4 defaults,nofail 0 2"
    try:
        guest.ok(f"mkdir -p {point} && mount {by_id} {point} && touch {point}/written-here")
        assert guest.ok(f"findmnt -n -o SOURCE,OPTIONS {point}").split()[0] == \
            guest.ok(f"readlink -f {by_id}").strip()
        assert guest.ok(f"findmnt -n -o OPTIONS {point}").startswith("rw")
        guest.ok(f"echo '{line}' >> /etc/fstab && umount {point}")
        assert not os.path.lexists(point)
        assert Path("/etc/fstab").read_text() == machine_fstab
        assert Path(server["fstab"]).read_text() == lab_fstab + line + "\n"
    finally:
        guest.run(f"umount {point}; rmdir {point}")
        Path(server["fstab"]).write_text(lab_fstab)


def test_a_volume_from_a_snapshot_and_a_mounted_disk_is_not_taken_away(
        lab: Path, conn: Any, server: dict[str, Any], volumes: dict[str, dict[str, Any]],
        guest: Guest) -> None:
    volume = volumes["app-media"]
    made = conn.block_storage.create_volume(name=f"test-snap-{uuid.uuid4().hex[:6]}", size=1,
                                            snapshot_id=volume["snapshots"][0]["id"])
    try:
        _wait(conn, made.id, "available")
        by_id = _attach(conn, server, made.id)
        _prove_files(guest, by_id, "xfs", volume["sha256_list"])
        guest.ok(f"mkdir -p /mnt/busy && mount -o ro,norecovery,nouuid {by_id} /mnt/busy")
        # A guest does not let a mounted disk go: Nova rolls the detach back.
        conn.compute.delete_volume_attachment(server["id"], made.id)
        deadline = time.monotonic() + WAIT
        while conn.block_storage.get_volume(made.id).status != "in-use":
            assert time.monotonic() < deadline, "detach was not rolled back"
            time.sleep(0.5)
        guest.ok(f"test -b {by_id} && findmnt /mnt/busy")
        guest.ok("umount /mnt/busy && rmdir /mnt/busy")
        _detach(conn, server, made.id)
        assert guest.run(f"test -e {by_id}")[0] == 1
        assert _loops_of(_backing_file(lab, made.id)) == ""
    finally:
        guest.run("umount /mnt/busy; rmdir /mnt/busy")
        _delete(conn, made.id)


def test_a_server_no_lab_host_plays_attaches_as_before(lab: Path, conn: Any,
                                                       lab_state: dict[str, Any]) -> None:
    web = lab_state["openstack_lab"]["seed"]["web-2"]
    made = conn.block_storage.create_volume(name=f"test-plain-{uuid.uuid4().hex[:6]}", size=1)
    try:
        _wait(conn, made.id, "available")
        conn.compute.create_volume_attachment(web, volume=made.id)
        _wait(conn, made.id, "in-use")
        assert _loops_of(_backing_file(lab, made.id)) == ""
        _detach(conn, {"id": web}, made.id)
    finally:
        _delete(conn, made.id)


# -- seeded faults ----------------------------------------------------------------------------------


def test_the_newest_app_home_backup_is_damaged(
        conn: Any, server: dict[str, Any], lab_state: dict[str, Any], guest: Guest) -> None:
    fault = lab_state["volume_faults"]["damaged-newest-backup"]
    bad, good = fault["bad_backup"], fault["good_backup"]
    backups = {b.id: b for b in conn.block_storage.backups(details=True)
               if b.volume_id == fault["volume_id"]}
    assert backups[bad["id"]].created_at > backups[good["id"]].created_at
    assert backups[bad["id"]].status == "available"  # the API cannot tell
    restored = _restore(conn, bad["id"], f"test-damaged-{uuid.uuid4().hex[:6]}")
    try:
        by_id = _attach(conn, server, restored)
        assert guest.ok(f"blkid -o value -s TYPE {by_id}").strip() == "ext4"
        code, text = guest.run(f"e2fsck -fn {by_id}")
        assert code >= 4, text
        code, _ = guest.run(f"mkdir -p /mnt/damaged && mount -o ro,noload {by_id} /mnt/damaged")
        assert code != 0
        guest.run("rmdir /mnt/damaged")
        _detach(conn, server, restored)
    finally:
        _delete(conn, restored)


def test_the_newest_app_logs_backup_is_in_error(conn: Any, lab_state: dict[str, Any]) -> None:
    from openstack import exceptions

    fault = lab_state["volume_faults"]["error-newest-backup"]
    assert conn.block_storage.get_backup(fault["bad_backup"]["id"]).status == "error"
    assert conn.block_storage.get_backup(fault["good_backup"]["id"]).status == "available"
    with pytest.raises(exceptions.BadRequestException):
        conn.block_storage.restore_backup(fault["bad_backup"]["id"], name="test-never")
    assert any(f["id"] == "error-newest-backup" and f["asset"] == fault["volume"]
               for f in lab_state["faults"])


# -- provoked faults ----------------------------------------------------------------------------------


def test_attach_hangs_while_the_switch_is_on(lab: Path, conn: Any, server: dict[str, Any],
                                             guest: Guest) -> None:
    made = conn.block_storage.create_volume(name=f"test-hang-{uuid.uuid4().hex[:6]}", size=1)
    try:
        _wait(conn, made.id, "available")
        volumefaults.attach_hang(lab, True, [made.id])
        try:
            conn.compute.create_volume_attachment(server["id"], volume=made.id)
            time.sleep(5)
            assert conn.block_storage.get_volume(made.id).status in ("reserved", "attaching")
            assert guest.run(f"test -e /dev/disk/by-id/virtio-{made.id[:20]}")[0] == 1
        finally:
            volumefaults.attach_hang(lab, False)
        _wait(conn, made.id, "in-use")
        guest.ok(f"test -b /dev/disk/by-id/virtio-{made.id[:20]}")
        _detach(conn, server, made.id)
    finally:
        volumefaults.attach_hang(lab, False)
        _delete(conn, made.id)


def test_a_rotated_host_key_is_refused_and_restored(lab: Path, server: dict[str, Any],
                                                    lab_state: dict[str, Any]) -> None:
    rotated = lab_state["volume_faults"]["host-key"]["rotated_keys"][server["host"]]
    try:
        assert volumefaults.host_key(lab, server["host"], rotated=True) == rotated
        with pytest.raises(paramiko.BadHostKeyException):
            Guest(server)
    finally:
        volumefaults.host_key(lab, server["host"], rotated=False)
    shell = Guest(server)
    try:
        # Re-executed on SIGHUP: the same namespace, its disks still there.
        assert shell.ok("ls /dev/disk/by-id").count("virtio-") >= 4
    finally:
        shell.close()


def test_a_low_volume_quota_refuses_a_new_volume(lab: Path, conn: Any) -> None:
    from openstack import exceptions

    try:
        volumefaults.volume_quota(lab, low=True)
        with pytest.raises(exceptions.HttpException) as refused:
            conn.block_storage.create_volume(name="test-over-quota", size=1)
        assert refused.value.status_code == 413
    finally:
        volumefaults.volume_quota(lab, low=False)
    made = conn.block_storage.create_volume(name=f"test-quota-{uuid.uuid4().hex[:6]}", size=1)
    _wait(conn, made.id, "available")
    _delete(conn, made.id)


# -- the EBS twin ------------------------------------------------------------------------------------


def test_ebs_twin_restores_a_snapshot_and_attaches_it(lab_site: Site,
                                                      lab_state: dict[str, Any]) -> None:
    twin = lab_state["payload_volumes"]["aws"]
    instance = lab_state["aws"]["payload_instance"]
    cloud = lab_site.cloud("lab-aws")
    assert isinstance(cloud, AwsCloud)
    ec2, _, _ = aws_clients(cloud)
    described = ec2.describe_volumes(VolumeIds=[v["id"] for v in twin.values()])["Volumes"]
    for volume in described:
        (attachment,) = volume["Attachments"]
        assert attachment["InstanceId"] == instance["id"] and attachment["State"] == "attached"
    snapshot = twin["app-data-ebs"]["snapshots"][0]
    made = ec2.create_volume(SnapshotId=snapshot, AvailabilityZone=instance["zone"],
                             VolumeType="gp3")["VolumeId"]
    try:
        ec2.attach_volume(VolumeId=made, InstanceId=instance["id"], Device="/dev/sdj")
        assert ec2.describe_volumes(VolumeIds=[made])["Volumes"][0]["State"] == "in-use"
        ec2.detach_volume(VolumeId=made, InstanceId=instance["id"], Device="/dev/sdj")
        assert ec2.describe_volumes(VolumeIds=[made])["Volumes"][0]["State"] == "available"
    finally:
        ec2.delete_volume(VolumeId=made)


def test_sha256_lists_match_the_seeded_files(volumes: dict[str, dict[str, Any]]) -> None:
    from dr_console.lab import payloadfs

    for name, volume in volumes.items():
        files = payloadfs.files_for(name, volume["fs"])
        lines = Path(volume["sha256_list"]).read_text().splitlines()
        assert sorted(line.split("  ", 1)[1] for line in lines) == volume["files"] == sorted(files)
        for line in lines:
            digest, path = line.split("  ", 1)
            assert hashlib.sha256(files[path]).hexdigest() == digest
