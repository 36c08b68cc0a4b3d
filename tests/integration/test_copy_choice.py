"""A restore must not trust an inventory that could not see the stores.

Against the lab's real MariaDB and a private moto S3 store this module
starts and stops by PID (so "the store was down, then came back" is real:
moto forgets its objects when it restarts, as the lab's does):

- status runs while the store is down, the store comes back with a good
  dump, and the restore at once finds it (it gathers anew, and says so);
- the chosen copy is deleted between the choice and the download: the run
  takes the next good copy (with --yes, journaled), or stops if refused;
- a store holding only broken dumps: the run lists each with its reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from dr_console.backup import timestamp
from dr_console.backup.dump import backup_database
from dr_console.backup.s3 import store_client
from dr_console.config import load_site
from dr_console.lab import moto, procs
from dr_console.manifest import Manifest, manifest_key
from dr_console.mysqldb import Account, connect
from dr_console.restore.checks import checksum_tables
from dr_console.runbooks import Engine, Outcome, events, registry
from dr_console.runbooks.journal import read_records, runs_dir
from dr_console.schema import Secret, Site, Store

pytestmark = pytest.mark.lab

DB = "drtest_choice"
OTHER = "drtest_choice_other"
BUCKET = "dr-private"


# --------------------------------------------------------------------------
# The database, the private store, the site file


@pytest.fixture(scope="module")
def admin(lab_site: Site) -> Account:
    server = lab_site.mysql[0]
    secret = (Path(lab_site.path).parent / "secrets" / "mariadb-admin").read_text().strip()
    return Account(server.host, server.port, "labadmin", Secret(secret), "lab")


def _sql(admin: Account, *statements: str) -> None:
    conn = connect(admin)
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


def _checksums(admin: Account, db: str) -> dict[str, int | None]:
    conn = connect(admin)
    try:
        return checksum_tables(conn, db)
    finally:
        conn.close()


def _schemas(admin: Account, like: str) -> list[str]:
    conn = connect(admin)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE %s",
                        (like,))
            return sorted(row[0] for row in cur.fetchall())
    finally:
        conn.close()


@pytest.fixture
def databases(admin: Account) -> Iterator[dict[str, int | None]]:
    """DB with a few rows (and OTHER, a different database); their leftovers
    (kept and staging schemas) are dropped afterwards."""
    _sql(admin, *(f"DROP DATABASE IF EXISTS `{name}`" for name in (DB, OTHER)))
    for name in (DB, OTHER):
        _sql(admin, f"CREATE DATABASE `{name}`",
             f"CREATE TABLE `{name}`.items (id INT PRIMARY KEY, label VARCHAR(64)) ENGINE=InnoDB",
             f"INSERT INTO `{name}`.items SELECT seq, CONCAT('{name}-', seq) FROM `{name}`.seq_1_to_300")
    yield _checksums(admin, DB)
    for name in _schemas(admin, "drtest\\_choice%"):
        _sql(admin, f"DROP DATABASE IF EXISTS `{name}`")


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


@pytest.fixture
def private(tmp_path: Path) -> Iterator[PrivateStore]:
    store = PrivateStore(tmp_path / "store")
    yield store
    store.stop()


@pytest.fixture
def site_file(tmp_path: Path, lab_site: Site, private: PrivateStore) -> Path:
    lab = Path(lab_site.path).parent
    server = lab_site.mysql[0]
    data = {
        "site": "copy-choice",
        "stores": [{"name": "private", "bucket": BUCKET, "endpoint_url": private.store.endpoint_url,
                    "credentials_file": str(private.credentials), "timeout": "5s"}],
        "mysql": [{"name": "lab-db", "host": server.host, "port": server.port, "user": server.user,
                   "password_file": str(server.password_file), "databases": [DB],
                   "restore_user": "labadmin",
                   "restore_password_file": str(lab / "secrets" / "mariadb-admin")}],
        "copies": [{"store": "private", "pattern": "mysql/{asset}/{asset}-{timestamp}.sql.gz",
                    "kind": "sql-dump", "asset_kind": "database"}],
        "rules": [{"name": "scratch", "class": "metadata", "match": {"provider": "mysql"}}],
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {"XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def cli(site_file: Path, xdg: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, **xdg, COLUMNS="250")
    proc = subprocess.run([sys.executable, "-m", "dr_console", "--site", str(site_file), *args],
                          capture_output=True, text=True, timeout=300, env=env,
                          stdin=subprocess.DEVNULL)
    assert "Traceback" not in proc.stdout + proc.stderr
    return proc


def flat(proc: subprocess.CompletedProcess[str]) -> str:
    return " ".join((proc.stdout + proc.stderr).split())


def dump_into(private: PrivateStore, admin: Account, db: str, when: datetime,
              name: str = DB) -> tuple[str, Manifest]:
    """A dump of `db` (by dr-console's own backup code, with its manifest)
    stored under `name`'s key for the time `when`."""
    key = f"mysql/{name}/{name}-{timestamp(when)}.sql.gz"
    return backup_database(admin, db, private.store, key, client=private.client(), created_at=when)


# --------------------------------------------------------------------------


def test_status_while_the_store_is_down_does_not_hide_the_copy_that_arrived(
        databases: dict[str, int | None], private: PrivateStore, site_file: Path,
        xdg: dict[str, str], admin: Account) -> None:
    down = cli(site_file, xdg, "status", "--json")
    problems = json.loads(down.stdout)["problems"]
    assert [p["source"] for p in problems] == ["private"], problems

    private.start()  # the store is back: fresh and seeded anew, as after an outage
    dump_into(private, admin, DB, datetime.now(UTC))
    _sql(admin, f"INSERT INTO `{DB}`.items VALUES (9001, 'written after the dump')")

    run = cli(site_file, xdg, "run", "metadata-db", "--db", DB, "--yes")
    text = flat(run)
    assert run.returncode == 0, text
    assert "store private could not be read: gathering the inventory anew" in text
    assert _checksums(admin, DB) == databases  # the dump's data, not the later row


def test_a_copy_deleted_between_choice_and_download_is_replaced_by_the_next_good_one(
        databases: dict[str, int | None], private: PrivateStore, site_file: Path,
        xdg: dict[str, str], admin: Account) -> None:
    private.start()
    older, _ = dump_into(private, admin, DB, datetime.now(UTC) - timedelta(hours=2))
    newer, _ = dump_into(private, admin, DB, datetime.now(UTC))
    site = load_site(site_file)
    runbook = registry.build("metadata-db", site, {"db": DB})
    sink = DeletingSink(private, refuse=False)
    engine = Engine(runbook, sink, assume_yes=True)
    sink.engine = engine
    result = engine.run()
    assert result.outcome is Outcome.SUCCEEDED, result.message
    assert sink.deleted == [newer]
    assert result.state["copy"]["key"] == older
    logs = [r.get("text", "") for r in read_records(runs_dir() / f"{result.run_id}.jsonl")
            if r.get("event") == "LogLine"]
    assert any(f"no such object in store private (bucket {BUCKET}, key {newer})" in line
               for line in logs), logs
    assert any(line.startswith("confirmed by --yes:") and older in line for line in logs), logs
    assert _checksums(admin, DB) == databases


def test_refusing_the_next_copy_changes_nothing(
        databases: dict[str, int | None], private: PrivateStore, site_file: Path,
        xdg: dict[str, str], admin: Account) -> None:
    private.start()
    dump_into(private, admin, DB, datetime.now(UTC) - timedelta(hours=2))
    dump_into(private, admin, DB, datetime.now(UTC))
    _sql(admin, f"INSERT INTO `{DB}`.items VALUES (9002, 'live change')")
    live = _checksums(admin, DB)
    sink = DeletingSink(private, refuse=True)
    engine = Engine(registry.build("metadata-db", load_site(site_file), {"db": DB}), sink)
    sink.engine = engine
    result = engine.run()
    assert result.outcome is Outcome.REFUSED
    assert sink.asked and "is gone; restore drtest_choice from" in sink.asked[0]
    assert _checksums(admin, DB) == live
    assert _schemas(admin, "drtest\\_choice\\_\\_%") == []  # no staging, nothing kept


def test_a_store_with_only_broken_dumps_says_why_each_cannot_be_used(
        databases: dict[str, int | None], private: PrivateStore, site_file: Path,
        xdg: dict[str, str], admin: Account) -> None:
    private.start()
    client = private.client()
    now = datetime.now(UTC)
    corrupt, manifest = dump_into(private, admin, DB, now - timedelta(hours=3))
    tampered = json.loads(manifest.to_json()) | {"sha256": "0" * 64}
    client.put_object(Bucket=BUCKET, Key=manifest_key(corrupt), Body=json.dumps(tampered).encode())
    truncated, _ = dump_into(private, admin, DB, now - timedelta(hours=2))
    body = client.get_object(Bucket=BUCKET, Key=truncated)["Body"].read()
    client.put_object(Bucket=BUCKET, Key=truncated, Body=body[: len(body) // 2])
    wrong, _ = dump_into(private, admin, OTHER, now - timedelta(hours=1), name=DB)

    run = cli(site_file, xdg, "run", "metadata-db", "--db", DB, "--yes")
    text = flat(run)
    assert run.returncode == 1, text
    assert f"no usable sql-dump of {DB}" in text and "found 3:" in text
    for key, why in ((corrupt, "sha256 mismatch"), (truncated, "size mismatch"),
                     (wrong, f"dump is of database '{OTHER}', expected '{DB}'")):
        assert f"s3://{BUCKET}/{key} — made" in text, key
        assert why in text, why
    assert "none of them can be restored" in text
    assert _checksums(admin, DB) == databases
    assert _schemas(admin, "drtest\\_choice\\_\\_%") == []


class DeletingSink:
    """Deletes the chosen copy from the store as soon as the choice is made
    (someone's lifecycle rule, at the worst moment); answers a confirmation
    with `not refuse` and records what it was asked."""

    def __init__(self, private: PrivateStore, refuse: bool) -> None:
        self.private = private
        self.refuse = refuse
        self.engine: Engine | None = None
        self.deleted: list[str] = []
        self.asked: list[str] = []
        self._reason = ""

    def emit(self, event: events.Event) -> None:
        if isinstance(event, events.NeedsConfirmation):
            self._reason = event.reason
        if isinstance(event, events.StepDone) and event.step == "choose-copy" and not self.deleted:
            assert self.engine is not None
            key = self.engine.ctx.state["copy"]["key"]
            self.private.client().delete_object(Bucket=BUCKET, Key=key)
            self.deleted.append(key)

    def confirm(self, step: events.StepInfo, expected_text: str) -> bool:
        self.asked.append(self._reason)
        return not self.refuse
