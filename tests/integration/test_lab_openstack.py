"""The lab's real OpenStack control plane, seen the way the console sees it:
openstacksdk with the lab's clouds.yaml, the operator's `drlab` entry.

Needs a started and seeded lab (dr_console.lab.openstack start + seed); its
directory comes from DR_LAB_DIR (default: the repository's .lab). No mocks."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from labenv import lab_dir, lab_missing

pytestmark = pytest.mark.lab

LAB_DIR = lab_dir()
CLOUD = "drlab"
ADMIN_CLOUD = "drlab-admin"


def _connect(clouds_yaml: Path, cloud: str) -> Any:
    import openstack.config
    import openstack.connection

    config = openstack.config.OpenStackConfig(config_files=[str(clouds_yaml)],
                                              vendor_files=[])
    return openstack.connection.Connection(config=config.get_one(cloud=cloud))


@pytest.fixture(scope="module")
def clouds_yaml(lab_site: Any) -> Path:
    # lab_site skips (or, under `make test`, fails) when the lab is not up.
    path = LAB_DIR / "clouds.yaml"
    if not path.exists():
        lab_missing(f"no clouds.yaml in {LAB_DIR}: the lab runs without OpenStack")
    return path


@pytest.fixture(scope="module")
def conn(clouds_yaml: Path) -> Any:
    return _connect(clouds_yaml, CLOUD)


@pytest.fixture(scope="module")
def volumes(conn: Any) -> dict[str, Any]:
    return {v.name: v for v in conn.block_storage.volumes()}


def test_clouds_yaml_is_private(clouds_yaml: Path) -> None:
    assert stat.S_IMODE(clouds_yaml.stat().st_mode) == 0o600


def test_token_and_catalog(conn: Any) -> None:
    token = conn.authorize()
    assert token
    types = {entry["type"] for entry in conn.session.auth.get_access(conn.session)
             .service_catalog.catalog}
    assert {"identity", "compute", "image", "volumev3", "placement", "network"} <= types


def test_images(conn: Any) -> None:
    images = {i.name: i for i in conn.image.images()}
    cirros, golden = images["cirros-mini"], images["appliance-golden"]
    assert cirros.status == golden.status == "active"
    assert 0 < cirros.size < 1024 * 1024  # a few KB of real bytes
    assert "dr:class" not in (cirros.properties or {})
    assert (golden.properties or {}).get("dr:class") == "metadata"


def test_volumes(volumes: dict[str, Any]) -> None:
    for name in ("metadata-db-data", "customer-data", "scratch-data"):
        assert volumes[name].size == 1, name
        assert volumes[name].status in ("available", "in-use"), name


def test_snapshots(conn: Any, volumes: dict[str, Any]) -> None:
    by_volume: dict[str, list[Any]] = {}
    for snap in conn.block_storage.snapshots():
        by_volume.setdefault(snap.volume_id, []).append(snap)
    metadata_snaps = by_volume.get(volumes["metadata-db-data"].id, [])
    assert len(metadata_snaps) >= 2  # the metadata DBs' "fast snapshot" strategy
    assert all(s.status == "available" for s in metadata_snaps)
    assert by_volume.get(volumes["customer-data"].id)
    assert not by_volume.get(volumes["scratch-data"].id)  # the seeded fault


def test_backups(conn: Any, volumes: dict[str, Any]) -> None:
    backups = [b for b in conn.block_storage.backups() if b.status == "available"]
    customer = [b for b in backups if b.volume_id == volumes["customer-data"].id]
    assert any(not b.is_incremental for b in customer), "a full backup"
    assert any(b.is_incremental for b in customer), "an incremental backup"
    assert all(b.size == 1 for b in customer)
    assert not [b for b in backups if b.volume_id == volumes["scratch-data"].id]


def test_servers(conn: Any, volumes: dict[str, Any]) -> None:
    servers = {s.name: s for s in conn.compute.servers()}
    for name in ("web-1", "web-2", "mystery-box"):
        assert servers[name].status == "ACTIVE", name
    attached_to = {a["server_id"] for a in volumes["customer-data"].attachments}
    assert attached_to <= {servers["web-1"].id}


def test_services_up(clouds_yaml: Path) -> None:
    admin = _connect(clouds_yaml, ADMIN_CLOUD)
    compute = {s.binary: s.state for s in admin.compute.services()}
    volume = {s.binary: s.state for s in admin.block_storage.services()}
    for binary in ("nova-conductor", "nova-scheduler", "nova-compute"):
        assert compute.get(binary) == "up", binary
    for binary in ("cinder-scheduler", "cinder-volume", "cinder-backup"):
        assert volume.get(binary) == "up", binary
