"""Helpers shared by the lab's restore tests (imported as `labhelpers`:
pytest puts this folder on sys.path)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from labenv import lab_dir

from dr_console.backup import timestamp
from dr_console.backup.dump import backup_database
from dr_console.backup.s3 import store_client
from dr_console.lab import moto, procs, sitefile
from dr_console.lab.mariadb import MariaDB
from dr_console.manifest import Manifest
from dr_console.mysqldb import Account, connect
from dr_console.restore.checks import checksum_tables
from dr_console.schema import Site, Store

# The scratch databases and the private store of conftest's fixtures.
DB = "drtest_choice"
OTHER = "drtest_choice_other"
BUCKET = "dr-private"


def lab_mariadb(site: Site) -> MariaDB:
    """The lab's server as its admin reaches it: for what no site account
    may do (scratch databases, the grants that cover them)."""
    server = site.mysql[0]
    # From the lab itself: `site` may be a copy of its site file elsewhere.
    secret = sitefile.admin_password_file(lab_dir()).read_text().strip()
    return MariaDB(port=server.port, socket="", admin_user="labadmin", admin_password=secret)


def wait_for_rows_in_staging(conn: Any, proc: subprocess.Popen[str], like: str,
                             timeout: float = 60) -> str:
    """Wait until a restore run by `proc` has loaded rows into a staging
    schema whose name matches the LIKE pattern `like`; return its name."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        with conn.cursor() as cur:
            cur.execute("SELECT TABLE_SCHEMA, SUM(TABLE_ROWS) FROM information_schema.TABLES "
                        "WHERE TABLE_SCHEMA LIKE %s GROUP BY TABLE_SCHEMA", (like,))
            row = cur.fetchone()
        if row and row[1]:
            return str(row[0])
        time.sleep(0.05)
    raise AssertionError("the load never started")


def sql(account: Account, *statements: str) -> None:
    conn = connect(account)
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


def checksums(account: Account, db: str) -> dict[str, int | None]:
    conn = connect(account)
    try:
        return checksum_tables(conn, db)
    finally:
        conn.close()


def schemas(account: Account, like: str) -> list[str]:
    conn = connect(account)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE %s",
                        (like,))
            return sorted(row[0] for row in cur.fetchall())
    finally:
        conn.close()


def run_cli(site_file: Path, xdg: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`dr-console --site SITE ARGS` as a real process, with private XDG dirs."""
    env = dict(os.environ, **xdg, COLUMNS="250")
    proc = subprocess.run([sys.executable, "-m", "dr_console", "--site", str(site_file), *args],
                          capture_output=True, text=True, timeout=300, env=env,
                          stdin=subprocess.DEVNULL)
    assert "Traceback" not in proc.stdout + proc.stderr
    return proc


def flat(proc: subprocess.CompletedProcess[str]) -> str:
    """stdout and stderr with every run of whitespace as one space (Rich wraps)."""
    return " ".join((proc.stdout + proc.stderr).split())


class PrivateStore:
    """A moto S3 server in its own directory, on a port of its own, started
    and stopped by the PID recorded there."""

    def __init__(self, where: Path) -> None:
        self.where = where
        where.mkdir(parents=True, exist_ok=True)
        self.port = procs.free_port()
        self.credentials = moto.write_credentials(where)
        self.store = Store(name="private", bucket=BUCKET, endpoint_url=moto.endpoint(self.port),
                           credentials_file=self.credentials, timeout=5)

    def start(self) -> None:
        service = moto.start(self.where, "private-store", self.port)
        procs.wait_for_port(service, self.port, timeout=60)
        self.client().create_bucket(Bucket=BUCKET)

    def stop(self) -> None:
        procs.stop_all(self.where)

    def client(self) -> Any:
        return store_client(self.store)

    def dump(self, admin: Account, db: str, when: datetime, name: str = DB) -> tuple[str, Manifest]:
        """A dump of `db` (by dr-console's own backup code, with its manifest)
        stored under `name`'s key for the time `when`."""
        key = f"mysql/{name}/{name}-{timestamp(when)}.sql.gz"
        return backup_database(admin, db, self.store, key, client=self.client(), created_at=when)


def stop_services_holding(conn: Any, *dbs: str) -> list[int]:
    """What stopping the services does before a real restore: end the
    connections that sit idle in an open transaction on these databases
    (the lab's Keystone now and then leaves one, and a DROP DATABASE or a
    swap would wait on its metadata lock). Their pools reconnect. Returns
    the connection ids ended."""
    marks = ", ".join(["%s"] * len(dbs))
    with conn.cursor() as cur:
        cur.execute("SELECT p.ID FROM information_schema.INNODB_TRX t JOIN information_schema.PROCESSLIST p "
                    f"ON p.ID = t.trx_mysql_thread_id WHERE p.DB IN ({marks}) AND p.COMMAND = 'Sleep' "
                    "AND p.ID <> CONNECTION_ID()", dbs)
        ended = [int(row[0]) for row in cur.fetchall()]
        for thread in ended:
            with contextlib.suppress(Exception):  # it ended on its own meanwhile
                cur.execute(f"KILL {thread}")
    return ended
