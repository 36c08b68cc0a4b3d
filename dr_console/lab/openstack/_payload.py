"""The payload volumes of the lab's server app-1, seeded through the real
APIs: each a 1 GiB volume holding a real filesystem with known files,
written into its backing file before its snapshot and backups are taken, so
every copy and every restore carries real bytes. Then attached to app-1,
whose lab host (`app1`) sees them as /dev/disk/by-id/virtio-<id>.

Seeded faults for the payload-volume runbook (docs/lab-volumes.md):
- app-home: its newest backup holds a damaged superblock (blkid: ext4,
  `e2fsck -fn` fails); the older backup is good. The live volume is good.
- app-logs: its newest backup is in state `error` (admin reset-state); the
  older one is good. The console sees this one.

What was made is recorded in lab_dir/payload/payload.json (state.json's
"payload_volumes"): ids, filesystem type and UUID, the sha256 lists.
"""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dr_console.lab import payloadfs
from dr_console.lab.openstack._config import Layout
from dr_console.lab.openstack.sitelib import drlab_guestdisk as guestdisk
from dr_console.lab.procs import LabError, run

if TYPE_CHECKING:
    from dr_console.lab.openstack._seed import _Seeder

SERVER = "app-1"
DRILL_SERVER = "drill-1"  # the scratch server of payload drills
SERVER_IMAGE = "app-1-image-1"
RECORD_FORMAT = "dr-console/lab-payload/v1"
# The tenant's Cinder quota while nothing is provoked: room for the seed and
# for restores of every payload volume (Cinder's default of 10 volumes is not).
LAB_QUOTA = {"volumes": 50, "snapshots": 50, "backups": 50, "gigabytes": 1000,
             "backup_gigabytes": 1000}


@dataclass(frozen=True)
class PayloadVolume:
    name: str
    fs: str
    fault: str | None = None  # "damaged-newest-backup" | "error-newest-backup"


VOLUMES = (
    PayloadVolume("app-data", "ext4"),
    PayloadVolume("app-home", "ext4", "damaged-newest-backup"),
    PayloadVolume("app-media", "xfs"),
    PayloadVolume("app-logs", "xfs", "error-newest-backup"),
)


def payload_dir(lab_dir: Path) -> Path:
    return lab_dir / "payload"


def record_path(lab_dir: Path) -> Path:
    return payload_dir(lab_dir) / "payload.json"


def read_record(lab_dir: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(record_path(lab_dir).read_text()))
    except (FileNotFoundError, ValueError):
        return {}


def _host_of(server: str) -> str:
    # Imported here: guesthost imports this package (its Layout).
    from dr_console.lab import guesthost

    return next(host for host, plays in guesthost.GUEST_HOSTS.items() if plays == server)


