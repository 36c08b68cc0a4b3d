"""The offsite store's contents: copies made by dr-console's own backup
functions (with manifests), dumps made "by another tool" (without), and the
seeded faults the policy must find. Each fault is recorded with the asset
and the status the console should give it, so tests can hold it to that."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dr_console.backup import timestamp
from dr_console.backup.bucket import backup_bucket
from dr_console.backup.dump import backup_database
from dr_console.backup.host import backup_host_etc, backup_host_packages
from dr_console.backup.image import backup_image
from dr_console.backup.repo import backup_git_bundle
from dr_console.backup.s3 import S3Client
from dr_console.lab import procs, sitefile
from dr_console.lab.mariadb import MariaDB
from dr_console.lab.seed_db import APP_DB, SERVICE_DBS
from dr_console.manifest import Manifest
from dr_console.mysqldb import Account
from dr_console.schema import Site

OLD_DUMP_AGE = timedelta(hours=6)
STALE_HOST = "boot1"
STALE_AGE = timedelta(days=9)  # the boot-infra RPO is 7 days
NO_DUMP_DB = "nova_cell0"
CORRUPT_DB = "cinder"
TRUNCATED_DB = "glance"


@dataclass
class SeededObject:
    key: str
    asset: str
    kind: str
    created_at: str
    manifest: bool
    size: int | None = None
    sha256: str | None = None


@dataclass
class Fault:
    id: str
    asset: str
    asset_kind: str
    provider: str
    expected_status: str  # WARNING | CRITICAL, as the policy should rate the asset
    detail: str
    objects: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _made(key: str, asset: str, manifest: Manifest) -> SeededObject:
    return SeededObject(key=key, asset=asset, kind=manifest.kind,
                        created_at=manifest.created_at.isoformat(), manifest=True,
                        size=manifest.size, sha256=manifest.sha256)


def ensure_bucket(client: S3Client, bucket: str) -> None:
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        client.create_bucket(Bucket=bucket)


def capture_host(site: Site, client: S3Client, now: datetime,
                 name: str) -> list[SeededObject]:
    """/etc and package list of one host over SSH; boot1's are 9 days old."""
    store = site.store(sitefile.STORE)
    host = next(h for h in site.hosts if h.name == name)
    when = now - STALE_AGE if host.name == STALE_HOST else now
    ts = timestamp(when)
    out = []
    for func, template in ((backup_host_etc, sitefile.ETC_KEY),
                           (backup_host_packages, sitefile.PACKAGES_KEY)):
        key, manifest = func(host, store, template.format(host=host.name, ts=ts),
                             client=client, created_at=when)
        out.append(_made(key, host.name, manifest))
    return out


def bundle_playbooks(site: Site, client: S3Client, playbooks: Path,
                     now: datetime) -> list[SeededObject]:
    """The boot-infra playbooks as their own repository (as they would be
    in production), bundled. A snapshot of the working tree, so the lab
    does not depend on what the dr-console repo has committed."""
    if not (playbooks / "boot-infra.yml").is_file():
        raise procs.LabError(f"playbooks not found at {playbooks} (boot-infra.yml missing)")
    with tempfile.TemporaryDirectory(prefix="drlab-playbooks-") as tmp:
        repo = Path(tmp) / sitefile.PLAYBOOKS_REPO
        shutil.copytree(playbooks, repo, ignore=shutil.ignore_patterns("*.retry", "__pycache__"))
        env = {"GIT_AUTHOR_NAME": "dr-console lab", "GIT_AUTHOR_EMAIL": "lab@drlab.invalid",
               "GIT_COMMITTER_NAME": "dr-console lab",
               "GIT_COMMITTER_EMAIL": "lab@drlab.invalid"}
        for argv in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"],
                     ["git", "commit", "-q", "-m", "boot infrastructure playbooks"]):
            procs.run(argv, env=env, cwd=repo)
        key, manifest = backup_git_bundle(
            repo, site.store(sitefile.STORE),
            sitefile.BUNDLE_KEY.format(repo=sitefile.PLAYBOOKS_REPO, ts=timestamp(now)),
            name=sitefile.PLAYBOOKS_REPO, client=client, created_at=now)
    return [_made(key, sitefile.PLAYBOOKS_REPO, manifest)]


def archive_buckets(site: Site, source: S3Client, client: S3Client,
                    now: datetime) -> list[SeededObject]:
    key, manifest = backup_bucket(
        source, "customer-uploads", site.store(sitefile.STORE),
        sitefile.BUCKET_KEY.format(bucket="customer-uploads", ts=timestamp(now - timedelta(hours=1))),
        client=client, created_at=now - timedelta(hours=1))
    return [_made(key, "customer-uploads", manifest)]


def export_images(site: Site, conn: Any, client: S3Client,
                  now: datetime) -> list[SeededObject]:
    """Glance images tagged as metadata (kept only in Glance) exported offsite."""
    store = site.store(sitefile.STORE)
    out = []
    for image in conn.image.images():
        if (image.properties or {}).get("dr:class") != "metadata":
            continue
        when = now - timedelta(hours=3)
        key, manifest = backup_image(
            conn, image.id, store,
            sitefile.IMAGE_KEY.format(image=image.name, ts=timestamp(when)),
            client=client, created_at=when)
        out.append(_made(key, image.name, manifest))
    return out


