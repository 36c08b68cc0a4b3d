"""The lab's MariaDB accounts hold only what dr-console needs (README,
"Accounts and least privilege"), and that is enough: against the real
server, nothing mocked.

- the backup account (the site's `user`) cannot read mysql.user or
  mysql.global_priv, nor write anything, yet the inventory finds every
  covered database with its table statistics and `backup db` dumps one
  with a view, a trigger, a routine and an event, rows counted right;
- the restore account (`restore_user`) cannot read them either, nor name
  another account as DEFINER, yet `run metadata-db` restores that
  database whole: tables, rows, and its objects, still working;
- neither account can touch a database the site does not cover."""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest
from labhelpers import lab_mariadb

from dr_console.backup.s3 import store_client
from dr_console.config import load_site
from dr_console.lab import seed_db
from dr_console.manifest import Manifest, manifest_key
from dr_console.providers.mysql import MySQLProvider
from dr_console.restore.checks import checksum_tables
from dr_console.schema import Site

pytestmark = pytest.mark.lab

UNCOVERED = "drtest_uncovered"
KEY_LINE = re.compile(r"s3://(\S+?)/(mysql/\S+\.sql\.gz)")
# Client errors: table access denied, database access denied, needs SET USER/SUPER.
TABLE_DENIED, DB_DENIED, NEEDS_SET_USER = 1142, 1044, 1227


@pytest.fixture(scope="module")
def site(restore_site_file: Path) -> Site:
    return load_site(restore_site_file)


def backup_conn(site: Site) -> Any:
    server = site.mysql[0]
    secret = server.load_secret()
    assert secret is not None
    return pymysql.connect(host=server.host, port=server.port, user=server.user,
                           password=secret.reveal(), autocommit=True)


def restore_conn(site: Site) -> Any:
    server = site.mysql[0]
    user, secret = server.restore_credentials()
    assert secret is not None
    return pymysql.connect(host=server.host, port=server.port, user=user,
                           password=secret.reveal(), autocommit=True)


def denied(conn: Any, sql: str) -> tuple[int, str]:
    """The server's error for `sql`, which must fail."""
    with conn.cursor() as cur, pytest.raises(pymysql.err.MySQLError) as caught:
        cur.execute(sql)
    code, message = caught.value.args[0], str(caught.value.args[1])
    return code, message


def cli(site_file: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"),
               XDG_CACHE_HOME=str(tmp_path / "cache"), COLUMNS="200")
    proc = subprocess.run([sys.executable, "-m", "dr_console", "--site", str(site_file), *args],
                          capture_output=True, text=True, timeout=300, env=env,
                          stdin=subprocess.DEVNULL)
    assert "Traceback" not in proc.stdout + proc.stderr
    return proc


@pytest.fixture(scope="module")
def uncovered(site: Site) -> Iterator[str]:
    """A database on the same server that the site does not cover."""
    admin = lab_mariadb(site)
    with admin.connect() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {UNCOVERED}")
        cur.execute(f"CREATE DATABASE {UNCOVERED}")
        cur.execute(f"CREATE TABLE {UNCOVERED}.secrets (id INT PRIMARY KEY, v VARCHAR(20))")
        cur.execute(f"INSERT INTO {UNCOVERED}.secrets VALUES (1, 'not yours')")
    yield UNCOVERED
    with admin.connect() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {UNCOVERED}")


@pytest.fixture
def objects(site: Site) -> Iterator[list[str]]:
    """Keys of the backups a test makes; removed (with manifests) afterwards."""
    made: list[str] = []
    yield made
    client = store_client(site.stores[0])
    for key in made:
        for name in (key, manifest_key(key)):
            client.delete_object(Bucket=site.stores[0].bucket, Key=name)


# --------------------------------------------------------------------------
# The backup account


def test_the_backup_account_cannot_read_the_password_hashes(site: Site) -> None:
    with backup_conn(site) as conn:
        for table in ("user", "global_priv"):
            code, message = denied(conn, f"SELECT * FROM mysql.{table}")
            assert code == TABLE_DENIED and f"`mysql`.`{table}`" in message, message


def test_the_backup_account_writes_nothing_and_sees_only_what_the_site_covers(
        site: Site, uncovered: str) -> None:
    with backup_conn(site) as conn:
        assert denied(conn, f"SELECT * FROM {uncovered}.secrets")[0] == TABLE_DENIED
        assert denied(conn, "CREATE DATABASE drtest_other")[0] == DB_DENIED
        assert denied(conn, "INSERT INTO shop.products (sku, title, price) "
                            "VALUES ('X', 'x', 1)")[0] == TABLE_DENIED
        assert denied(conn, "DROP TABLE shop.orders")[0] == TABLE_DENIED
        assert denied(conn, "LOCK TABLES shop.orders READ")[0] == DB_DENIED  # not needed
        with conn.cursor() as cur:
            cur.execute("SHOW DATABASES")
            visible = {row[0] for row in cur.fetchall()} - {"information_schema"}
            # `mysql` shows for its one table grant: routine bodies, mysql.proc.
            cur.execute("SHOW TABLES FROM mysql")
            assert cur.fetchall() == (("proc",),)
    assert visible == {*seed_db.COVERED_DBS, "mysql"}


def test_inventory_finds_every_covered_database_with_its_statistics(
        site: Site, uncovered: str) -> None:
    found = MySQLProvider(site.mysql[0]).discover()
    assert found.problems == {}
    tables = {a.name: int(a.attributes["tables"]) for a in found.assets}
    assert set(tables) == set(seed_db.COVERED_DBS)  # not the uncovered one
    with lab_mariadb(site).connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT table_schema, COUNT(*) FROM information_schema.tables GROUP BY 1")
        expected = {str(r[0]): int(r[1]) for r in cur.fetchall()}
    assert tables == {name: expected[name] for name in tables}


