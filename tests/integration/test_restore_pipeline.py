"""The restore path against the real lab: moto S3 (ranged GETs, If-Match),
MariaDB (staging schemas, RENAME TABLE, triggers, routines, views, events).

Every schema these tests create starts with `drtest_` and is dropped at the
end; objects they upload live under `drtest/` in the offsite bucket. The
lab's own OpenStack databases are only read (keystone is compared, never
swapped)."""

from __future__ import annotations

import gzip
import hashlib
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pymysql
import pytest
from labenv import lab_missing
from urllib3.exceptions import ProtocolError

from dr_console import mysqldb
from dr_console.backup.dump import RowCounter
from dr_console.backup.s3 import put_manifest, store_client
from dr_console.manifest import Manifest, manifest_key
from dr_console.mysqldb import Account
from dr_console.restore import (
    CorruptCopy,
    RestoreCancelled,
    WrongDatabase,
    checksum_tables,
    drop_kept,
    restore_into_staging,
    row_counts,
    swap_in,
    verify_staging,
)
from dr_console.restore.checks import base_tables, scan_tables, schema_exists
from dr_console.restore.errors import RestoreError
from dr_console.schema import Secret, Site

pytestmark = pytest.mark.lab

FIXTURE = Path(__file__).resolve().parents[1] / "unit" / "data" / "mariadb-dump-hex.sql"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))


# --- fixtures -----------------------------------------------------------------


@pytest.fixture(scope="module")
def admin(lab_site: Site) -> Account:
    """An admin account: the drconsole user is read-only and cannot restore."""
    server = lab_site.mysql[0]
    secret = Path(lab_site.path).parent / "secrets" / "mariadb-admin"
    return Account(host=server.host, port=server.port, user="labadmin",
                            password=Secret(secret.read_text().strip()), name="lab-admin")


@pytest.fixture
def conn(admin: Account) -> Iterator[Any]:
    assert admin.password is not None
    connection = pymysql.connect(host=admin.host, port=admin.port, user=admin.user,
                                 password=admin.password.reveal(), autocommit=True, connect_timeout=5,
                                 read_timeout=120)
    yield connection
    connection.close()


@pytest.fixture
def scratch(conn: Any) -> Iterator[list[str]]:
    """Schema names a test will create; all dropped afterwards, whatever happened."""
    names: list[str] = []
    yield names
    with conn.cursor() as cur:
        cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
        existing = [row[0] for row in cur.fetchall()]
        for name in existing:
            if any(name == n or name.startswith(n + "__pre_restore_") for n in names):
                assert name.startswith("drtest_")
                cur.execute(f"DROP DATABASE `{name}`")


@pytest.fixture(scope="module")
def store(lab_site: Site) -> Any:
    return lab_site.store("offsite")


@pytest.fixture(scope="module")
def s3(store: Any) -> Any:
    return store_client(store)


@pytest.fixture
def uploads(s3: Any, store: Any) -> Iterator[list[str]]:
    keys: list[str] = []
    yield keys
    for key in keys:
        for k in (key, manifest_key(key)):
            s3.delete_object(Bucket=store.bucket, Key=k)


def _manifest_of(s3: Any, bucket: str, key: str) -> Manifest | None:
    try:
        body = s3.get_object(Bucket=bucket, Key=manifest_key(key))["Body"].read()
    except Exception:
        return None
    return Manifest.from_json(body)


@pytest.fixture(scope="module")
def keystone_copy(s3: Any, store: Any) -> tuple[str, Manifest]:
    """The newest keystone dump whose size matches its manifest."""
    listing = s3.list_objects_v2(Bucket=store.bucket, Prefix="mysql/keystone/")
    keys = sorted((o["Key"] for o in listing.get("Contents", []) if o["Key"].endswith(".sql.gz")),
                  reverse=True)
    for key in keys:
        manifest = _manifest_of(s3, store.bucket, key)
        size = s3.head_object(Bucket=store.bucket, Key=key)["ContentLength"]
        if manifest is not None and manifest.size == size:
            return key, manifest
    lab_missing("no keystone dump with a manifest in the offsite store")


def _newest_dump(s3: Any, bucket: str, db: str) -> tuple[str, Manifest | None]:
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=f"mysql/{db}/")
    key = max(o["Key"] for o in listing["Contents"] if o["Key"].endswith(".sql.gz"))
    return key, _manifest_of(s3, bucket, key)


