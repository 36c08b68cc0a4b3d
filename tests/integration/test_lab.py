"""The lab against itself: real MariaDB, sshd, moto (and OpenStack when the
lab runs with it). Nothing is mocked. Needs `make lab-up` (or
`python -m dr_console.lab up`); the lab dir comes from $DR_LAB_DIR."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import stat
import uuid
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paramiko
import pymysql
import pytest
from labenv import lab_dir, lab_missing

from dr_console.backup.dump import backup_database
from dr_console.backup.host import ssh_connect
from dr_console.backup.s3 import store_client
from dr_console.config import load_site
from dr_console.errors import HostKeyError
from dr_console.lab import lab_status, lab_up
from dr_console.lab.seed_aws import clients as aws_clients
from dr_console.manifest import Manifest, manifest_key
from dr_console.schema import AwsCloud, Site

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
LAB_DIR = lab_dir()
SERVICE_DBS = ["keystone", "nova", "nova_api", "nova_cell0", "cinder", "glance", "placement"]
TRAILER = b"-- Dump completed"


@pytest.fixture(scope="module")
def state(lab_site: Any) -> dict[str, Any]:
    # lab_site skips (or, under `make test`, fails) when the lab is not up.
    path = LAB_DIR / "state.json"
    if not path.exists():
        lab_missing(f"no lab in {LAB_DIR} (make lab-up, or set DR_LAB_DIR)")
    data = json.loads(path.read_text())
    if not data.get("up"):
        lab_missing(f"lab in {LAB_DIR} is down (make lab-up)")
    return data


@pytest.fixture(scope="module")
def site(state: dict[str, Any]) -> Site:
    return load_site(LAB_DIR / state["site"])


@pytest.fixture(scope="module")
def offsite(site: Site) -> Any:
    return store_client(site.store("offsite"))


@pytest.fixture(scope="module")
def bucket(site: Site) -> str:
    return site.store("offsite").bucket


@pytest.fixture(scope="module")
def keys(offsite: Any, bucket: str) -> list[str]:
    pages = offsite.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [obj["Key"] for page in pages for obj in page.get("Contents", [])]


def _get(client: Any, bucket: str, key: str) -> bytes:
    return bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())


def _manifest(client: Any, bucket: str, key: str) -> Manifest:
    return Manifest.from_json(_get(client, bucket, manifest_key(key)))


def _gunzip_partial(data: bytes) -> tuple[bytes, bool]:
    """Decompress as far as the bytes allow: (text, stream complete)."""
    inflater = zlib.decompressobj(31)
    try:
        text = inflater.decompress(data)
    except zlib.error:
        return b"", False
    return text, inflater.eof


def _fault(state: dict[str, Any], asset: str) -> dict[str, Any]:
    return next(f for f in state["faults"] if f["asset"] == asset)


def _key_time(key: str) -> datetime:
    match = re.search(r"(\d{8}T\d{6}Z)", key)
    assert match, key
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


# -- the lab itself -------------------------------------------------------------


def test_site_file_loads(site: Site, state: dict[str, Any]) -> None:
    assert site.site == "drlab"
    assert {h.name for h in site.hosts} == {"boot1", "db1", "app1", "probe1", "drill1"}
    probe = next(h for h in site.hosts if h.name == "probe1")
    assert probe.roles == ["probe"] and probe.tags == {"dr:class": "reproducible"}
    boot1 = next(h for h in site.hosts if h.name == "boot1")
    assert set(boot1.roles) == {"dhcp", "tftp", "ntp"}
    assert boot1.tags == {"dr:class": "boot-infra"}
    assert next(h for h in site.hosts if h.name == "db1").tags == {"dr:class": "metadata"}
    server = site.mysql[0]
    assert server.user == "drconsole" and server.password_file is not None
    assert server.includes("keystone") and not server.includes("mysql")
    clouds = {c.name: c for c in site.clouds}
    assert isinstance(clouds["lab-aws"], AwsCloud)
    assert ("lab-openstack" in clouds) == state["openstack"]
    assert (server.snapshot_volume is not None) == state["openstack"]
    rules = {r.name for r in site.rules}
    assert {"openstack-service-dbs", "application-dbs", "volumes", "db-instances",
            "customer-buckets", "ci-built-servers", "stock-images"} <= rules
    assert site.rpo.boot_infra == 7 * 86400 and site.rpo.metadata == 86400
    assert [d.name for d in site.declared] == ["boot-infra-playbooks"]


def test_every_registered_service_is_alive(state: dict[str, Any]) -> None:
    services = lab_status(LAB_DIR)
    assert services, "no services registered"
    dead = [name for name, _, alive in services if not alive]
    assert not dead, f"not running: {dead}"
    names = {name for name, _, _ in services}
    assert {"mariadb", "moto-aws", "moto-offsite", "sshd-boot1", "sshd-db1"} <= names
    if state["openstack"]:
        assert {"keystone", "nova-compute", "cinder-volume"} <= names


def test_lab_up_again_starts_nothing(state: dict[str, Any]) -> None:
    before = lab_status(LAB_DIR)
    assert lab_up(LAB_DIR, openstack=state["openstack"]) == LAB_DIR / "site.yaml"
    assert lab_status(LAB_DIR) == before


def test_secrets_are_private_and_not_in_the_site_file(site: Site) -> None:
    secret_files = [*sorted((LAB_DIR / "secrets").iterdir()), LAB_DIR / "aws-credentials"]
    for path in secret_files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE((LAB_DIR / "secrets").stat().st_mode) == 0o700
    password = site.mysql[0].load_secret()
    assert password is not None
    for path in (LAB_DIR / "site.yaml", LAB_DIR / "state.json"):
        assert password.reveal() not in path.read_text()


def test_mariadb_has_the_eight_databases_and_a_read_only_user(site: Site) -> None:
    server = site.mysql[0]
    secret = server.load_secret()
    assert secret is not None
    conn = pymysql.connect(host=server.host, port=server.port, user=server.user,
                           password=secret.reveal(), connect_timeout=5)
    with conn, conn.cursor() as cur:
        cur.execute("SHOW DATABASES")
        databases = {row[0] for row in cur.fetchall()}
        assert {*SERVICE_DBS, "shop"} <= databases
        cur.execute("SELECT COUNT(*) FROM shop.orders")
        assert cur.fetchone()[0] >= 1000
        with pytest.raises(pymysql.err.OperationalError):
            cur.execute("CREATE TABLE shop.should_not_exist (id INT)")


# -- SSH hosts --------------------------------------------------------------------


def test_ssh_to_boot1_with_pinned_host_key(site: Site) -> None:
    boot1 = next(h for h in site.hosts if h.name == "boot1")
    client = ssh_connect(boot1)
    try:
        _, stdout, _ = client.exec_command("echo drlab-$((6*7))")
        assert stdout.read().strip() == b"drlab-42"
    finally:
        client.close()


def test_ssh_refuses_a_wrong_or_missing_host_key(site: Site, tmp_path: Path) -> None:
    boot1 = next(h for h in site.hosts if h.name == "boot1")
    wrong = tmp_path / "known_hosts"
    other = paramiko.Ed25519Key.from_private_key_file(
        str(LAB_DIR / "ssh" / "hosts" / "db1" / "ssh_host_ed25519_key"))
    wrong.write_text(f"[127.0.0.1]:{boot1.port} {other.get_name()} {other.get_base64()}\n")

    # paramiko itself, as any client would use it
    client = paramiko.SSHClient()
    client.load_host_keys(str(wrong))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    with pytest.raises(paramiko.BadHostKeyException):
        client.connect("127.0.0.1", port=boot1.port, username="root",
                       key_filename=str(boot1.key_file), allow_agent=False,
                       look_for_keys=False, timeout=10)
    client.close()

    # and dr-console's wrapper: changed key, then unknown key
    with pytest.raises(HostKeyError, match="host key CHANGED"):
        ssh_connect(boot1.model_copy(update={"known_hosts": wrong}))
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    with pytest.raises(HostKeyError, match="not in the pinned known_hosts"):
        ssh_connect(boot1.model_copy(update={"known_hosts": empty}))


# -- the offsite store --------------------------------------------------------------


def test_offsite_holds_every_seeded_object(state: dict[str, Any], keys: list[str],
                                           site: Site) -> None:
    present = set(keys)
    for obj in state["objects"]:
        assert obj["key"] in present, obj["key"]
        assert (manifest_key(obj["key"]) in present) == obj["manifest"], obj["key"]
    dumped = [db for db in SERVICE_DBS if db != "nova_cell0"]
    for db in dumped:
        assert len([k for k in keys if re.fullmatch(rf"mysql/{db}/{db}-\d{{8}}T\d{{6}}Z\.sql\.gz",
                                                    k)]) == 2, db
    assert len([k for k in keys if re.fullmatch(r"mysql/shop/shop-\d{8}T\d{6}Z\.sql", k)]) == 2
    for host in ("boot1", "db1"):
        assert any(k.startswith(f"hosts/{host}/etc-") and k.endswith(".tar.gz") for k in keys)
        assert any(k.startswith(f"hosts/{host}/dpkg-selections-") and k.endswith(".txt")
                   for k in keys)
    assert any(re.fullmatch(r"git/boot-infra-playbooks-\d{8}T\d{6}Z\.bundle", k) for k in keys)
    assert any(k.startswith("buckets/customer-uploads/") for k in keys)
    if state["openstack"]:
        assert any(k.startswith("images/appliance-golden/appliance-golden-") for k in keys)
    # Every backup object maps to its asset through the site's own copy patterns.
    patterns = [p.regex() for p in site.copies]
    for obj in state["objects"]:
        matches = [m for m in (rx.match(obj["key"]) for rx in patterns) if m]
        assert len(matches) == 1, obj["key"]
        assert matches[0].group("asset") == obj["asset"]


def test_good_copies_match_their_manifests(state: dict[str, Any], offsite: Any,
                                           bucket: str) -> None:
    damaged = {key for fault in state["faults"] for key in fault["objects"]
               if fault["id"] in ("corrupt-newest-dump", "truncated-newest-dump")}
    checked = 0
    for obj in state["objects"]:
        if not obj["manifest"] or obj["key"] in damaged:
            continue
        data = _get(offsite, bucket, obj["key"])
        manifest = _manifest(offsite, bucket, obj["key"])
        assert len(data) == manifest.size, obj["key"]
        assert hashlib.sha256(data).hexdigest() == manifest.sha256, obj["key"]
        if manifest.kind == "sql-dump":
            text = gzip.decompress(data)
            assert text.rstrip().splitlines()[-1].startswith(TRAILER)
            assert manifest.source["database"] == obj["asset"]
            assert sum(manifest.tables.values()) > 0, obj["key"]  # rows were counted
        checked += 1
    assert checked >= 10


def test_plain_dumps_have_no_manifest_but_are_complete(keys: list[str], offsite: Any,
                                                       bucket: str) -> None:
    plain = [k for k in keys if k.startswith("mysql/shop/") and k.endswith(".sql")]
    assert plain
    for key in plain:
        assert manifest_key(key) not in keys
        assert _get(offsite, bucket, key).rstrip().splitlines()[-1].startswith(TRAILER)


def test_backup_database_counts_rows_exactly(site: Site, offsite: Any, bucket: str) -> None:
    server = site.mysql[0]
    key = f"tests/shop-{uuid.uuid4().hex}.sql.gz"
    try:
        full_key, manifest = backup_database(server, "shop", site.store("offsite"), key,
                                             client=offsite)
        secret = server.load_secret()
        assert secret is not None
        conn = pymysql.connect(host=server.host, port=server.port, user=server.user,
                               password=secret.reveal(), database="shop")
        with conn, conn.cursor() as cur:
            live = {}
            for table in manifest.tables:
                cur.execute(f"SELECT COUNT(*) FROM `{table}`")
                live[table] = cur.fetchone()[0]
        assert manifest.tables == live
        assert set(live) == {"customers", "products", "orders", "order_items", "invoice_pdfs"}
        data = _get(offsite, bucket, full_key)
        assert hashlib.sha256(data).hexdigest() == manifest.sha256
        assert _manifest(offsite, bucket, full_key) == manifest
        text = gzip.decompress(data)
        for needle in (b"TRIGGER products_stock_floor", b"PROCEDURE `customer_order_count`",
                       b"EVENT `purge_cancelled`", b"CREATE ALGORITHM", b"(1,0x255044462D"):
            assert needle in text, needle  # routines, triggers, events, hex blobs
    finally:
        offsite.delete_objects(Bucket=bucket, Delete={"Objects": [
            {"Key": key}, {"Key": manifest_key(key)}]})


# -- seeded faults ------------------------------------------------------------------------


def test_fault_list_names_every_seeded_fault(state: dict[str, Any]) -> None:
    assets = {f["asset"] for f in state["faults"]}
    expected = {"cinder", "glance", "boot1", "nova_cell0", "logs-archive", "legacy-ftp"}
    if state["openstack"]:
        expected |= {"scratch-data", "mystery-box", "app-logs"}
    assert assets == expected
    for fault in state["faults"]:
        assert fault["expected_status"] in ("WARNING", "CRITICAL")


def test_cinder_newest_dump_is_corrupt_and_older_is_good(state: dict[str, Any], offsite: Any,
                                                         bucket: str, keys: list[str]) -> None:
    (newest,) = _fault(state, "cinder")["objects"]
    data = _get(offsite, bucket, newest)
    manifest = _manifest(offsite, bucket, newest)
    assert len(data) == manifest.size
    assert hashlib.sha256(data).hexdigest() != manifest.sha256
    older = [k for k in keys if k.startswith("mysql/cinder/") and k.endswith(".gz") and k != newest]
    assert len(older) == 1 and _key_time(older[0]) < _key_time(newest)
    good = _get(offsite, bucket, older[0])
    assert hashlib.sha256(good).hexdigest() == _manifest(offsite, bucket, older[0]).sha256


def test_glance_newest_dump_is_truncated_and_older_is_good(state: dict[str, Any], offsite: Any,
                                                           bucket: str, keys: list[str]) -> None:
    (newest,) = _fault(state, "glance")["objects"]
    data = _get(offsite, bucket, newest)
    manifest = _manifest(offsite, bucket, newest)
    assert len(data) < manifest.size
    text, complete = _gunzip_partial(data)
    assert not complete
    assert TRAILER not in text
    older = [k for k in keys if k.startswith("mysql/glance/") and k.endswith(".gz") and k != newest]
    assert len(older) == 1
    text, complete = _gunzip_partial(_get(offsite, bucket, older[0]))
    assert complete and TRAILER in text


def test_boot1_copies_are_older_than_the_rpo(state: dict[str, Any], site: Site, offsite: Any,
                                             bucket: str, keys: list[str]) -> None:
    rpo = timedelta(seconds=site.rpo.boot_infra)
    now = datetime.now(UTC)
    copies = [k for k in keys if k.startswith("hosts/boot1/") and not k.endswith(".json")]
    assert sorted(copies) == sorted(_fault(state, "boot1")["objects"])
    for key in copies:
        assert now - _key_time(key) > rpo, key
        assert now - _manifest(offsite, bucket, key).created_at > rpo, key
    for key in (k for k in keys if k.startswith("hosts/db1/") and not k.endswith(".json")):
        assert now - _key_time(key) < rpo


def test_nova_cell0_has_no_dump(keys: list[str]) -> None:
    assert not [k for k in keys if k.startswith("mysql/nova_cell0/")]


def test_aws_gaps_are_real(site: Site) -> None:
    cloud = site.cloud("lab-aws")
    assert isinstance(cloud, AwsCloud)
    ec2, rds, s3 = aws_clients(cloud)
    volumes = {next(t["Value"] for t in v.get("Tags", []) if t["Key"] == "Name"): v["VolumeId"]
               for v in ec2.describe_volumes()["Volumes"] if v.get("Tags")}
    snaps = ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
    by_volume = {vid: [s for s in snaps if s["VolumeId"] == vid] for vid in volumes.values()}
    assert len(by_volume[volumes["orders-data"]]) == 2
    assert by_volume[volumes["logs-archive"]] == []
    instances = {}
    for reservation in ec2.describe_instances()["Reservations"]:
        for inst in reservation["Instances"]:
            tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
            instances[tags.get("Name")] = tags
    assert instances["legacy-ftp"] == {"Name": "legacy-ftp"}
    assert instances["web-a"]["dr:class"] == instances["web-b"]["dr:class"] == "reproducible"
    assert rds.describe_db_snapshots(DBInstanceIdentifier="orders-db")["DBSnapshots"]
    assert s3.list_objects_v2(Bucket="customer-uploads")["KeyCount"] > 0


def test_openstack_gaps_are_real(state: dict[str, Any], site: Site) -> None:
    if not state["openstack"]:
        lab_missing("the lab runs without OpenStack")
    import openstack.config
    import openstack.connection

    cloud = site.cloud("lab-openstack")
    config = openstack.config.OpenStackConfig(config_files=[str(cloud.clouds_yaml)],  # type: ignore[union-attr]
                                              vendor_files=[])
    conn = openstack.connection.Connection(config=config.get_one(cloud=cloud.cloud))  # type: ignore[union-attr]
    scratch = conn.block_storage.find_volume("scratch-data")
    assert scratch is not None
    snaps = [s for s in conn.block_storage.snapshots() if s.volume_id == scratch.id]
    assert snaps == []
    assert conn.compute.find_server("mystery-box") is not None
    meta = conn.block_storage.find_volume("metadata-db-data")
    assert meta is not None
    assert [s for s in conn.block_storage.snapshots() if s.volume_id == meta.id]