class PayloadChain:
    """Server app-1 with its payload volumes; runs in the seed's pool."""

    def __init__(self, seeder: _Seeder) -> None:
        self.seeder = seeder
        self.lab_dir = seeder.lab.lab_dir
        self.layout = Layout(self.lab_dir)
        self.conn = seeder.connect(seeder.lab)
        self.old = read_record(self.lab_dir).get("volumes", {})
        self.volumes: dict[str, dict[str, Any]] = {}

    def run(self) -> None:
        self.quota()
        server = self.server()
        with ThreadPoolExecutor(max_workers=len(VOLUMES), thread_name_prefix="payload") as pool:
            records = list(pool.map(self.volume_chain, VOLUMES))
        for spec, record in zip(VOLUMES, records, strict=True):
            self.volumes[spec.name] = record
        self.attach_all(server)
        self.write_record(server)

    # -- the tenant's quota and the server ---------------------------------------

    def quota(self) -> None:
        admin = self.seeder.connect(self.seeder.lab, admin=True)
        admin.block_storage.update_quota_set(self.conn.current_project_id, **LAB_QUOTA)

    def server(self) -> Any:
        conn, ids = self.conn, self.seeder.ids
        server = conn.compute.find_server(SERVER)
        if server is None:
            server = conn.compute.create_server(
                name=SERVER, image_id=ids["cirros-mini"], flavor_id=ids["m1.lab"],
                networks="none", metadata={"dr:class": "payload"})
        server = conn.compute.wait_for_server(server, status="ACTIVE", failures=["ERROR"],
                                              interval=0.5, wait=self.seeder.wait_seconds)
        ids[SERVER] = server.id
        scratch = self.scratch_server()
        # Before any attach: the compute driver learns here which lab host
        # plays each server.
        guestdisk.write_servers(str(self.layout.guests), {
            server.id: {"server": SERVER, "host": _host_of(SERVER)},
            scratch.id: {"server": DRILL_SERVER, "host": _host_of(DRILL_SERVER)}})
        image = conn.image.find_image(SERVER_IMAGE)
        if image is None:
            # A server snapshot: the console's copy of a payload server.
            image = conn.compute.create_server_image(server, SERVER_IMAGE, wait=True,
                                                     timeout=self.seeder.wait_seconds)
        ids[SERVER_IMAGE] = image.id
        return server

    def scratch_server(self) -> Any:
        """drill-1: where drills attach what they restore (reproducible, empty)."""
        conn, ids = self.conn, self.seeder.ids
        server = conn.compute.find_server(DRILL_SERVER)
        if server is None:
            server = conn.compute.create_server(
                name=DRILL_SERVER, image_id=ids["cirros-mini"], flavor_id=ids["m1.lab"],
                networks="none", metadata={"dr:class": "reproducible"})
        server = conn.compute.wait_for_server(server, status="ACTIVE", failures=["ERROR"],
                                              interval=0.5, wait=self.seeder.wait_seconds)
        ids[DRILL_SERVER] = server.id
        return server

    # -- one volume: filesystem, snapshot, backups --------------------------------

    def volume_chain(self, spec: PayloadVolume) -> dict[str, Any]:
        conn = self.seeder.connect(self.seeder.lab)
        volume, created = self.seeder.volume(conn, spec.name, stamp=False)
        if not created:
            old = self.old.get(spec.name)
            if not old or old.get("id") != volume.id:
                raise LabError(f"payload volume {spec.name} exists but {record_path(self.lab_dir)} "
                               "does not describe it; `lab down --purge` and start again")
            return dict(old)
        files = payloadfs.files_for(spec.name, spec.fs)
        # A UUID of its own per lab: the kernel refuses two XFS filesystems
        # with one UUID, and other labs on this machine mount theirs too.
        fs_uuid = str(uuid.uuid4())
        backing = self.layout.volumes / f"volume-{volume.id}"
        payloadfs.make_filesystem(backing, spec.fs, spec.name, fs_uuid, files)
        sha_list = payload_dir(self.lab_dir) / f"{spec.name}.sha256"
        sha_list.parent.mkdir(parents=True, exist_ok=True)
        sha_list.write_text(payloadfs.sha256_list(files))

        seeder = self.seeder
        snap = f"{spec.name}-snap-1"
        snapshots = [{"id": seeder.snapshot(conn, volume, snap), "name": snap}]
        backups = [self._backup(conn, volume, f"{spec.name}-backup-1", good=True)]
        if spec.fault == "damaged-newest-backup":
            backups.append(self._damaged_backup(conn, volume, backing, f"{spec.name}-backup-2"))
        elif spec.fault == "error-newest-backup":
            backups.append(self._error_backup(conn, volume, f"{spec.name}-backup-2"))
        return {
            "id": volume.id, "name": spec.name, "size_gb": 1, "fs": spec.fs, "uuid": fs_uuid,
            "label": spec.name, "backing_file": str(backing), "sha256_list": str(sha_list),
            "files": sorted(files), "by_id": f"/dev/disk/by-id/{guestdisk.by_id_name(volume.id)}",
            "snapshots": snapshots, "backups": backups, "fault": spec.fault,
        }

    def _backup(self, conn: Any, volume: Any, name: str, good: bool) -> dict[str, Any]:
        backup_id = self.seeder.backup(conn, volume, name, incremental=False)
        # The volume is `backing-up` until the backup ends: wait for it
        # before the next step touches its file or takes another copy.
        self.seeder.wait(conn.block_storage, conn.block_storage.get_volume(volume.id),
                         "available")
        return {"id": backup_id, "name": name, "status": "available", "good": good}

    def _damaged_backup(self, conn: Any, volume: Any, backing: Path,
                        name: str) -> dict[str, Any]:
        """The newest backup carries a damaged superblock; the live volume is
        put back as it was right after."""
        keep = backing.with_name(backing.name + ".before-damage")
        _sparse_copy(backing, keep)
        try:
            payloadfs.damage_superblock(backing)
            record = self._backup(conn, volume, name, good=False)
        finally:
            _restore_file(keep, backing)
        if payloadfs.check(backing, "ext4") != 0:
            raise LabError(f"{backing}: not clean again after the damaged backup")
        return {**record, "damage": "superblock inodes_count set to "
                                    f"{payloadfs.DAMAGED_INODES_COUNT} (checksum valid): blkid "
                                    "says ext4, e2fsck -fn fails, mount fails"}

    def _error_backup(self, conn: Any, volume: Any, name: str) -> dict[str, Any]:
        record = self._backup(conn, volume, name, good=False)
        admin = self.seeder.connect(self.seeder.lab, admin=True)
        admin.block_storage.reset_backup_status(record["id"], status="error")
        return {**record, "status": "error"}

    # -- attach and record ----------------------------------------------------------

    def attach_all(self, server: Any) -> None:
        """One at a time, in a fixed order, so the device names Nova hands
        out (vdb, vdc, ...) are the same on every fresh lab."""
        conn = self.conn
        for spec in VOLUMES:
            volume = conn.block_storage.get_volume(self.volumes[spec.name]["id"])
            if volume.status != "in-use":
                conn.compute.create_volume_attachment(server, volume=volume.id)
                self.seeder.wait(conn.block_storage, volume, "in-use")
        devices = {a.volume_id: a.device for a in conn.compute.volume_attachments(server)}
        for record in self.volumes.values():
            record["nova_device"] = devices.get(record["id"])
            record["server"] = SERVER

    def write_record(self, server: Any) -> None:
        ids = self.seeder.ids
        for name, record in self.volumes.items():
            ids[name] = record["id"]
            for copy in [*record["snapshots"], *record["backups"]]:
                ids[copy["name"]] = copy["id"]
        record_path(self.lab_dir).write_text(json.dumps({
            "format": RECORD_FORMAT,
            "server": {"name": SERVER, "id": server.id, "host": _host_of(SERVER),
                       "image": {"name": SERVER_IMAGE, "id": ids[SERVER_IMAGE]}},
            "volumes": self.volumes,
        }, indent=2))


def _sparse_copy(src: Path, dst: Path) -> None:
    # shutil would write every hole of the 1 GiB file as zeros.
    run(["cp", "--sparse=always", str(src), str(dst)])


def _restore_file(saved: Path, target: Path) -> None:
    """Put a saved copy back in place. Replaced whole: nothing holds the
    file open between two backups."""
    tmp = target.with_name(target.name + ".restoring")
    _sparse_copy(saved, tmp)
    tmp.replace(target)
    saved.unlink()
