"""Runbook 2 against the real lab, as an operator runs it: real
`dr-console` processes with a private XDG state and cache.

The drill backs up the lab's real keystone and nova databases, DROPS them,
restores them with `dr-console run metadata-db`, and proves OpenStack works
again through openstacksdk. The crash test kills a restore with SIGKILL in
the middle of its load and resumes it. Both leave the lab as they found it:
OpenStack working, no stray schema, no extra object in the store."""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from labhelpers import lab_mariadb, stop_services_holding, wait_for_rows_in_staging

from dr_console.config import load_site
from dr_console.lab.seed_db import grant_database, revoke_database
from dr_console.restore.checks import checksum_tables
from dr_console.schema import Site

pytestmark = pytest.mark.lab

SCRATCH = "drtest_shop"
SCRATCH_LIKE = "drtest\\_shop"  # LIKE pattern: `_` alone would match any character
# Rewritten by nova-compute's heartbeat every few seconds: compared by rows, not checksum.
VOLATILE = {"nova": {"services"}}
KEY_LINE = re.compile(r"s3://(\S+?)/(mysql/\S+\.sql\.gz)")


# --------------------------------------------------------------------------
# Fixtures: a site file with the restore account, private XDG dirs


@pytest.fixture(scope="module")
def site_file(restore_site_file: Path) -> Path:
    return restore_site_file


@pytest.fixture(scope="module")
def site(site_file: Path) -> Site:
    return load_site(site_file)


@pytest.fixture
def xdg(tmp_path: Path) -> dict[str, str]:
    return {"XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CACHE_HOME": str(tmp_path / "cache")}


def cli(site_file: Path, xdg: dict[str, str], *args: str,
        timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, **xdg, COLUMNS="200")
    proc = subprocess.run([sys.executable, "-m", "dr_console", "--site", str(site_file), *args],
                          capture_output=True, text=True, timeout=timeout, env=env,
                          stdin=subprocess.DEVNULL)
    assert "Traceback" not in proc.stdout + proc.stderr
    return proc


