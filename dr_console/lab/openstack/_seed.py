"""The lab tenant's resources, created through the real APIs as the `drlab`
user (the flavor needs the admin). Volume contents are written straight into
the lab driver's backing files: recognizable text plus pseudo-random blocks,
so backups, snapshots and restores carry real, checkable bytes.

Seeded faults for the console to find: `scratch-data` has no snapshot and
no backup; `mystery-box` matches no classification rule. The payload server
app-1 and its volumes with real filesystems: see _payload.py."""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dr_console.lab import procs
from dr_console.lab.openstack._config import Layout
from dr_console.lab.openstack._payload import PayloadChain

if TYPE_CHECKING:
    from dr_console.lab.openstack import OpenStackLab

FLAVOR = "m1.lab"
WAIT = 120  # seconds for any one resource to settle
MiB = 1024 * 1024


def _image_bytes(name: str, size: int) -> bytes:
    header = f"DRLAB-IMAGE {name}\n".encode()
    return header + _pattern(name, size - len(header))


def _pattern(label: str, size: int) -> bytes:
    """Deterministic pseudo-random bytes (sha256 in counter mode)."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{label}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def stamp_volume(lab_dir: Path, volume_id: str, name: str, generation: int) -> None:
    """Write generation `generation` of a volume's recognizable contents into
    its backing file: a header at 0 and a 64 KiB block per generation."""
    path = Layout(lab_dir).volumes / f"volume-{volume_id}"
    header = (f"DRLAB-VOLUME name={name} id={volume_id} generation={generation}\n"
              .encode().ljust(4096, b"\0"))
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, header, 0)
        os.pwrite(fd, _pattern(f"{name}:{generation}", 64 * 1024), generation * MiB)
        os.fsync(fd)
    finally:
        os.close(fd)


class _Seeder:
    wait_seconds = WAIT

    def __init__(self, lab: OpenStackLab) -> None:
        from dr_console.lab.openstack import connect

        self.lab = lab
        self.connect = connect
        self.conn = connect(lab)
        self.ids: dict[str, str] = {}

    def wait(self, proxy: Any, res: Any, status: str) -> Any:
        return proxy.wait_for_status(res, status, failures=["error", "error_backing-up"],
                                     interval=0.5, wait=WAIT)

    # -- images and flavor ----------------------------------------------------

    def images(self) -> None:
        specs = [("cirros-mini", 16 * 1024, {}),
                 # An appliance image kept only in Glance: a metadata asset.
                 ("appliance-golden", 24 * 1024, {"dr:class": "metadata"})]
        for name, size, props in specs:
            image = self.conn.image.find_image(name)
            if image is None:
                image = self.conn.image.create_image(
                    name, data=_image_bytes(name, size), disk_format="raw",
                    container_format="bare", disable_vendor_agent=False, wait=False, **props)
            self.ids[name] = image.id

    def flavor(self) -> None:
        admin = self.connect(self.lab, admin=True)
        flavor = admin.compute.find_flavor(FLAVOR)
        if flavor is None:
            flavor = admin.compute.create_flavor(name=FLAVOR, ram=64, vcpus=1, disk=1)
        self.ids[FLAVOR] = flavor.id

    # -- volumes, snapshots, backups ------------------------------------------

    def volume(self, conn: Any, name: str, stamp: bool = True) -> tuple[Any, bool]:
        """(volume, created now); `stamp`: write its recognizable header."""
        volume = conn.block_storage.find_volume(name)
        if volume is not None:
            self.ids[name] = volume.id
            return volume, False
        volume = conn.block_storage.create_volume(name=name, size=1,
                                                  description=f"dr-console lab: {name}")
        volume = self.wait(conn.block_storage, volume, "available")
        if stamp:
            stamp_volume(self.lab.lab_dir, volume.id, name, 1)
        self.ids[name] = volume.id
        return volume, True

    def snapshot(self, conn: Any, volume: Any, name: str) -> str:
        snap = conn.block_storage.find_snapshot(name)
        if snap is None:
            snap = conn.block_storage.create_snapshot(volume_id=volume.id, name=name)
            snap = self.wait(conn.block_storage, snap, "available")
        self.ids[name] = snap.id
        return str(snap.id)

    def backup(self, conn: Any, volume: Any, name: str, incremental: bool) -> str:
        backup = conn.block_storage.find_backup(name)
        if backup is None:
            backup = conn.block_storage.create_backup(volume_id=volume.id, name=name,
                                                      is_incremental=incremental)
            backup = self.wait(conn.block_storage, backup, "available")
        self.ids[name] = backup.id
        return str(backup.id)

    def metadata_db_chain(self) -> None:
        # Stands for the MariaDB data volume: two "fast snapshots" of the
        # metadata DBs, taken at different generations of its contents.
        conn = self.connect(self.lab)
        volume, created = self.volume(conn, "metadata-db-data")
        self.snapshot(conn, volume, "metadata-db-data-snap-1")
        if created:
            stamp_volume(self.lab.lab_dir, volume.id, "metadata-db-data", 2)
        self.snapshot(conn, volume, "metadata-db-data-snap-2")

    def customer_chain(self) -> None:
        conn = self.connect(self.lab)
        volume, created = self.volume(conn, "customer-data")
        self.snapshot(conn, volume, "customer-data-snap-1")
        self.backup(conn, volume, "customer-data-full", incremental=False)
        if created:
            stamp_volume(self.lab.lab_dir, volume.id, "customer-data", 2)
        self.backup(conn, volume, "customer-data-incr-1", incremental=True)

    def scratch(self) -> None:
        self.volume(self.connect(self.lab), "scratch-data")  # no copy at all: a fault

    # -- servers ------------------------------------------------------------------

    def servers(self) -> list[Any]:
        servers = []
        for name in ("web-1", "web-2", "mystery-box"):
            server = self.conn.compute.find_server(name)
            if server is None:
                server = self.conn.compute.create_server(
                    name=name, image_id=self.ids["cirros-mini"],
                    flavor_id=self.ids[FLAVOR], networks="none")
            servers.append(server)
        active = []
        for server in servers:
            server = self.conn.compute.wait_for_server(server, status="ACTIVE",
                                                       failures=["ERROR"], interval=0.5,
                                                       wait=WAIT)
            self.ids[server.name] = server.id
            active.append(server)
        return active

    def attach(self) -> None:
        volume = self.conn.block_storage.get_volume(self.ids["customer-data"])
        if volume.status == "in-use":
            return
        self.conn.compute.create_volume_attachment(self.ids["web-1"],
                                                   volume=self.ids["customer-data"])
        self.wait(self.conn.block_storage, volume, "in-use")

    def run(self) -> dict[str, str]:
        self.flavor()
        self.images()
        with ThreadPoolExecutor(max_workers=5, thread_name_prefix="seed") as pool:
            chains = [pool.submit(fn) for fn in (self.metadata_db_chain, self.customer_chain,
                                                 self.scratch, self.servers,
                                                 PayloadChain(self).run)]
            errors = [f.exception() for f in chains]
        failed = [e for e in errors if e is not None]
        if failed:
            raise procs.LabError(f"seeding the OpenStack lab failed: {failed[0]}") from failed[0]
        self.attach()
        return dict(self.ids)


def run_seed(lab: OpenStackLab) -> dict[str, str]:
    return _Seeder(lab).run()
