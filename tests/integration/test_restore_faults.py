"""Faults during a metadata-database restore, as an operator meets them:
the real `dr-console run metadata-db` against PRIVATE MariaDB servers
(started for this module on loopback, stopped by PID), with a dump in the
lab's offsite store under `drtest/`.

1. the server restarts in the middle of the load;
2. the server's tablespace fills up while loading the staging schema;
3. the restore account's password is wrong.

Each must end with one clear sentence (no traceback), the live database
exactly as it was (CHECKSUM TABLE of every table), nothing left behind, and
a retry that works once the cause is gone. The lab's own MariaDB is only
read (its `shop` database is copied); it is never restarted."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from labhelpers import wait_for_rows_in_staging

from dr_console.backup.dump import backup_database
from dr_console.backup.s3 import store_client
from dr_console.lab import mariadb, procs
from dr_console.manifest import manifest_key
from dr_console.mysqldb import Account
from dr_console.restore.checks import checksum_tables
from dr_console.schema import Secret, Site

pytestmark = pytest.mark.lab

DB = "drtest_faults"
LIKE = "drtest\\_faults"  # LIKE pattern: `_` alone would match any character
SERVER = "private-db"
# Enough rows that a load takes seconds (a restart can land in its middle),
# and that the staging copy cannot fit in the capped tablespace below.
SOURCE_FILLER = 400_000
SMALL_FILLER = 2_000
CAPPED = ["--innodb-file-per-table=0", "--innodb-data-file-path=ibdata1:12M:autoextend:max:40M"]
ROOMY = ["--innodb-file-per-table=0", "--innodb-data-file-path=ibdata1:12M:autoextend:max:2G"]


# --------------------------------------------------------------------------
# Private servers and their databases


class Private:
    """A private MariaDB in its own directory: started, restarted and
    stopped by the PID recorded there, never by name."""

    def __init__(self, where: Path, extra_args: list[str] | None = None) -> None:
        self.where = where
        self.extra_args = list(extra_args or [])
        self.server = mariadb.start(where, extra_args=self.extra_args)
        self.port = self.server.port
        self.secret_file = where / "secrets" / "mariadb-admin"

    def connect(self, **kwargs: Any) -> Any:
        return self.server.connect(charset="utf8mb4", read_timeout=300, **kwargs)

    def stop(self) -> None:
        procs.stop_service(self.where, "mariadb")

    def restart(self, extra_args: list[str] | None = None) -> None:
        """Stop by PID and start again on the same port and datadir."""
        self.stop()
        if extra_args is not None:
            self.extra_args = list(extra_args)
        self.server = mariadb.start(self.where, port=self.port, extra_args=self.extra_args)

    def close(self) -> None:
        procs.stop_all(self.where)
        shutil.rmtree(self.where / "mariadb", ignore_errors=True)  # a few hundred MB of datadir

    def params(self) -> Account:
        return Account(host=procs.LOOPBACK, port=self.port, user=self.server.admin_user,
                                password=Secret(self.server.admin_password), name=SERVER)


@pytest.fixture(scope="module")
def lab_admin(lab_site: Site) -> Account:
    server = lab_site.mysql[0]
    secret = (Path(lab_site.path).parent / "secrets" / "mariadb-admin").read_text().strip()
    return Account(host=server.host, port=server.port, user="labadmin",
                            password=Secret(secret), name="lab")


def _defaults_file(params: Account, directory: Path) -> Path:
    path = directory / f"client-{params.port}.cnf"
    secret = params.password.reveal() if params.password else ""
    path.write_text(f"[client]\nuser={params.user}\npassword=\"{secret}\"\n")
    path.chmod(0o600)
    return path


def make_live_db(private: Private, lab_admin: Account, filler_rows: int) -> dict[str, Any]:
    """DB on the private server: the lab's `shop` (tables, view, trigger,
    routine) plus a filler table. Returns its checksums."""
    with tempfile.TemporaryDirectory() as tmp:
        source = _defaults_file(lab_admin, Path(tmp))
        target = _defaults_file(private.params(), Path(tmp))
        with private.connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {DB} CHARACTER SET utf8mb4")
        dump = subprocess.run(
            ["mariadb-dump", f"--defaults-extra-file={source}", "-h", lab_admin.host,
             "-P", str(lab_admin.port), "--protocol=TCP", "--single-transaction", "--routines",
             "--triggers", "--hex-blob", "shop"], capture_output=True, check=True, timeout=120)
        subprocess.run(["mariadb", f"--defaults-extra-file={target}", "-h", procs.LOOPBACK,
                        "-P", str(private.port), "--protocol=TCP", DB],
                       input=dump.stdout, capture_output=True, check=True, timeout=120)
    with private.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {DB}.filler (id INT PRIMARY KEY, body VARCHAR(255)) ENGINE=InnoDB")
        cur.execute(f"INSERT INTO {DB}.filler SELECT seq, CONCAT(SHA2(seq, 256), MD5(seq), "
                    f"MD5(seq + 1), SHA1(seq)) FROM {DB}.seq_1_to_{filler_rows}")
        return checksum_tables(conn, DB)


def schemas(conn: Any, like: str = "%") -> list[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE %s",
                    (like,))
        return sorted(row[0] for row in cur.fetchall())


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory, lab_site: Site,
           lab_admin: Account) -> Iterator[dict[str, Any]]:
    """Private server A holding DB (shop + 400k filler rows), and its dump in
    the offsite store under drtest/ (removed afterwards, with its manifest)."""
    private = Private(tmp_path_factory.mktemp("mariadb-a"))
    store = lab_site.store("offsite")
    client = store_client(store)
    made: list[str] = []
    try:
        checksums = make_live_db(private, lab_admin, SOURCE_FILLER)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        key, manifest = backup_database(private.params(), DB, store,
                                        f"drtest/faults/{DB}-{stamp}.sql.gz", client=client)
        made.append(key)
        assert manifest.tables.get("filler") == SOURCE_FILLER
        yield {"private": private, "location": f"s3://{store.bucket}/{key}", "checksums": checksums}
    finally:
        for key in made:
            for name in (key, manifest_key(key)):
                client.delete_object(Bucket=store.bucket, Key=name)
        private.close()


def write_site(lab_site: Site, private: Private, directory: Path,
               restore_password_file: Path | None = None) -> Path:
    """A site file with the lab's offsite store and one mysql entry, SERVER,
    pointing at the private server."""
    lab = Path(lab_site.path).parent
    data = yaml.safe_load(Path(lab_site.path).read_text())
    stores = data["stores"]
    for store in stores:
        if store.get("credentials_file") and not os.path.isabs(store["credentials_file"]):
            store["credentials_file"] = str(lab / store["credentials_file"])
    site = {
        "site": "drtest-faults",
        "stores": stores,
        "mysql": [{
            "name": SERVER, "host": procs.LOOPBACK, "port": private.port,
            "user": private.server.admin_user, "password_file": str(private.secret_file),
            "restore_user": private.server.admin_user,
            "restore_password_file": str(restore_password_file or private.secret_file),
            "timeout": 5,
        }],
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "site.yaml"
    path.write_text(yaml.safe_dump(site, sort_keys=False))
    return path


@pytest.fixture
def xdg(tmp_path: Path) -> dict[str, str]:
    return {"XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CACHE_HOME": str(tmp_path / "cache")}


def _argv(site_file: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "dr_console", "--site", str(site_file), *args]


def cli(site_file: Path, xdg: dict[str, str], *args: str,
        timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, **xdg, COLUMNS="200")
    proc = subprocess.run(_argv(site_file, *args), capture_output=True, text=True, timeout=timeout,
                          env=env, stdin=subprocess.DEVNULL)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    return proc


def spawn(site_file: Path, xdg: dict[str, str], *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, **xdg, COLUMNS="200")
    return subprocess.Popen(_argv(site_file, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, stdin=subprocess.DEVNULL)


def flat(proc: subprocess.CompletedProcess[str] | tuple[str, str]) -> str:
    """stdout + stderr on one line (Rich wraps long messages)."""
    out, err = (proc.stdout, proc.stderr) if isinstance(proc, subprocess.CompletedProcess) else proc
    return " ".join((out + "\n" + err).split())


def only_run(site_file: Path, xdg: dict[str, str]) -> dict[str, Any]:
    runs = json.loads(cli(site_file, xdg, "runs", "--json").stdout)
    assert len(runs) == 1, runs
    return dict(runs[0])


def journal_text(xdg: dict[str, str], run_id: str) -> str:
    return (Path(xdg["XDG_STATE_HOME"]) / "dr-console" / "runs" / f"{run_id}.jsonl").read_text()


def drop_kept(private: Private) -> None:
    with private.connect() as conn, conn.cursor() as cur:
        for name in schemas(conn, LIKE + "\\_\\_pre\\_restore\\_%"):
            cur.execute(f"DROP DATABASE `{name}`")


def finish_and_check(private: Private, site_file: Path, xdg: dict[str, str], run_id: str,
                     expected: dict[str, Any], location: str) -> None:
    """`resume --yes` ends the run: the live tables carry the dump's
    checksums, no staging schema is left, what the swap replaced is kept."""
    done = cli(site_file, xdg, "resume", run_id, "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert location in done.stdout
    with private.connect() as conn:
        assert checksum_tables(conn, DB) == expected
        assert schemas(conn, LIKE + "\\_\\_staging%") == []
        assert len(schemas(conn, LIKE + "\\_\\_pre\\_restore\\_%")) == 1
    assert only_run(site_file, xdg)["outcome"] == "succeeded"
    drop_kept(private)


# --------------------------------------------------------------------------


def test_server_restart_mid_load_fails_clearly_then_resume_restores(
        source: dict[str, Any], lab_site: Site, tmp_path: Path, xdg: dict[str, str]) -> None:
    private: Private = source["private"]
    site_file = write_site(lab_site, private, tmp_path / "site")
    with private.connect() as conn:
        live_before = checksum_tables(conn, DB)
        assert live_before == source["checksums"]
        proc = spawn(site_file, xdg, "run", "metadata-db", "--db", DB, "--copy", source["location"],
                     "--yes")
        try:
            wait_for_rows_in_staging(conn, proc, LIKE + "\\_\\_staging\\_%", timeout=120)
        except BaseException:
            proc.kill()
            proc.communicate()
            raise
    started = time.monotonic()
    private.restart()  # SIGTERM by PID (SIGKILL after a grace), then the same port and datadir
    restarted = time.monotonic() - started
    out = proc.communicate(timeout=300)
    text = flat(out)
    assert "Traceback" not in text
    assert proc.returncode == 1, text
    assert f"lost the connection to MySQL server {SERVER}" in text, text
    assert "live database was not touched" in text, text

    with private.connect() as conn:
        assert checksum_tables(conn, DB) == live_before
        assert schemas(conn, LIKE + "\\_\\_pre\\_restore\\_%") == []
    run = only_run(site_file, xdg)
    assert run["outcome"] == "failed" and run["steps"]["restore-staging"] == "failed"
    print(f"restart took {restarted:.1f}s")
    finish_and_check(private, site_file, xdg, run["run_id"], source["checksums"], source["location"])


def test_tablespace_full_in_staging_fails_clearly_and_drops_it(
        source: dict[str, Any], lab_site: Site, lab_admin: Account,
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, xdg: dict[str, str]) -> None:
    # Server B: one shared tablespace capped at 40 MB; its live DB is small, the dump is not.
    private = Private(tmp_path_factory.mktemp("mariadb-b"), CAPPED)
    try:
        live_before = make_live_db(private, lab_admin, SMALL_FILLER)
        with private.connect() as conn:
            names_before = schemas(conn)
        site_file = write_site(lab_site, private, tmp_path / "site")
        proc = cli(site_file, xdg, "run", "metadata-db", "--db", DB, "--copy", source["location"],
                   "--yes")
        text = flat(proc)
        assert proc.returncode == 1, text
        assert f"MySQL server {SERVER} has no room left" in text, text
        assert "is full" in text and "live database was not touched" in text, text
        with private.connect() as conn:
            assert checksum_tables(conn, DB) == live_before
            assert schemas(conn) == names_before  # the staging schema was dropped
        run = only_run(site_file, xdg)
        assert run["outcome"] == "failed" and run["steps"]["restore-staging"] == "failed"

        # The operator gives the server room (a bigger cap), and resumes.
        private.restart(ROOMY)
        finish_and_check(private, site_file, xdg, run["run_id"], source["checksums"],
                         source["location"])
    finally:
        private.close()


def test_wrong_restore_password_fails_clearly_and_creates_nothing(
        source: dict[str, Any], lab_site: Site, tmp_path: Path, xdg: dict[str, str]) -> None:
    private: Private = source["private"]
    wrong = "not-the-password-" + os.urandom(6).hex()
    password_file = tmp_path / "restore-password"
    password_file.write_text(wrong + "\n")
    password_file.chmod(0o600)
    site_file = write_site(lab_site, private, tmp_path / "site", restore_password_file=password_file)
    with private.connect() as conn:
        live_before = checksum_tables(conn, DB)
        names_before = schemas(conn)

    proc = cli(site_file, xdg, "run", "metadata-db", "--db", DB, "--copy", source["location"], "--yes")
    text = flat(proc)
    assert proc.returncode == 1, text
    assert f"mysql {SERVER} (127.0.0.1:{private.port})" in text, text
    assert "access denied" in text.lower(), text
    assert f"check restore_user and restore_password_file of {SERVER}" in text, text
    run = only_run(site_file, xdg)
    assert run["outcome"] == "failed" and run["steps"]["restore-staging"] == "failed"
    right = private.server.admin_password
    for secret in (wrong, right):
        assert secret not in proc.stdout + proc.stderr
        assert secret not in journal_text(xdg, run["run_id"])
    with private.connect() as conn:
        assert checksum_tables(conn, DB) == live_before
        assert schemas(conn) == names_before

    # The operator fixes the password file and resumes the same run.
    password_file.write_text(right + "\n")
    finish_and_check(private, site_file, xdg, run["run_id"], source["checksums"], source["location"])
    assert right not in journal_text(xdg, run["run_id"])