def _upload(s3: Any, store: Any, uploads: list[str], data: bytes, name: str,
            manifest: Manifest | None = None) -> str:
    key = f"drtest/restore/{uuid.uuid4().hex[:8]}-{name}"
    s3.put_object(Bucket=store.bucket, Key=key, Body=data)
    uploads.append(key)
    if manifest is not None:
        put_manifest(s3, store.bucket, key, manifest)
    return key


def _manifest_for(stored: bytes, plain: bytes, database: str) -> Manifest:
    counter = RowCounter()
    for line in plain.splitlines(keepends=True):
        counter.feed(line)
    return Manifest(sha256=hashlib.sha256(stored).hexdigest(), size=len(stored), compression="gzip",
                    created_at=datetime.now(UTC), kind="sql-dump", source={"database": database},
                    tables=counter.tables)


# --- the keystone dump against live keystone -------------------------------------


@pytest.mark.parametrize("workers", [None, 1])
def test_restore_keystone_matches_live(store: Any, s3: Any, admin: Account, conn: Any,
                                       scratch: list[str], keystone_copy: tuple[str, Manifest],
                                       workers: int | None) -> None:
    key, manifest = keystone_copy
    staging = "drtest_keystone_staging"
    scratch.append(staging)
    seen: list[tuple[str, int, int, int]] = []
    report = restore_into_staging(store, key, admin, "keystone", manifest=manifest, staging_db=staging,
                                  workers=workers, progress=lambda *a: seen.append(a), client=s3)
    assert report.verified and report.problems == []
    assert report.source_database == "keystone"
    assert report.parallel is (workers is None)  # the lab's MariaDB is restore-tuned
    assert report.tables == manifest.tables
    assert verify_staging(conn, staging, manifest) == []
    live_tables = base_tables(conn, "keystone")
    assert base_tables(conn, staging) == live_tables
    assert row_counts(conn, staging) == row_counts(conn, "keystone")
    assert checksum_tables(conn, staging, live_tables) == checksum_tables(conn, "keystone", live_tables)
    phases = [p[0] for p in seen]
    assert phases[0] == "load" and phases[-1] == "done" and "verify" in phases
    assert seen[-1][1] == seen[-1][2] == manifest.size


def test_parallel_restore_of_a_nova_like_database(store: Any, s3: Any, admin: Account,
                                                  conn: Any, scratch: list[str],
                                                  uploads: list[str]) -> None:
    """Several tables, a foreign key, a trigger, JSON and blobs, over three
    connections: the restored tables checksum like the source."""
    import novagen

    from dr_console.backup.dump import backup_database

    source = "drtest_novagen_src"
    staging = "drtest_novagen_staging"
    scratch.extend([source, staging])
    novagen.create(conn, source, 2)
    key = f"drtest/restore/{uuid.uuid4().hex[:8]}-novagen.sql.gz"
    full_key, manifest = backup_database(admin, source, store, key, client=s3)
    uploads.append(full_key)
    report = restore_into_staging(store, full_key, admin, "drtest_novagen", manifest=manifest,
                                  expect_database=source, staging_db=staging, workers=3, client=s3,
                                  scan=True)
    assert report.workers == 3 and report.tables == manifest.tables
    tables = base_tables(conn, source)
    assert checksum_tables(conn, staging, tables) == checksum_tables(conn, source, tables)
    # The verify step's scan (several tables at once, each on its own
    # connection) answers what the serial calls do.
    opened: list[Any] = []

    def connect() -> Any:
        opened.append(mysqldb.connect(admin))
        return opened[-1]

    counts, sums = scan_tables(connect, staging, tables, connections=3)
    assert counts == row_counts(conn, staging) == manifest.tables
    assert sums == checksum_tables(conn, staging, tables) and list(sums) == tables
    assert len(opened) == 3 and all(not c.open for c in opened)  # 3 scanners, all closed
    # What each loading connection took as soon as its table was in is what
    # the schema holds once the whole load is done.
    assert report.scans == {t: (counts[t], sums[t]) for t in tables}
    # Without a list: every base table of the schema, counted or not.
    assert scan_tables(connect, staging, rows=False) == ({}, sums)
    with conn.cursor() as cur:
        cur.execute("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA=%s",
                    (staging,))
        assert [r[0] for r in cur.fetchall()] == ["instances_touch"]


