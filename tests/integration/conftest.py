"""Fixtures of the lab tests that need their own scratch database and a
private S3 store: the store is a moto server this fixture starts and stops
by PID, so "the store went down and came back" is real."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from labhelpers import BUCKET, DB, OTHER, PrivateStore, checksums, lab_mariadb, schemas, sql

from dr_console.lab.seed_db import grant_database, revoke_database
from dr_console.mysqldb import Account
from dr_console.schema import Secret, Site


@pytest.fixture(scope="module")
def admin(lab_site: Site) -> Account:
    """The lab server's admin account (what a restore writes with)."""
    server = lab_site.mysql[0]
    secret = (Path(lab_site.path).parent / "secrets" / "mariadb-admin").read_text().strip()
    return Account(server.host, server.port, "labadmin", Secret(secret), "lab")


@pytest.fixture
def databases(admin: Account) -> Iterator[dict[str, int | None]]:
    """DB with a few rows (and OTHER, a different database); their leftovers
    (kept and staging schemas) are dropped afterwards."""
    sql(admin, *(f"DROP DATABASE IF EXISTS `{name}`" for name in (DB, OTHER)))
    for name in (DB, OTHER):
        sql(admin, f"CREATE DATABASE `{name}`",
            f"CREATE TABLE `{name}`.items (id INT PRIMARY KEY, label VARCHAR(64)) ENGINE=InnoDB",
            f"INSERT INTO `{name}`.items SELECT seq, CONCAT('{name}-', seq) FROM `{name}`.seq_1_to_300")
    yield checksums(admin, DB)
    for name in schemas(admin, "drtest\\_choice%"):
        sql(admin, f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def private(tmp_path: Path) -> Iterator[PrivateStore]:
    store = PrivateStore(tmp_path / "store")
    yield store
    store.stop()


@pytest.fixture
def covered(lab_site: Site) -> Iterator[str]:
    """The site file below covers DB: the lab's backup and restore accounts
    get on it the grants the lab gives its own databases, and lose them after."""
    grant_database(lab_mariadb(lab_site), DB)
    yield DB
    revoke_database(lab_mariadb(lab_site), DB)


@pytest.fixture
def site_file(tmp_path: Path, lab_site: Site, private: PrivateStore, covered: str) -> Path:
    """The lab's MariaDB (DB only) with the lab's own least-privilege
    accounts, and the private store, nothing else."""
    server = lab_site.mysql[0]
    data = {
        "site": "copy-choice",
        "stores": [{"name": "private", "bucket": BUCKET, "endpoint_url": private.store.endpoint_url,
                    "credentials_file": str(private.credentials), "timeout": "5s"}],
        "mysql": [{"name": "lab-db", "host": server.host, "port": server.port, "user": server.user,
                   "password_file": str(server.password_file), "databases": [covered],
                   "restore_user": server.restore_user,
                   "restore_password_file": str(server.restore_password_file)}],
        "copies": [{"store": "private", "pattern": "mysql/{asset}/{asset}-{timestamp}.sql.gz",
                    "kind": "sql-dump", "asset_kind": "database"}],
        "rules": [{"name": "scratch", "class": "metadata", "match": {"provider": "mysql"}}],
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Private XDG state and cache, for this process and the ones it starts."""
    env = {"XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env