def test_backup_db_of_a_database_with_view_trigger_routine_and_event(
        site: Site, restore_site_file: Path, tmp_path: Path, objects: list[str]) -> None:
    proc = cli(restore_site_file, tmp_path, "backup", "db", seed_db.APP_DB)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    match = KEY_LINE.search(proc.stdout)
    assert match, proc.stdout
    key = match.group(2)
    objects.append(key)
    client = store_client(site.stores[0])
    bucket = site.stores[0].bucket
    manifest = Manifest.from_json(client.get_object(Bucket=bucket, Key=manifest_key(key))
                                  ["Body"].read())
    assert manifest.tables == seed_db.table_counts(lab_mariadb(site), seed_db.APP_DB)
    dump = gzip.decompress(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    # mariadb-dump leaves out, without a word, the triggers and routines an
    # account may not see: each must be in the dump.
    for needle in (b"VIEW `order_totals` AS select", b"TRIGGER products_stock_floor",
                   b"PROCEDURE `customer_order_count`", b"EVENT `purge_cancelled`",
                   b"-- Dump completed"):
        assert needle in dump, needle


# --------------------------------------------------------------------------
# The restore account


def test_the_restore_account_cannot_read_mysql_nor_name_another_definer(site: Site) -> None:
    with restore_conn(site) as conn:
        for table in ("user", "global_priv", "proc"):
            code, message = denied(conn, f"SELECT * FROM mysql.{table}")
            assert code == TABLE_DENIED and f"`mysql`.`{table}`" in message, message
        # SET USER would let it define a routine as labadmin and read
        # mysql.global_priv through it: it does not have it.
        code, message = denied(conn, "CREATE DEFINER=`labadmin`@`127.0.0.1` PROCEDURE "
                                     "shop__staging_x.p() SELECT 1")
        assert code in (NEEDS_SET_USER, DB_DENIED), message


def test_the_restore_account_cannot_touch_a_database_the_site_does_not_cover(
        site: Site, uncovered: str) -> None:
    with restore_conn(site) as conn:
        for sql in ("CREATE DATABASE other", f"DROP DATABASE {uncovered}",
                    f"CREATE DATABASE {uncovered}__staging_1",
                    "CREATE DATABASE shop_other", "CREATE DATABASE shop__staging"):
            code, message = denied(conn, sql)
            assert code == DB_DENIED, (sql, message)
        assert denied(conn, f"SELECT * FROM {uncovered}.secrets")[0] == TABLE_DENIED
        assert denied(conn, f"RENAME TABLE {uncovered}.secrets TO shop.secrets")[0] \
            == TABLE_DENIED
    with lab_mariadb(site).connect() as conn, conn.cursor() as cur:
        cur.execute(f"SELECT v FROM {uncovered}.secrets")
        assert cur.fetchall() == (("not yours",),)


def test_run_metadata_db_restores_views_triggers_routines_and_events(
        site: Site, restore_site_file: Path, tmp_path: Path, objects: list[str]) -> None:
    """shop, from a fresh `backup db`, restored whole by the restore account."""
    db = seed_db.APP_DB
    admin = lab_mariadb(site)
    with admin.connect() as conn, conn.cursor() as cur:
        before = checksum_tables(conn, db)
        definers = seed_db.object_definers(cur, db)
    assert set(definers) == {(kind, name) for kind, name, _ in seed_db.SHOP_OBJECTS}

    made = cli(restore_site_file, tmp_path, "backup", "db", db)
    assert made.returncode == 0, made.stdout + made.stderr
    match = KEY_LINE.search(made.stdout)
    assert match, made.stdout
    objects.append(match.group(2))
    copy = f"s3://{match.group(1)}/{match.group(2)}"

    run = cli(restore_site_file, tmp_path, "run", "metadata-db", "--db", db, "--copy", copy,
              "--yes")
    kept = re.findall(rf"{db}__pre_restore_\d{{8}}T\d{{6}}Z", run.stdout)
    try:
        assert run.returncode == 0, run.stdout + run.stderr
        assert "triggers/views/routines recreated: 4" in " ".join(run.stdout.split())
        with admin.connect() as conn, conn.cursor() as cur:
            assert checksum_tables(conn, db) == before
            assert seed_db.object_definers(cur, db) == definers
            cur.execute(f"SELECT COUNT(*) FROM {db}.order_totals")
            assert cur.fetchone()[0] > 0
            cur.execute(f"CALL {db}.customer_order_count(1)")
            assert cur.fetchall()
            cur.execute("START TRANSACTION")
            cur.execute(f"UPDATE {db}.products SET stock = -5 WHERE id = 1")
            cur.execute(f"SELECT stock FROM {db}.products WHERE id = 1")
            assert cur.fetchone()[0] == 0  # the trigger fired
            cur.execute("ROLLBACK")
            cur.execute("SELECT STATUS FROM information_schema.EVENTS "
                        "WHERE EVENT_SCHEMA = %s AND EVENT_NAME = 'purge_cancelled'", (db,))
            assert cur.fetchone()[0] == "DISABLED"
    finally:
        # The restore account drops what it kept, as an operator would.
        for schema in sorted(set(kept)):
            dropped = cli(restore_site_file, tmp_path, "drop-kept", schema, "--yes")
            assert dropped.returncode == 0, dropped.stdout + dropped.stderr
    with admin.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA "
                    "WHERE SCHEMA_NAME LIKE 'shop\\_\\_%'")
        assert cur.fetchall() == ()