# --- refusals -----------------------------------------------------------------------


def test_corrupt_copy_same_size_is_refused_and_staging_dropped(
        store: Any, s3: Any, admin: Account, conn: Any, scratch: list[str], uploads: list[str],
        keystone_copy: tuple[str, Manifest]) -> None:
    """A copy that still decompresses (its gzip header's mtime changed) but
    is not the manifest's bytes: found at the end of the read."""
    key, manifest = keystone_copy
    stored = bytearray(s3.get_object(Bucket=store.bucket, Key=key)["Body"].read())
    stored[4:8] = b"\x01\x02\x03\x04"  # gzip MTIME: no checksum covers it
    bad = _upload(s3, store, uploads, bytes(stored), "keystone.sql.gz", manifest)
    staging = "drtest_corrupt_staging"
    scratch.append(staging)
    with pytest.raises(CorruptCopy, match="sha256"):
        restore_into_staging(store, bad, admin, "keystone", manifest=manifest, staging_db=staging, client=s3)
    assert not schema_exists(conn, staging)


def test_lab_corrupt_dump_is_refused(store: Any, s3: Any, admin: Account, conn: Any,
                                     scratch: list[str]) -> None:
    """The lab's seeded fault: cinder's newest dump has 64 bytes flipped."""
    key, manifest = _newest_dump(s3, store.bucket, "cinder")
    staging = "drtest_cinder_staging"
    scratch.append(staging)
    with pytest.raises(CorruptCopy):
        restore_into_staging(store, key, admin, "cinder", manifest=manifest, staging_db=staging, client=s3)
    assert not schema_exists(conn, staging)