def plain_app_dumps(db: MariaDB, site: Site, client: S3Client,
                    now: datetime) -> list[SeededObject]:
    """Uncompressed dumps with no manifest, as a cron job would leave them."""
    store = site.store(sitefile.STORE)
    out = []
    for age in (timedelta(hours=2), timedelta(hours=26)):
        when = now - age
        key = sitefile.PLAIN_DUMP_KEY.format(db=APP_DB, ts=timestamp(when))
        data = subprocess.run(
            ["mariadb-dump", "--no-defaults", "--protocol=TCP", "--host=127.0.0.1",
             f"--port={db.port}", f"--user={db.admin_user}", "--single-transaction",
             "--routines", "--triggers", "--events", APP_DB],
            # The environment, not argv: argv is readable by every user.
            env={**os.environ, "MYSQL_PWD": db.admin_password},
            capture_output=True, check=True, timeout=120).stdout
        client.put_object(Bucket=store.bucket, Key=key, Body=data)
        out.append(SeededObject(key=key, asset=APP_DB, kind="sql-dump",
                                created_at=when.isoformat(), manifest=False, size=len(data)))
    return out


def metadata_dumps(site: Site, client: S3Client, now: datetime,
                   database: str) -> list[SeededObject]:
    """Two dumps of one service database: ~6 h ago and now (the lab backdates
    the old one through its key and its manifest's created_at)."""
    server = site.mysql[0]
    params = Account.backup(server)
    store = site.store(sitefile.STORE)
    out = []
    for when in (now - OLD_DUMP_AGE, now):
        key, manifest = backup_database(
            params, database, store, sitefile.DUMP_KEY.format(db=database, ts=timestamp(when)),
            client=client, created_at=when)
        out.append(_made(key, database, manifest))
    return out


def dumped_databases() -> list[str]:
    return [db for db in SERVICE_DBS if db != NO_DUMP_DB]


def inject_dump_faults(client: S3Client, bucket: str,
                       objects: list[SeededObject]) -> list[Fault]:
    """Damage the newest dumps of cinder and glance after their manifests
    were written; the older good dumps stay."""

    def newest(db: str) -> SeededObject:
        return max((o for o in objects if o.asset == db and o.kind == "sql-dump"),
                   key=lambda o: o.created_at)

    faults = []
    corrupt = newest(CORRUPT_DB)
    data = bytearray(client.get_object(Bucket=bucket, Key=corrupt.key)["Body"].read())
    middle = len(data) // 2
    for i in range(middle, min(middle + 64, len(data) - 8)):
        data[i] ^= 0xA5  # same size, different bytes
    client.put_object(Bucket=bucket, Key=corrupt.key, Body=bytes(data))
    faults.append(Fault(
        "corrupt-newest-dump", CORRUPT_DB, "database", "mysql", "WARNING",
        "newest dump's bytes corrupted after its manifest was written (same size, "
        "sha256 differs); the 6 h old dump is good and inside the 24h RPO",
        [corrupt.key]))

    truncated = newest(TRUNCATED_DB)
    data = bytearray(client.get_object(Bucket=bucket, Key=truncated.key)["Body"].read())
    client.put_object(Bucket=bucket, Key=truncated.key, Body=bytes(data[: len(data) * 6 // 10]))
    faults.append(Fault(
        "truncated-newest-dump", TRUNCATED_DB, "database", "mysql", "WARNING",
        "newest dump cut to 60% (gzip stream incomplete, no '-- Dump completed' trailer, "
        "smaller than its manifest says); the 6 h old dump is good",
        [truncated.key]))
    return faults


def static_faults(openstack: bool, host_objects: list[SeededObject]) -> list[Fault]:
    stale = [o.key for o in host_objects if o.asset == STALE_HOST]
    faults = [
        Fault("stale-host-copies", STALE_HOST, "host", "host", "CRITICAL",
              "/etc archive and package list are 9 days old (boot-infra RPO 7d); no newer copy",
              stale),
        Fault("metadata-db-one-strategy" if openstack else "metadata-db-no-copy",
              NO_DUMP_DB, "database", "mysql", "WARNING" if openstack else "CRITICAL",
              "no offsite dump at all; only the volume-snapshot strategy"
              if openstack else "no offsite dump and (without OpenStack) no snapshot"),
        Fault("volume-no-copy", "logs-archive", "volume", "aws", "CRITICAL",
              "EBS volume with no snapshot"),
        Fault("unclassified", "legacy-ftp", "server", "aws", "WARNING",
              "EC2 instance with only a Name tag: no rule classifies it"),
    ]
    if openstack:
        faults += [
            Fault("volume-no-copy", "scratch-data", "volume", "openstack", "CRITICAL",
                  "Cinder volume with no snapshot or backup"),
            Fault("unclassified", "mystery-box", "server", "openstack", "WARNING",
                  "Nova server no rule classifies"),
        ]
    return faults


def now_utc() -> datetime:
    # Whole seconds: keys carry seconds, manifests should agree with them.
    return datetime.now(UTC).replace(microsecond=0)
