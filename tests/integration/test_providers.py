"""Providers against the lab's real services: MariaDB, moto's S3/EC2/RDS,
OpenSSH hosts and (when the lab has it) a real OpenStack control plane.
Nothing the lab runs is mocked. Also: dead and silent endpoints give a
ProviderError with a plain reason within their timeout, and never hold up
the other providers; pinned host keys are enforced."""

from __future__ import annotations

import gzip
import hashlib
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from labenv import lab_missing

from dr_console.backup.s3 import store_client
from dr_console.errors import LocationError, ProviderError
from dr_console.inventory import collect, gather, providers_for, run
from dr_console.lab.procs import port_open
from dr_console.manifest import Manifest, manifest_key
from dr_console.model import Strategy
from dr_console.providers.aws import AwsProvider
from dr_console.providers.declared import DeclaredProvider
from dr_console.providers.hosts import HostProvider
from dr_console.providers.mysql import SYSTEM_SCHEMAS, MySQLProvider
from dr_console.providers.openstack import OpenStackProvider
from dr_console.providers.store import StoreProvider, verify_location
from dr_console.schema import AwsCloud, Host, MySQLServer, OpenStackCloud, Site
from dr_console.verifycache import VerifyCache

pytestmark = pytest.mark.lab

NOW = datetime.now(UTC).replace(microsecond=0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------
# What the lab seeded


def test_mysql_lists_user_databases(lab_site: Site) -> None:
    server = lab_site.mysql[0]
    found = MySQLProvider(server).discover()
    names = {a.name for a in found.assets}
    assert {"keystone", "nova", "glance", "shop"} <= names
    assert not names & SYSTEM_SCHEMAS
    shop = next(a for a in found.assets if a.name == "shop")
    assert shop.id == f"{server.name}:database:shop"
    assert (shop.provider, shop.kind, shop.source) == ("mysql", "database", server.name)
    assert int(shop.attributes["tables"]) >= 5 and int(shop.attributes["size_bytes"]) > 0
    if server.snapshot_volume is not None:
        ref = server.snapshot_volume
        assert shop.attributes["snapshot_volume"] == f"{ref.cloud}/{ref.volume}"


def test_mysql_filters_databases(lab_site: Site) -> None:
    server = lab_site.mysql[0].model_copy(update={"databases": ["nova*"], "exclude": ["nova_cell0"]})
    names = {a.name for a in MySQLProvider(server).discover().assets}
    assert names == {"nova", "nova_api"}


def test_aws_lists_servers_volumes_databases_buckets_but_not_stores(lab_site: Site) -> None:
    cloud = next(c for c in lab_site.clouds if isinstance(c, AwsCloud))
    found = AwsProvider(cloud, lab_site.stores).discover()
    by_kind: dict[str, set[str]] = {}
    for a in found.assets:
        assert a.id.startswith(f"{cloud.name}:{a.kind}:")
        by_kind.setdefault(a.kind, set()).add(a.name)
    assert {"web-a", "web-b", "legacy-ftp"} <= by_kind["server"]
    assert {"orders-data", "logs-archive"} <= by_kind["volume"]
    assert "orders-db" in by_kind["db-instance"]
    assert "customer-uploads" in by_kind["bucket"]
    store_buckets = {s.bucket for s in lab_site.stores}
    assert not by_kind["bucket"] & store_buckets  # backup stores hold copies, not assets

    web_a = next(a for a in found.assets if a.name == "web-a")
    assert web_a.tags["dr:class"] == "reproducible"
    volume = next(a for a in found.assets if a.name == "orders-data")
    snaps = [c for c in found.copies if c.asset_id == volume.id]
    assert len(snaps) >= 2
    for snap in snaps:
        assert (snap.kind, snap.strategy) == ("ebs-snapshot", Strategy.SNAPSHOT)
        assert snap.verification.platform_ok and snap.verification.size_ok
        assert snap.created_at.tzinfo is not None
    logs = next(a for a in found.assets if a.name == "logs-archive")
    assert not [c for c in found.copies if c.asset_id == logs.id]
    db = f"{cloud.name}:db-instance:orders-db"
    db_snaps = [c for c in found.copies if c.asset_id == db]
    assert db_snaps and all(c.kind == "db-snapshot" and c.verification.platform_ok
                            for c in db_snaps)


def test_aws_finds_the_seeded_ids(lab_site: Site, lab_state: dict[str, Any]) -> None:
    cloud = next(c for c in lab_site.clouds if isinstance(c, AwsCloud))
    seeded = lab_state["aws"]
    found = AwsProvider(cloud, lab_site.stores).discover()
    ids = {a.id for a in found.assets}
    for name, native in seeded["instances"].items():
        assert f"{cloud.name}:server:{native}" in ids, name
    for name, native in seeded["volumes"].items():
        assert f"{cloud.name}:volume:{native}" in ids, name
    snaps = {c.id.rsplit(":", 1)[1]: c for c in found.copies}
    assert set(seeded["ebs_snapshots"]) <= set(snaps)
    assert set(seeded["db_snapshots"]) <= set(snaps)
    for snap in seeded["ebs_snapshots"]:
        assert snaps[snap].asset_id == f"{cloud.name}:volume:{seeded['volumes']['orders-data']}"


def test_aws_skips_buckets_that_are_backup_stores(lab_site: Site) -> None:
    cloud = next(c for c in lab_site.clouds if isinstance(c, AwsCloud))
    assert cloud.endpoint_url
    # A store on the very same endpoint, spelled differently.
    store = lab_site.stores[0].model_copy(update={
        "name": "same-endpoint", "bucket": f"prov-store-{uuid.uuid4().hex[:10]}",
        "endpoint_url": cloud.endpoint_url.rstrip("/") + "/", "credentials_file":
        cloud.credentials_file})
    client = store_client(store)
    client.create_bucket(Bucket=store.bucket)
    try:
        with_store = AwsProvider(cloud, [store]).discover()
        without = AwsProvider(cloud, []).discover()
    finally:
        client.delete_bucket(Bucket=store.bucket)
    assert store.bucket in {a.name for a in without.assets}
    assert store.bucket not in {a.name for a in with_store.assets}


def test_aws_respects_services(lab_site: Site) -> None:
    cloud = next(c for c in lab_site.clouds if isinstance(c, AwsCloud))
    found = AwsProvider(cloud.model_copy(update={"services": ["rds"]})).discover()
    assert {a.kind for a in found.assets} == {"db-instance"}


def up_host(site: Site, index: int = 0) -> Host:
    hosts = [h for h in site.hosts if port_open(h.port, h.address)]
    if len(hosts) <= index:
        lab_missing("not enough lab hosts listening")
    return hosts[index]


def test_hosts_are_read_over_pinned_ssh(lab_site: Site) -> None:
    hosts = [h for h in lab_site.hosts if port_open(h.port, h.address)]
    if not hosts:
        lab_missing("no lab host is listening")
    for host in hosts:
        found = HostProvider(host).discover()
        assert found.problems == {}
        [asset] = found.assets
        assert (asset.id, asset.kind, asset.provider) == (f"{host.name}:host:{host.name}",
                                                         "host", "host")
        assert asset.tags == host.tags
        assert asset.attributes["hostname"] and asset.attributes["os"]
        assert asset.attributes["uptime"]
        assert asset.attributes["roles"] == ",".join(host.roles)


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    keytype, blob = path.with_suffix(".pub").read_text().split()[:2]
    return f"{keytype} {blob}"


def test_changed_host_key_is_refused(lab_site: Site, tmp_path: Path) -> None:
    host = up_host(lab_site)
    other = _keygen(tmp_path / "impostor")
    known = tmp_path / "known_hosts"
    known.write_text(f"[{host.address}]:{host.port} {other}\n")
    found = HostProvider(host.model_copy(update={"known_hosts": known})).discover()
    [asset] = found.assets  # still listed: UNKNOWN, not lost
    reason = found.problems[asset.id]
    assert reason.startswith(f"host key CHANGED for [{host.address}]:{host.port}")
    assert "): refused." in reason  # and then what to do about it
    assert "hostname" not in asset.attributes


def test_unknown_host_key_is_refused(lab_site: Site, tmp_path: Path) -> None:
    host = up_host(lab_site)
    known = tmp_path / "known_hosts"
    # Only another host's key; and never the user's own ~/.ssh/known_hosts.
    known.write_text(f"[{host.address}]:{free_port()} {_keygen(tmp_path / 'k')}\n")
    found = HostProvider(host.model_copy(update={"known_hosts": known})).discover()
    reason = found.problems[f"{host.name}:host:{host.name}"]
    assert reason.startswith(f"host key for [{host.address}]:{host.port} is not in the pinned "
                             "known_hosts: refused")


def test_declared_assets() -> None:
    from dr_console.schema import DeclaredAsset

    entry = DeclaredAsset(name="playbooks", kind="repo", tags={"dr:class": "boot-infra"})
    [asset] = DeclaredProvider(entry).discover().assets
    assert (asset.id, asset.provider, asset.tags) == ("playbooks:repo:playbooks", "declared",
                                                      {"dr:class": "boot-infra"})


# --------------------------------------------------------------------------
# The store: patterns, manifests, deep verification, the cache

DUMP = (
    b"-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB, for debian-linux-gnu (x86_64)\n--\n"
    b"-- Host: 127.0.0.1    Database: {db}\n"
    b"-- ------------------------------------------------------\n"
    + b"INSERT INTO `t` VALUES (1,'x'),(2,'y');\n" * 500
    + b"-- Dump completed on 2026-11-23 15:00:00\n"
)


def dump(db: str) -> bytes:
    return gzip.compress(DUMP.replace(b"{db}", db.encode()))


@pytest.fixture
def test_store(lab_site: Site) -> Iterator[tuple[Site, Any]]:
    """A private bucket on the lab's store endpoint, and a site naming it."""
    base = lab_site.stores[0]
    bucket = f"prov-test-{uuid.uuid4().hex[:10]}"
    store = base.model_copy(update={"name": "teststore", "bucket": bucket, "prefix": "",
                                    "timeout": 5})
    client = store_client(store)
    client.create_bucket(Bucket=bucket)
    site = Site.model_validate({
        "site": "t",
        "stores": [store.model_dump()],
        "copies": [{"store": "teststore", "pattern": "mysql/*/{asset}-{timestamp}.sql.gz",
                    "kind": "sql-dump", "asset_kind": "database"},
                   {"store": "teststore", "pattern": "loose/{asset}.sql.gz", "kind": "sql-dump",
                    "asset_kind": "database"}],
    })
    try:
        yield site, client
    finally:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                client.delete_object(Bucket=bucket, Key=obj["Key"])
        client.delete_bucket(Bucket=bucket)


def put(client: Any, bucket: str, key: str, body: bytes, *, manifest: bool | str = True,
        when: datetime | None = None, size: int | None = None) -> None:
    client.put_object(Bucket=bucket, Key=key, Body=body)
    if manifest:
        sha = manifest if isinstance(manifest, str) else hashlib.sha256(body).hexdigest()
        data = Manifest(sha256=sha, size=len(body) if size is None else size,
                        compression="gzip", created_at=when or NOW, kind="sql-dump")
        client.put_object(Bucket=bucket, Key=manifest_key(key), Body=data.to_json().encode())


def ts(hours_ago: float) -> str:
    return (NOW - timedelta(hours=hours_ago)).strftime("%Y%m%dT%H%M%SZ")


def seed_store(site: Site, client: Any) -> None:
    bucket = site.stores[0].bucket
    nova = dump("nova")
    # nova: newest has a wrong checksum, the one before is cut short (its
    # manifest matches the cut bytes), the oldest is good.
    put(client, bucket, f"mysql/nova/nova-{ts(1)}.sql.gz", nova, manifest="0" * 64,
        when=NOW - timedelta(hours=1))
    put(client, bucket, f"mysql/nova/nova-{ts(2)}.sql.gz", nova[: len(nova) // 2],
        when=NOW - timedelta(hours=2))
    put(client, bucket, f"mysql/nova/nova-{ts(3)}.sql.gz", nova, when=NOW - timedelta(hours=3))
    # glance: newest is a dump of another database.
    put(client, bucket, f"mysql/glance/glance-{ts(1)}.sql.gz", dump("nova"),
        when=NOW - timedelta(hours=1))
    put(client, bucket, f"mysql/glance/glance-{ts(5)}.sql.gz", dump("glance"),
        when=NOW - timedelta(hours=5))
    # keystone: made by another tool, no manifest; time from the key.
    put(client, bucket, f"mysql/keystone/keystone-{ts(4)}.sql.gz", dump("keystone"),
        manifest=False)
    # placement: five good copies, only the newest needs hashing.
    for hours in range(1, 6):
        put(client, bucket, f"mysql/placement/placement-{ts(hours)}.sql.gz", dump("placement"),
            when=NOW - timedelta(hours=hours))
    # cinder: the newest's size differs from its manifest: no need to hash it.
    put(client, bucket, f"mysql/cinder/cinder-{ts(1)}.sql.gz", dump("cinder"), size=10,
        when=NOW - timedelta(hours=1))
    put(client, bucket, f"mysql/cinder/cinder-{ts(2)}.sql.gz", dump("cinder"),
        when=NOW - timedelta(hours=2))
    # No timestamp in the key and no manifest: LastModified.
    put(client, bucket, "loose/heat.sql.gz", dump("heat"), manifest=False)
    client.put_object(Bucket=bucket, Key="README.txt", Body=b"not a backup")


def test_store_maps_objects_to_copies_and_verifies_newest_first(
        test_store: tuple[Site, Any], private_cache: Path) -> None:
    site, client = test_store
    seed_store(site, client)
    store = site.stores[0]
    found = StoreProvider(store, site.copies, cache=VerifyCache()).discover()
    assert found.assets == [] and found.copies == []
    copies: dict[str, list[Any]] = {}
    for item in found.unbound:
        assert item.asset_kind == "database"
        assert item.copy.location.startswith(f"s3://{store.bucket}/")
        assert not item.copy.location.endswith(".manifest.json")
        copies.setdefault(item.asset_name, []).append(item.copy)
    for items in copies.values():
        items.sort(key=lambda c: c.created_at, reverse=True)
    assert set(copies) == {"nova", "glance", "keystone", "placement", "cinder", "heat"}

    newest, cut, good = (c.verification for c in copies["nova"])
    assert newest.checksum_ok is False
    assert newest.detail.startswith("sha256 mismatch: manifest 000000000000…, object ")
    assert cut.checksum_ok is True and cut.complete is False
    assert "truncated: gzip stream ends early" in cut.detail
    assert good.verified and good.usable and good.complete and good.detail == ""
    assert copies["nova"][2].created_at == NOW - timedelta(hours=3)  # from the manifest

    wrong, right = (c.verification for c in copies["glance"])
    assert wrong.checksum_ok is True and not wrong.usable
    assert "dump is of database 'nova', expected 'glance'" in wrong.detail
    assert right.verified and right.usable

    [keystone] = copies["keystone"]
    check = keystone.verification
    assert (check.has_manifest, check.checksum_ok, check.complete) == (False, None, True)
    assert keystone.created_at == NOW - timedelta(hours=4)  # from the key

    placement = [c.verification for c in copies["placement"]]
    assert placement[0].verified
    assert [v.checksum_ok for v in placement[1:]] == [None] * 4

    cinder = [c.verification for c in copies["cinder"]]
    assert cinder[0].size_ok is False and cinder[0].checksum_ok is None
    assert cinder[1].verified

    [heat] = copies["heat"]
    assert heat.verification.complete is True
    assert abs((heat.created_at - datetime.now(UTC)).total_seconds()) < 600  # LastModified


def test_store_hashes_each_object_once(test_store: tuple[Site, Any], private_cache: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    site, client = test_store
    seed_store(site, client)
    inspected: list[str] = []
    original = StoreProvider._inspect

    def counting(self: StoreProvider, key: str, *args: Any, **kwargs: Any) -> Any:
        inspected.append(key)
        return original(self, key, *args, **kwargs)

    monkeypatch.setattr(StoreProvider, "_inspect", counting)
    first = StoreProvider(site.stores[0], site.copies, cache=VerifyCache()).discover()
    assert len(inspected) == 3 + 2 + 1 + 1 + 1 + 1  # nova, glance, keystone, placement, cinder, heat
    assert (private_cache / "verify.json").exists()
    inspected.clear()
    second = StoreProvider(site.stores[0], site.copies, cache=VerifyCache()).discover()
    assert inspected == []
    assert sorted(u.copy.verification.detail for u in first.unbound) == \
        sorted(u.copy.verification.detail for u in second.unbound)


def test_verify_location(test_store: tuple[Site, Any], private_cache: Path) -> None:
    site, client = test_store
    seed_store(site, client)
    bucket = site.stores[0].bucket
    key = next(o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="mysql/nova/")
               ["Contents"] if not o["Key"].endswith(".json"))  # the oldest: good
    result = verify_location(site, f"s3://{bucket}/{key}")
    assert result.asset_name == "nova" and result.copy.verification.verified
    shallow = verify_location(site, f"s3://{bucket}/{key}", deep=False)
    assert shallow.copy.verification.checksum_ok is None
    unmatched = verify_location(site, f"s3://{bucket}/README.txt", use_cache=False)
    assert unmatched.asset_name == "" and unmatched.copy.verification.has_manifest is False
    with pytest.raises(ProviderError, match="no such object"):
        verify_location(site, f"s3://{bucket}/nope.sql.gz")
    with pytest.raises(LocationError, match="in no store of"):
        verify_location(site, "s3://elsewhere/x.sql.gz")


def test_lab_offsite_store(lab_site: Site, private_cache: Path) -> None:
    """The lab's own offsite store: every seeded dump maps to a database."""
    found = StoreProvider(lab_site.stores[0], lab_site.copies, cache=VerifyCache()).discover()
    assert found.unbound
    kinds = {u.copy.kind for u in found.unbound}
    assert "sql-dump" in kinds
    dumped = {u.asset_name for u in found.unbound if u.copy.kind == "sql-dump"}
    assert {"keystone", "nova", "shop"} <= dumped


def test_lab_offsite_store_matches_what_was_seeded(lab_site: Site, lab_state: dict[str, Any],
                                                  private_cache: Path) -> None:
    store = lab_site.stores[0]
    found = StoreProvider(store, lab_site.copies, cache=VerifyCache()).discover()
    by_key = {u.copy.location.split("/", 3)[3]: u for u in found.unbound}
    for obj in lab_state["objects"]:
        item = by_key[obj["key"]]
        assert item.asset_name == obj["asset"] and item.copy.kind == obj["kind"], obj["key"]
        assert item.copy.created_at == datetime.fromisoformat(obj["created_at"]), obj["key"]
        assert item.copy.verification.has_manifest is obj["manifest"], obj["key"]

    faults = {f["id"]: f for f in lab_state["faults"]}
    if "corrupt-newest-dump" in faults:
        [key] = faults["corrupt-newest-dump"]["objects"]
        check = by_key[key].copy.verification
        assert check.checksum_ok is False and not check.usable
        assert check.detail.startswith("sha256 mismatch: manifest ")
    if "truncated-newest-dump" in faults:
        [key] = faults["truncated-newest-dump"]["objects"]
        check = by_key[key].copy.verification
        assert not check.usable and check.size_ok is False
        # Deep verification (the `verify` command) says what is wrong inside.
        deep = verify_location(lab_site, f"s3://{store.bucket}/{key}").copy.verification
        assert deep.complete is False and "truncated: gzip stream ends early" in deep.detail


# --------------------------------------------------------------------------
# Dead and silent endpoints


class Silent:
    """A loopback listener that accepts and then says nothing: the worst
    kind of dead backend, only a read timeout gets out of it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.held: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
                self.held.append(conn)
            except OSError:
                continue

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        for conn in self.held:
            conn.close()
        self.sock.close()


@pytest.fixture
def silent() -> Iterator[Silent]:
    server = Silent()
    yield server
    server.close()


def _clouds_yaml(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "clouds.yaml"
    path.write_text(yaml.safe_dump({"clouds": {"dead": {
        "auth": {"auth_url": f"http://127.0.0.1:{port}/v3", "username": "admin",
                 "password": "s3cr3t-never-shown", "project_name": "admin",
                 "user_domain_name": "Default", "project_domain_name": "Default"},
        "region_name": "RegionOne", "identity_api_version": 3}}}))
    return path


def dead_providers(lab_site: Site, tmp_path: Path, port: int, timeout: int) -> list[Any]:
    mysql = lab_site.mysql[0].model_copy(update={"name": "dead-db", "port": port,
                                                 "timeout": timeout})
    host = lab_site.hosts[0].model_copy(update={"name": "dead-host", "port": port,
                                                "timeout": timeout})
    store = lab_site.stores[0].model_copy(update={
        "name": "dead-store", "endpoint_url": f"http://127.0.0.1:{port}", "timeout": timeout})
    aws = next(c for c in lab_site.clouds if isinstance(c, AwsCloud)).model_copy(update={
        "name": "dead-aws", "endpoint_url": f"http://127.0.0.1:{port}", "timeout": timeout})
    cloud = OpenStackCloud(type="openstack", name="dead-os", cloud="dead",
                           clouds_yaml=_clouds_yaml(tmp_path, port), timeout=timeout)
    return [MySQLProvider(mysql), AwsProvider(aws), StoreProvider(store, []),
            OpenStackProvider(cloud), HostProvider(host)]


def _check_dead(lab_site: Site, tmp_path: Path, port: int, timeout: int,
                words: tuple[str, ...], limit: float) -> None:
    live = [MySQLProvider(lab_site.mysql[0]), HostProvider(up_host(lab_site))]
    dead = dead_providers(lab_site, tmp_path, port, timeout)
    start = time.perf_counter()
    out = collect([*dead, *live], deadline=60)
    took = time.perf_counter() - start
    assert took < limit, out.provider_seconds
    assert {d.source for d in out.discoveries} >= {p.source for p in live}
    reasons = {p.source: p.reason for p in out.source_problems}
    host_problem = next(d for d in out.discoveries if d.source == "dead-host").problems
    reasons["dead-host"] = next(iter(host_problem.values()))
    assert set(reasons) >= {"dead-db", "dead-aws", "dead-store", "dead-os", "dead-host"}
    for source, reason in reasons.items():
        assert any(word in reason for word in words), (source, reason)
        assert "s3cr3t" not in reason and "http://" not in reason
    for source in ("dead-db", "dead-aws", "dead-store", "dead-os"):
        assert out.provider_seconds[source] < limit


def test_closed_port_fails_fast_and_alone(lab_site: Site, tmp_path: Path) -> None:
    port = free_port()
    _check_dead(lab_site, tmp_path, port, timeout=3, words=("refused", "cannot connect"),
                limit=10)


def test_silent_endpoint_times_out(lab_site: Site, tmp_path: Path, silent: Silent) -> None:
    # Two attempts at most for boto: ~2 x timeout; everything else ~1 x.
    _check_dead(lab_site, tmp_path, silent.port, timeout=2,
                words=("no answer within", "timed out", "closed"), limit=10)


def test_bad_credentials_are_named_without_secrets(lab_site: Site, tmp_path: Path) -> None:
    wrong = tmp_path / "pw"
    wrong.write_text("definitely-wrong-password\n")
    server = lab_site.mysql[0].model_copy(update={"password_file": wrong})
    with pytest.raises(ProviderError) as caught:
        MySQLProvider(server).discover()
    assert "access denied; check user and password_file of" in str(caught.value)
    assert "definitely-wrong" not in str(caught.value)


# --------------------------------------------------------------------------
# OpenStack (when the lab has one)


def _openstack(site: Site) -> OpenStackCloud:
    cloud = next((c for c in site.clouds if isinstance(c, OpenStackCloud)), None)
    if cloud is None:
        lab_missing("this lab has no OpenStack")
    return cloud


def test_openstack_lists_servers_volumes_images_and_their_copies(lab_site: Site) -> None:
    cloud = _openstack(lab_site)
    found = OpenStackProvider(cloud).discover()
    kinds = {a.kind for a in found.assets}
    assert {"server", "volume", "image"} <= kinds
    for a in found.assets:
        assert a.id.startswith(f"{cloud.name}:{a.kind}:") and a.provider == "openstack"
    asset_ids = {a.id for a in found.assets}
    assert all(c.asset_id in asset_ids for c in found.copies)
    copy_kinds = {c.kind for c in found.copies}
    assert "volume-snapshot" in copy_kinds
    for c in found.copies:
        expected = Strategy.EXPORT if c.kind == "volume-backup" else Strategy.SNAPSHOT
        assert c.strategy is expected
        assert c.created_at.tzinfo is not None
    # Server snapshots are copies of their server, not image assets.
    images = [a for a in found.assets if a.kind == "image"]
    assert not [a for a in images if a.tags.get("image_type") == "snapshot"]


def test_openstack_finds_the_seeded_ids(lab_site: Site, lab_state: dict[str, Any]) -> None:
    cloud = _openstack(lab_site)
    seed = lab_state.get("openstack_lab", {}).get("seed")
    if not seed:
        lab_missing("the lab recorded no OpenStack seed")
    found = OpenStackProvider(cloud).discover()
    assets = {a.id: a for a in found.assets}
    copies = {c.id: c for c in found.copies}

    def asset_id(kind: str, name: str) -> str:
        return f"{cloud.name}:{kind}:{seed[name]}"

    for name in ("web-1", "web-2", "mystery-box"):
        assert assets[asset_id("server", name)].name == name
    for name in ("customer-data", "metadata-db-data", "scratch-data"):
        assert assets[asset_id("volume", name)].kind == "volume"
    for name in ("cirros-mini", "appliance-golden"):
        assert assets[asset_id("image", name)].kind == "image"
    assert assets[asset_id("image", "appliance-golden")].tags.get("dr:class") == "metadata"
    for name, volume in (("customer-data-snap-1", "customer-data"),
                         ("metadata-db-data-snap-1", "metadata-db-data"),
                         ("metadata-db-data-snap-2", "metadata-db-data")):
        snap = copies[asset_id("volume-snapshot", name)]
        assert snap.asset_id == asset_id("volume", volume)
        assert snap.verification.platform_ok and snap.verification.size_ok
    for name in ("customer-data-full", "customer-data-incr-1"):
        backup = copies[asset_id("volume-backup", name)]
        assert backup.asset_id == asset_id("volume", "customer-data")
        assert backup.strategy is Strategy.EXPORT and backup.verification.platform_ok
    assert not [c for c in found.copies if c.asset_id == asset_id("volume", "scratch-data")]


def test_openstack_snapshot_volume_binds_to_metadata_databases(lab_site: Site,
                                                               private_cache: Path) -> None:
    _openstack(lab_site)
    server = next((m for m in lab_site.mysql if m.snapshot_volume), None)
    if server is None:
        lab_missing("no mysql server with snapshot_volume in this lab")
    inventory = run(lab_site, timeout=60)
    db_ids = {c.asset.id for c in inventory.snapshot.coverages
              if c.asset.source == server.name and c.asset.kind == "database"}
    ref = server.snapshot_volume
    assert ref is not None
    volume = next(a for a in inventory.binding.assets
                  if a.source == ref.cloud and a.kind == "volume" and a.name == ref.volume)
    volume_copies = [c for c in inventory.binding.copies if c.asset_id == volume.id]
    assert volume_copies
    for db in db_ids:
        bound = [c for c in inventory.binding.copies
                 if c.asset_id == db and c.kind in ("volume-snapshot", "volume-backup")]
        assert sorted(c.id for c in bound) == sorted(f"{c.id}@{db}" for c in volume_copies)
        assert all(c.strategy is Strategy.SNAPSHOT for c in bound)


# --------------------------------------------------------------------------
# The whole inventory


def test_gather_against_the_lab(lab_site: Site, private_cache: Path) -> None:
    snapshot = gather(lab_site, timeout=60)
    expected = {p.source for p in providers_for(lab_site, deep=False)}
    assert set(snapshot.provider_seconds) == expected
    assert snapshot.problems == (), snapshot.problems
    assert snapshot.coverages
    # Concurrent: the wall time is close to the slowest provider, not the sum.
    assert snapshot.wall_seconds <= max(snapshot.provider_seconds.values()) + 0.5
    timings = ", ".join(f"{k} {v:.2f}s" for k, v in snapshot.provider_seconds.items())
    print(f"\nprovider timings: {timings}; wall {snapshot.wall_seconds:.2f}s")


def test_gather_survives_a_dead_provider(lab_site: Site, tmp_path: Path,
                                         private_cache: Path) -> None:
    dead = MySQLServer(name="dead-db", host="127.0.0.1", port=free_port(), user="x", timeout=2)
    site = lab_site.model_copy(update={"mysql": [*lab_site.mysql, dead]})
    snapshot = gather(site, timeout=60)
    assert [p.source for p in snapshot.problems] == ["dead-db"], snapshot.problems
    assert "refused" in snapshot.problems[0].reason
    assert any(c.asset.source == lab_site.mysql[0].name for c in snapshot.coverages)


def test_snapshot_cache_round_trip(lab_site: Site, private_cache: Path) -> None:
    from dr_console import snapshots

    assert snapshots.load(lab_site.path) is None
    snapshot = gather(lab_site, timeout=60)
    path = snapshots.save(snapshot, lab_site.path)
    assert path.parent == private_cache / "snapshots"
    loaded = snapshots.load(lab_site.path, same_site_file=True)
    assert loaded is not None
    assert loaded.summary() == snapshot.summary()
    assert [c.asset.id for c in loaded.coverages] == [c.asset.id for c in snapshot.coverages]