def test_truncated_copies_are_refused(store: Any, s3: Any, admin: Account, conn: Any,
                                      scratch: list[str], uploads: list[str],
                                      keystone_copy: tuple[str, Manifest]) -> None:
    staging = "drtest_truncated_staging"
    scratch.append(staging)
    # The lab's glance fault: smaller than its manifest says, refused before anything is created.
    key, manifest = _newest_dump(s3, store.bucket, "glance")
    with pytest.raises(CorruptCopy, match="manifest says"):
        restore_into_staging(store, key, admin, "glance", manifest=manifest, staging_db=staging, client=s3)
    assert not schema_exists(conn, staging)
    # Without a manifest: the gzip stream itself ends early.
    key, _ = keystone_copy
    stored = s3.get_object(Bucket=store.bucket, Key=key)["Body"].read()
    cut = _upload(s3, store, uploads, stored[: len(stored) * 6 // 10], "keystone-cut.sql.gz")
    with pytest.raises(CorruptCopy, match="truncated"):
        restore_into_staging(store, cut, admin, "keystone", manifest=None, staging_db=staging, client=s3)
    assert not schema_exists(conn, staging)
    # A complete gzip of a dump that stops before its trailer.
    plain = gzip.decompress(stored)
    short = plain[: plain.rindex(b"\n-- Dump completed")] + b"\n"
    nodone = _upload(s3, store, uploads, gzip.compress(short), "keystone-notrailer.sql.gz")
    with pytest.raises(CorruptCopy, match="trailer"):
        restore_into_staging(store, nodone, admin, "keystone", manifest=None, staging_db=staging, client=s3)
    assert not schema_exists(conn, staging)


def test_wrong_database_is_refused_before_anything(store: Any, s3: Any, admin: Account, conn: Any,
                                                   scratch: list[str],
                                                   keystone_copy: tuple[str, Manifest]) -> None:
    key, manifest = keystone_copy
    staging = "drtest_wrongdb_staging"
    scratch.append(staging)
    with pytest.raises(WrongDatabase, match="'keystone', not 'nova'"):
        restore_into_staging(store, key, admin, "nova", manifest=manifest, staging_db=staging, client=s3)
    assert not schema_exists(conn, staging)


def test_cancel_drops_staging(store: Any, s3: Any, admin: Account, conn: Any,
                              scratch: list[str], keystone_copy: tuple[str, Manifest]) -> None:
    key, manifest = keystone_copy
    staging = "drtest_cancel_staging"
    scratch.append(staging)
    cancel = threading.Event()
    with pytest.raises(RestoreCancelled):
        restore_into_staging(store, key, admin, "keystone", manifest=manifest, staging_db=staging,
                             client=s3, cancel=cancel, progress=lambda *a: cancel.set())
    assert not schema_exists(conn, staging)


# --- a dropped connection ----------------------------------------------------------


class _BreakingBody:
    """A botocore body that raises like a reset connection after `limit` bytes."""

    def __init__(self, body: Any, limit: int) -> None:
        self.body = body
        self.limit = limit
        self.sent = 0

    def read(self, n: int = -1) -> bytes:
        if self.sent >= self.limit:
            raise ProtocolError("Connection broken: ConnectionResetError(104, 'Connection reset by peer')")
        piece: bytes = self.body.read(min(n, self.limit - self.sent))
        self.sent += len(piece)
        return piece

    def close(self) -> None:
        self.body.close()


class _FlakyClient:
    """The real moto client; only the first GET's body breaks mid-stream."""

    def __init__(self, client: Any, limit: int) -> None:
        self.client = client
        self.limit = limit
        self.ranges: list[str] = []

    def get_object(self, **kwargs: Any) -> Any:
        response = self.client.get_object(**kwargs)
        self.ranges.append(kwargs.get("Range", ""))
        if len(self.ranges) == 1:
            response["Body"] = _BreakingBody(response["Body"], self.limit)
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_dropped_connection_resumes_with_a_ranged_get(store: Any, s3: Any, admin: Account,
                                                      conn: Any, scratch: list[str],
                                                      keystone_copy: tuple[str, Manifest]) -> None:
    key, manifest = keystone_copy
    staging = "drtest_resume_staging"
    scratch.append(staging)
    flaky = _FlakyClient(s3, limit=3000)
    report = restore_into_staging(store, key, admin, "keystone", manifest=manifest, staging_db=staging,
                                  client=flaky)
    assert flaky.ranges == [f"bytes=0-{manifest.size - 1}", f"bytes=3000-{manifest.size - 1}"]
    assert report.verified and report.tables == manifest.tables
    assert any("resumed 1 time" in note for note in report.notes)


# --- swap ----------------------------------------------------------------------------


def _count(conn: Any, sql: str) -> int:
    with conn.cursor() as cur:
        cur.execute(sql)
        return int(cur.fetchone()[0])


def test_swap_keeps_the_old_tables_and_moves_objects(store: Any, s3: Any, admin: Account,
                                                     conn: Any, scratch: list[str],
                                                     uploads: list[str]) -> None:
    """The fixture dump (triggers, a procedure, a function, an event, a
    view) restored twice into a scratch "live" schema: first into a missing
    one, then over a modified one, whose tables and objects are kept."""
    live = "drtest_swap_live"
    staging = "drtest_swap_live__staging"
    scratch.extend([live, staging])
    plain = FIXTURE.read_bytes()
    stored = gzip.compress(plain)
    manifest = _manifest_for(stored, plain, "drtest_sample")
    key = _upload(s3, store, uploads, stored, "sample.sql.gz", manifest)

    def restore() -> None:
        report = restore_into_staging(store, key, admin, live, manifest=manifest,
                                      expect_database="drtest_sample", client=s3)
        assert report.staging_db == staging and report.problems == []

    # 1. The live schema does not exist: swap creates it, nothing is kept.
    restore()
    first = swap_in(conn, live, staging, keep_db=f"{live}__pre_restore_first")
    assert first.live_created and first.kept_tables == []
    assert not schema_exists(conn, staging)
    assert row_counts(conn, live) == manifest.tables
    assert {r.split(" ", 1)[0] for r in first.recreated} == {"TRIGGER", "VIEW", "PROCEDURE", "FUNCTION",
                                                              "EVENT"}
    drop_kept(conn, first.keep_db)

    # 2. Change live, restore again, swap: the changed tables are kept.
    with conn.cursor() as cur:
        cur.execute(f"DELETE FROM `{live}`.audit WHERE id > 10")
        cur.execute(f"INSERT INTO `{live}`.parent (id, name) VALUES (1000, 'added after the dump')")
    changed_audit = _count(conn, f"SELECT COUNT(*) FROM `{live}`.audit")
    restore()
    result = swap_in(conn, live, staging)
    keep = result.keep_db
    assert keep.startswith(f"{live}__pre_restore_") and keep.endswith("Z")
    assert sorted(result.kept_tables) == sorted(manifest.tables)
    # Live has the restored rows; the kept copy has the changed ones.
    assert row_counts(conn, live) == manifest.tables
    assert _count(conn, f"SELECT COUNT(*) FROM `{keep}`.audit") == changed_audit
    assert _count(conn, f"SELECT COUNT(*) FROM `{keep}`.parent WHERE id = 1000") == 1
    # Objects work in live: the trigger fires, routines and the view answer.
    with conn.cursor() as cur:
        cur.execute(f"INSERT INTO `{live}`.parent (id, name) VALUES (2000, 'fires the trigger')")
        assert _count(conn, f"SELECT COUNT(*) FROM `{live}`.audit") == manifest.tables["audit"] + 2
        cur.execute(f"SELECT `{live}`.twice(21)")
        assert cur.fetchone()[0] == 42
        cur.execute(f"CALL `{live}`.count_children(1, @n)")
        while cur.nextset():
            pass
        cur.execute("SELECT @n")
        assert cur.fetchone()[0] == 2
        cur.execute(f"SELECT COUNT(*) FROM `{live}`.parent_names")
        assert cur.fetchone()[0] == manifest.tables["parent"] + 1
        # The kept copy has its own trigger, routines and view; its event is disabled.
        cur.execute("SELECT EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA=%s",
                    (keep,))
        assert [r[0] for r in cur.fetchall()] == ["parent"]
        cur.execute("SELECT STATUS FROM information_schema.EVENTS WHERE EVENT_SCHEMA=%s", (keep,))
        assert [r[0] for r in cur.fetchall()] == ["DISABLED"]
        cur.execute(f"SELECT COUNT(*) FROM `{keep}`.parent_names")
        assert cur.fetchone()[0] == manifest.tables["parent"] + 1
    drop_kept(conn, keep)
    assert not schema_exists(conn, keep)
    with pytest.raises(Exception, match="not a kept"):
        drop_kept(conn, live)


def test_a_swap_blocked_by_an_open_transaction_names_it_and_moves_nothing(
        store: Any, s3: Any, admin: Account, conn: Any, scratch: list[str], uploads: list[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A service idle in an open transaction on a live table holds its
    metadata lock: the swap waits a bounded time, then stops with that
    connection named, the live tables and triggers as they were."""
    from dr_console.restore import swap

    live, staging = "drtest_swap_busy", "drtest_swap_busy__staging"
    scratch.extend([live, staging])
    plain = FIXTURE.read_bytes()
    stored = gzip.compress(plain)
    manifest = _manifest_for(stored, plain, "drtest_sample")
    key = _upload(s3, store, uploads, stored, "sample-busy.sql.gz", manifest)
    for _ in range(2):  # once to make the live schema, once more to have a staging to swap
        restore_into_staging(store, key, admin, live, manifest=manifest,
                             expect_database="drtest_sample", client=s3)
        if not schema_exists(conn, live):
            swap_in(conn, live, staging, keep_db=f"{live}__pre_restore_first")
            drop_kept(conn, f"{live}__pre_restore_first")
    service = pymysql.connect(host=admin.host, port=admin.port, user=admin.user,
                              password=admin.password.reveal() if admin.password else "",
                              autocommit=False, connect_timeout=5)
    try:
        with service.cursor() as cur:
            cur.execute("SELECT CONNECTION_ID()")
            holder = cur.fetchone()[0]
            cur.execute(f"SELECT COUNT(*) FROM `{live}`.parent")  # the transaction's lock
        monkeypatch.setattr(swap, "LOCK_WAIT_SECONDS", 1)
        with pytest.raises(RestoreError) as caught:
            swap_in(conn, live, staging)
        message = str(caught.value)
        assert f"the live tables of {live} stayed in use for 1s" in message
        assert f"connection {holder} (labadmin@" in message and "nothing was moved" in message
        assert schema_exists(conn, staging) and row_counts(conn, live) == manifest.tables
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA=%s",
                        (live,))
            assert cur.fetchone()[0] >= 1  # the live triggers are back
    finally:
        service.close()
    # The service gone, the same swap goes through.
    result = swap_in(conn, live, staging)
    drop_kept(conn, result.keep_db)
    assert row_counts(conn, live) == manifest.tables