def spawn(site_file: Path, xdg: dict[str, str], *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, **xdg, COLUMNS="200")
    return subprocess.Popen([sys.executable, "-m", "dr_console", "--site", str(site_file), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            stdin=subprocess.DEVNULL)


def admin(site: Site) -> Any:
    """The lab's admin: the disaster (DROP DATABASE), scratch databases and
    what the tests look at. The runs themselves use the site's accounts."""
    return lab_mariadb(site).connect(charset="utf8mb4")


def schemas(conn: Any, like: str) -> list[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE %s",
                    (like,))
        return sorted(row[0] for row in cur.fetchall())


def store_client(site: Site) -> Any:
    from dr_console.backup.s3 import store_client as make

    return make(site.stores[0])


def backup(site_file: Path, xdg: dict[str, str], db: str, made: list[str]) -> str:
    proc = cli(site_file, xdg, "backup", "db", db)
    assert proc.returncode == 0, proc.stderr
    match = KEY_LINE.search(proc.stdout)
    assert match, proc.stdout
    made.append(match.group(2))
    assert "sha256" in proc.stdout and "tables" in proc.stdout
    return f"s3://{match.group(1)}/{match.group(2)}"


def load_by_hand(site: Site, location: str, db: str) -> None:
    """The paper runbook, used only as a safety net if a test fails between
    DROP and restore: aws s3 cp | gunzip | mysql."""
    server = site.mysql[0]
    user, secret = server.restore_credentials()
    key = location.split("/", 3)[3]
    body = store_client(site).get_object(Bucket=site.stores[0].bucket, Key=key)["Body"].read()
    with tempfile.NamedTemporaryFile("w", suffix=".cnf") as cnf:
        cnf.write(f"[client]\nuser={user}\npassword=\"{secret.reveal() if secret else ''}\"\n")
        cnf.flush()
        subprocess.run(["mariadb", f"--defaults-extra-file={cnf.name}", "-h", server.host,
                        "-P", str(server.port), "-e", f"CREATE DATABASE IF NOT EXISTS `{db}`"],
                       check=True)
        subprocess.run(["mariadb", f"--defaults-extra-file={cnf.name}", "-h", server.host,
                        "-P", str(server.port), db], input=gzip.decompress(body), check=True)


@pytest.fixture
def objects(site: Site) -> Iterator[list[str]]:
    """Keys of the backups a test makes; removed (with manifests) afterwards."""
    made: list[str] = []
    yield made
    client = store_client(site)
    for key in made:
        for name in (key, key + ".manifest.json"):
            client.delete_object(Bucket=site.stores[0].bucket, Key=name)


def openstack(site: Site) -> Any:
    from dr_console.providers.openstack import OpenStackProvider
    from dr_console.schema import OpenStackCloud

    cloud = next(c for c in site.clouds if isinstance(c, OpenStackCloud))
    return OpenStackProvider(cloud).connect()


# --------------------------------------------------------------------------


def test_drill_drop_and_restore_keystone_and_nova(
        site: Site, site_file: Path, xdg: dict[str, str], objects: list[str]) -> None:
    conn = admin(site)
    before = {db: checksum_tables(conn, db) for db in ("keystone", "nova")}
    servers_before = sorted(s.name for s in openstack(site).compute.servers())
    copies = {db: backup(site_file, xdg, db, objects) for db in ("keystone", "nova")}

    dry = cli(site_file, xdg, "run", "metadata-db", "--db", "keystone", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    flat = " ".join(dry.stdout.split())
    for phrase in ("aws s3 cp", "| gunzip | mysql", "RENAME TABLE", "token issue",
                   "--defaults-extra-file=~/.my.cnf", "DESTRUCTIVE"):
        assert phrase in flat, phrase
    assert not schemas(conn, "keystone\\_\\_%")

    timings: dict[str, float] = {}
    try:
        stop_services_holding(conn, "keystone", "nova")
        with conn.cursor() as cur:
            # A lock still held would make DROP wait a year: fail in two minutes instead.
            cur.execute("SET SESSION lock_wait_timeout = 120")
            cur.execute("DROP DATABASE keystone")
            cur.execute("DROP DATABASE nova")
        for db in ("keystone", "nova"):
            started = time.monotonic()
            proc = cli(site_file, xdg, "run", "metadata-db", "--db", db, "--yes")
            timings[db] = time.monotonic() - started
            assert proc.returncode == 0, proc.stdout + proc.stderr
            assert copies[db] in proc.stdout  # the copy it chose is the fresh one
            assert "nothing was kept" in proc.stdout  # the database had been dropped
    finally:
        for db in ("keystone", "nova"):  # safety net: never leave the lab without them
            if not schemas(conn, db):
                load_by_hand(site, copies[db], db)
    print(f"drill restore times: {timings}")

    # OpenStack works again, on the restored data.
    sdk = openstack(site)
    assert sdk.authorize()
    assert sorted(s.name for s in sdk.compute.servers()) == servers_before
    for db in ("keystone", "nova"):
        after = checksum_tables(conn, db)
        assert after.keys() == before[db].keys()
        steady = [t for t in after if t not in VOLATILE.get(db, set())]
        assert {t: after[t] for t in steady} == {t: before[db][t] for t in steady}
    assert not schemas(conn, "keystone\\_\\_%") and not schemas(conn, "nova\\_\\_%")

    runs = json.loads(cli(site_file, xdg, "runs", "--json").stdout)
    assert [(r["runbook"], r["target"], r["outcome"]) for r in runs] == [
        ("metadata-db", "mysql:metadata-db/keystone", "succeeded"),
        ("metadata-db", "mysql:metadata-db/nova", "succeeded")]
    # The least-privilege restore account may bulk-load: the probe passed and
    # nova's tables came in by LOAD DATA LOCAL, not by replaying INSERTs.
    nova_run = Path(xdg["XDG_STATE_HOME"]) / "dr-console" / "runs" / f"{runs[1]['run_id']}.jsonl"
    records = [json.loads(line) for line in nova_run.read_text().splitlines()]
    load = [r["state"]["load"] for r in records if r.get("type") == "state" and "load" in r["state"]][-1]
    assert load["bulk_refused"] == "", load["bulk_refused"]
    bulk = [table for table, (path, _why) in load["paths"].items() if path == "bulk"]
    assert len(bulk) >= len(load["paths"]) // 2, load["paths"]
    # Resuming a finished run re-checks the world: the swap is seen done and
    # skipped, so no confirmation is needed even without a terminal.
    again = cli(site_file, xdg, "resume", runs[0]["run_id"])
    assert again.returncode == 0, again.stdout + again.stderr
    journal = Path(xdg["XDG_STATE_HOME"]) / "dr-console" / "runs" / f"{runs[0]['run_id']}.jsonl"
    skipped = [json.loads(line).get("step") for line in journal.read_text().splitlines()
               if '"StepSkipped"' in line]
    assert skipped == ["choose-copy", "restore-staging", "verify-staging", "swap-in"]
    secret = site.mysql[0].restore_credentials()[1]
    assert secret is not None and secret.reveal() not in journal.read_text()
    conn.close()


@pytest.fixture
def scratch(site: Site) -> Iterator[dict[str, int | None]]:
    """drtest_shop: the lab's shop plus a filler table, big enough that a
    load can be killed in its middle. Dropped afterwards with every schema
    a restore of it made."""
    conn = admin(site)
    grant_database(lab_mariadb(site), SCRATCH)  # the site covers it like the lab's own
    with conn.cursor() as cur:
        for name in schemas(conn, SCRATCH_LIKE + "%"):
            cur.execute(f"DROP DATABASE `{name}`")
        cur.execute(f"CREATE DATABASE {SCRATCH} CHARACTER SET utf8mb4")
        cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES "
                    "WHERE TABLE_SCHEMA = 'shop' AND TABLE_TYPE = 'BASE TABLE'")
        for (table,) in cur.fetchall():
            cur.execute(f"CREATE TABLE {SCRATCH}.`{table}` LIKE shop.`{table}`")
            cur.execute(f"INSERT INTO {SCRATCH}.`{table}` SELECT * FROM shop.`{table}`")
        cur.execute(f"CREATE TABLE {SCRATCH}.filler (id INT PRIMARY KEY, body VARCHAR(255)) "
                    "ENGINE=InnoDB")
        cur.execute(f"INSERT INTO {SCRATCH}.filler SELECT seq, CONCAT(SHA2(seq, 256), "
                    f"MD5(seq), MD5(seq + 1), SHA1(seq)) FROM {SCRATCH}.seq_1_to_400000")
    try:
        yield checksum_tables(conn, SCRATCH)
    finally:
        with conn.cursor() as cur:
            for name in schemas(conn, SCRATCH_LIKE + "%"):
                cur.execute(f"DROP DATABASE `{name}`")
        conn.close()
        revoke_database(lab_mariadb(site), SCRATCH)


def test_kill_9_mid_load_then_resume_ends_with_the_source_checksums(
        site: Site, site_file: Path, xdg: dict[str, str], objects: list[str],
        scratch: dict[str, int | None]) -> None:
    location = backup(site_file, xdg, SCRATCH, objects)
    conn = admin(site)
    proc = spawn(site_file, xdg, "run", "metadata-db", "--db", SCRATCH, "--yes")
    try:
        staging = wait_for_rows_in_staging(conn, proc, SCRATCH_LIKE + "\\_\\_staging\\_%")
        # Lock contention: a second process on the same target fails at once, naming the holder.
        second = cli(site_file, xdg, "run", "metadata-db", "--db", SCRATCH, "--yes", timeout=60)
        assert second.returncode == 2
        assert f"mysql:metadata-db/{SCRATCH} is locked by run" in second.stderr
        assert f"pid {proc.pid}" in second.stderr
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
    assert proc.returncode == -signal.SIGKILL

    runs = json.loads(cli(site_file, xdg, "runs", "--json").stdout)
    assert len(runs) == 1 and runs[0]["outcome"] == "interrupted"
    assert runs[0]["steps"]["restore-staging"] == "running"
    run_id = runs[0]["run_id"]
    assert staging.endswith(run_id[-6:])

    # Without a terminal and without --yes the swap is refused (exit 2), nothing changes...
    refused = cli(site_file, xdg, "resume", run_id)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "no terminal" in " ".join(refused.stdout.split())
    assert checksum_tables(conn, SCRATCH) == scratch
    # ...and with --yes the run ends: the half-loaded staging was loaded anew.
    done = cli(site_file, xdg, "resume", run_id, "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert location in done.stdout
    assert checksum_tables(conn, SCRATCH) == scratch
    kept = schemas(conn, SCRATCH_LIKE + "\\_\\_pre\\_restore\\_%")
    assert len(kept) == 1 and schemas(conn, SCRATCH_LIKE + "\\_\\_staging%") == []
    assert checksum_tables(conn, kept[0]) == scratch  # what it replaced, kept intact

    # drop-kept needs its typed name; without a terminal only --yes does it.
    no = cli(site_file, xdg, "drop-kept", kept[0])
    assert no.returncode == 2 and schemas(conn, kept[0]) == kept
    assert cli(site_file, xdg, "drop-kept", f"{SCRATCH}").returncode != 0  # not a kept schema
    yes = cli(site_file, xdg, "drop-kept", kept[0], "--yes")
    assert yes.returncode == 0, yes.stderr
    assert schemas(conn, kept[0]) == []
    runs = json.loads(cli(site_file, xdg, "runs", "--json").stdout)
    assert runs[0]["outcome"] == "succeeded"
    conn.close()


def test_plain_dump_without_manifest_needs_confirmation_then_restores(
        site: Site, site_file: Path, xdg: dict[str, str], lab_state: dict[str, Any]) -> None:
    """The lab's `shop` dumps were made by another tool (no manifest): the
    operator is told the copy is unverified and must confirm; with the
    confirmation the restore completes and the data equal the live ones."""
    client = store_client(site)
    store = site.stores[0]
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=store.bucket, Prefix="mysql/shop/")
            .get("Contents", []) if o["Key"].endswith(".sql")]
    assert keys, "the lab seeded no plain shop dump"
    newest = sorted(keys)[-1]
    copy = f"s3://{store.bucket}/{newest}"
    conn = admin(site)
    before = checksum_tables(conn, "shop")

    refused = cli(site_file, xdg, "run", "metadata-db", "--db", "shop", "--copy", copy)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "unverified" in (refused.stdout + refused.stderr).lower()
    assert checksum_tables(conn, "shop") == before
    assert schemas(conn, "shop\\_\\_staging%") == []

    done = cli(site_file, xdg, "run", "metadata-db", "--db", "shop", "--copy", copy, "--yes")
    try:
        assert done.returncode == 0, done.stdout + done.stderr
        assert checksum_tables(conn, "shop") == before
        assert len(schemas(conn, "shop\\_\\_pre\\_restore%")) == 1
    finally:
        with conn.cursor() as cur:
            for kept in schemas(conn, "shop\\_\\_pre\\_restore%") + schemas(conn, "shop\\_\\_staging%"):
                cur.execute(f"DROP DATABASE `{kept}`")
