"""The lab's MariaDB: a private datadir, bound to 127.0.0.1, started with
--no-defaults so Debian's configuration never wins."""

from __future__ import annotations

import secrets
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pymysql

from dr_console.lab import procs


@dataclass
class MariaDB:
    port: int
    socket: str
    admin_user: str
    admin_password: str

    def connect(self, database: str | None = None, **kwargs: object) -> pymysql.Connection:
        return pymysql.connect(
            host=procs.LOOPBACK, port=self.port, user=self.admin_user,
            password=self.admin_password, database=database, autocommit=True,
            connect_timeout=5, **kwargs,  # type: ignore[arg-type]
        )

    def create_database(self, name: str, user: str, password: str) -> None:
        """A database and a user owning it, reachable over TCP (with
        --skip-name-resolve, TCP users are 'u'@'127.0.0.1')."""
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS `{name}`")
            cur.execute("CREATE USER IF NOT EXISTS %s@'127.0.0.1' IDENTIFIED BY %s",
                        (user, password))
            cur.execute(f"GRANT ALL PRIVILEGES ON `{name}`.* TO %s@'127.0.0.1'", (user,))

    def url(self, database: str, user: str, password: str) -> str:
        """SQLAlchemy URL for the OpenStack services."""
        return f"mysql+pymysql://{user}:{password}@127.0.0.1:{self.port}/{database}"


# Settings the restore path benefits from (docs/restore.md); harmless for the
# OpenStack services in a lab.
_TUNING = [
    "--innodb-buffer-pool-size=512M",
    "--innodb-log-file-size=256M",
    "--innodb-flush-log-at-trx-commit=2",
    "--innodb-doublewrite=0",
    "--max-allowed-packet=256M",
    "--max-connections=500",
    "--skip-log-bin",
    "--character-set-server=utf8mb4",
    "--collation-server=utf8mb4_general_ci",
]


def start(lab_dir: Path, port: int | None = None, extra_args: Sequence[str] = ()) -> MariaDB:
    """Initialise (first time) and start MariaDB; return admin access.
    The admin password is kept in lab_dir/secrets, mode 0600. `extra_args`
    come last (they win over the tuning), and also go to the first-time
    initialisation (a tablespace layout must be the same at both)."""
    datadir = lab_dir / "mariadb" / "data"
    sock = lab_dir / "mariadb" / "mysqld.sock"
    secret_file = lab_dir / "secrets" / "mariadb-admin"
    secret_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fresh = not (datadir / "mysql").exists()
    if fresh:
        if datadir.exists():
            shutil.rmtree(datadir)
        datadir.mkdir(parents=True)
        procs.run(["mariadb-install-db", "--no-defaults", "--user=root",
                   f"--datadir={datadir}", "--skip-test-db", "--auth-root-authentication-method=socket",
                   *extra_args])
    port = port or procs.free_port()
    # Its own tmpdir: on-disk temporary tables (information_schema queries
    # make them) never share /tmp with other servers or test clean-ups.
    tmpdir = lab_dir / "mariadb" / "tmp"
    tmpdir.mkdir(parents=True, exist_ok=True)
    service = procs.start(
        "mariadb",
        ["mariadbd", "--no-defaults", "--user=root", f"--datadir={datadir}", f"--tmpdir={tmpdir}",
         f"--socket={sock}", f"--port={port}", "--bind-address=127.0.0.1",
         "--skip-name-resolve", f"--pid-file={lab_dir / 'mariadb' / 'mysqld.pid'}", *_TUNING, *extra_args],
        lab_dir,
    )
    procs.wait_for_port(service, port, timeout=60)
    if fresh or not secret_file.exists():
        password = secrets.token_urlsafe(18)
        _bootstrap_admin(sock, password)
        secret_file.write_text(password + "\n")
        secret_file.chmod(0o600)
    password = secret_file.read_text().strip()
    return MariaDB(port=port, socket=str(sock), admin_user="labadmin", admin_password=password)


def _bootstrap_admin(sock: Path, password: str) -> None:
    # root@localhost authenticates by socket; use it once to make a TCP admin.
    deadline = time.monotonic() + 20
    while True:
        try:
            conn = pymysql.connect(unix_socket=str(sock), user="root", autocommit=True)
            break
        except pymysql.err.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    with conn, conn.cursor() as cur:
        cur.execute("CREATE USER IF NOT EXISTS 'labadmin'@'127.0.0.1' IDENTIFIED BY %s",
                    (password,))
        cur.execute("GRANT ALL PRIVILEGES ON *.* TO 'labadmin'@'127.0.0.1' WITH GRANT OPTION")
