"""Restore benchmark: `dr-console run metadata-db` end to end against the
operator's own pipeline, both as whole processes, on two servers in one run.

Set-up (not timed):
1. novagen.py generates an OpenStack-like (nova) database, `drbench_nova`,
   of about --size-mb of plain dump on the lab's MariaDB (tuned for restore);
   `dr-console backup db` dumps it (mariadb-dump | gzip, with a manifest)
   into the lab's offsite S3 store.
2. The bench starts its own stock-settings MariaDB (`mariadbd --no-defaults`,
   a datadir in a temporary directory, 127.0.0.1, a free port, nothing tuned)
   and generates the same `drbench_nova` there. A temporary site file is the
   lab's plus a second `mysql:` entry for it (restore_user /
   restore_password_file).

Per server, --samples samples of each side in A B B A … order, each started
from the same state (the live `drbench_nova` present with the same data; the
previous sample's leftovers dropped, untimed):

  dr-console  `dr-console --site SITE run metadata-db --db drbench_nova
              --server S --yes --copy s3://…`, with a private XDG_STATE_HOME
              and XDG_CACHE_HOME: choose (the manifest of the named copy),
              stream + load into staging (sha256, size, trailer checked),
              verify (row counts vs the manifest, CHECKSUM TABLE), swap in
              with RENAME TABLE (old tables kept), smoke check, report.
  baseline    one bash process: CREATE DATABASE new; `/usr/bin/aws s3 cp
              s3://… - | gunzip | mariadb new`; then the swap: the `mariadb`
              client generates and runs DROP TRIGGER …, one RENAME TABLE
              (live → kept, new → live), CREATE TRIGGER … on both sides, DROP
              DATABASE new (MariaDB refuses to RENAME a table with triggers
              across schemas). It verifies nothing.

Both are timed from fork to exit. After each sample the live tables'
CHECKSUM TABLE is taken; the bench fails when dr-console's restored tables
and the baseline's differ on any table, on either server. dr-console's
peak RSS is the os.wait4() rusage of its process; the bytes it spooled to
disk come from its run journal (state "load").

Run: `make bench` (all benches), or
`.venv/bin/python tests/bench/bench_restore.py --site .lab/site.yaml --size-mb 50`
with the lab up. Refuses to run without the AWS CLI at /usr/bin/aws (Debian's
awscli package): the baseline is never replaced by a stand-in.
"""

from __future__ import annotations

import argparse
import configparser
import contextlib
import gzip
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pymysql
import yaml
from benchlib import (
    CPU_METHOD,
    PEAK_RSS_METHOD,
    RATIO_FASTER,
    REPO,
    BenchError,
    Timed,
    alternating,
    fmt_bytes,
    fmt_range,
    machine,
    main_guard,
    now_iso,
    process_cpu,
    ratio,
    require_tools,
    run_id,
    run_timed,
    summary,
    venv_bin,
    write_part,
)

from dr_console.lab import seed_db, sitefile
from dr_console.lab.mariadb import MariaDB

AWS = "/usr/bin/aws"  # Debian's awscli; a pyenv shim named `aws` may come first on PATH
DB = "drbench_nova"
# Named like dr-console's staging and kept schemas, so that on the lab both
# sides run as the site's restore account, whose grants cover just those.
BASE_NEW = f"{DB}__staging_base"
BASE_KEPT = f"{DB}__pre_restore_base"
LEFTOVERS = DB.replace("_", "\\_") + "\\_\\_%"  # LIKE: every <db>__… schema either side makes
STOCK_NAME = "bench-stock"
PRODUCT, BASELINE = "dr-console", "baseline"
# Instance identity, paths and version strings: they differ between any two
# servers and say nothing about how they are tuned.
_IDENTITY = re.compile(r"(^|_)(datadir|socket|port|pid_file|tmpdir|hostname|log_error|general_log_file|"
                       r"slow_query_log_file|dir_path|server_id|server_uid|gtid|version|basedir|plugin_dir|"
                       r"log_basename|relay_log|innodb_data_home_dir|innodb_log_group_home_dir|"
                       r"innodb_tmpdir|secure_file_priv|report_port|extra_port|bind_address|"
                       r"system_time_zone|timestamp|wsrep)", re.I)
_SYSTEM = ("information_schema", "performance_schema", "mysql", "sys")


# --------------------------------------------------------------------------
# Servers


@dataclass
class Server:
    """A MariaDB the bench restores into, with the admin (restore) account."""

    role: str  # "tuned" or "stock"
    label: str
    site_file: Path  # the site file dr-console is given for this server
    site_name: str  # its mysql entry there
    host: str
    port: int
    user: str
    password_file: Path
    cnf: Path = Path()  # the mariadb client's defaults file (0600), made by the bench
    started_by: str = ""
    options: list[str] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)
    pid: int | None = None  # the mariadbd process, for its CPU; None: not known

    def connect(self, database: str | None = None) -> Any:
        return pymysql.connect(host=self.host, port=self.port, user=self.user,
                               password=self.password_file.read_text().strip(), database=database,
                               autocommit=True, charset="utf8mb4", connect_timeout=10,
                               read_timeout=7200, write_timeout=7200)

    def write_cnf(self, directory: Path) -> None:
        """A defaults file for the mariadb client: the password is in a file,
        never on a command line."""
        self.cnf = directory / f"client-{self.role}.cnf"
        secret = self.password_file.read_text().strip().replace("\\", "\\\\").replace('"', '\\"')
        self.cnf.write_text(f'[client]\nuser={self.user}\npassword="{secret}"\nhost={self.host}\n'
                            f"port={self.port}\nprotocol=TCP\nmax-allowed-packet=1G\n")
        self.cnf.chmod(0o600)


class StockServer:
    """A MariaDB with stock settings, in its own temporary datadir: started
    with --no-defaults and only what it needs to run on 127.0.0.1, stopped
    by its PID (never by name)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.datadir = base / "data"
        self.socket = base / "mysqld.sock"
        self.tmpdir = base / "tmp"
        self.log = base / "mariadbd.log"
        self.password_file = base / "admin.pw"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.argv: list[str] = []

    def start(self) -> None:
        self.datadir.mkdir(parents=True)
        self.tmpdir.mkdir()
        init = subprocess.run(["mariadb-install-db", "--no-defaults", "--user=root",
                               f"--datadir={self.datadir}", "--skip-test-db",
                               "--auth-root-authentication-method=socket"],
                              capture_output=True, timeout=300)
        if init.returncode != 0:
            raise BenchError("mariadb-install-db failed for the stock server:\n"
                             + (init.stdout + init.stderr).decode(errors="replace")[-1500:])
        self.port = _free_port()
        self.argv = ["mariadbd", "--no-defaults", "--user=root", f"--datadir={self.datadir}",
                     f"--tmpdir={self.tmpdir}", f"--socket={self.socket}", f"--port={self.port}",
                     "--bind-address=127.0.0.1", "--skip-name-resolve",
                     f"--pid-file={self.base / 'mariadbd.pid'}"]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 60
        while not _port_open(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"the stock MariaDB did not start; see {self.log}:\n"
                                 + self.log.read_text(errors="replace")[-1500:])
            time.sleep(0.1)
        password = secrets.token_urlsafe(18)
        conn = pymysql.connect(unix_socket=str(self.socket), user="root", autocommit=True)
        with conn, conn.cursor() as cur:
            cur.execute("CREATE USER 'drbench'@'127.0.0.1' IDENTIFIED BY %s", (password,))
            cur.execute("GRANT ALL PRIVILEGES ON *.* TO 'drbench'@'127.0.0.1' WITH GRANT OPTION")
        self.password_file.write_text(password + "\n")
        self.password_file.chmod(0o600)

    def stop(self) -> None:
        """SIGTERM by PID, wait for a clean shutdown, SIGKILL after a minute."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def global_variables(server: Server) -> dict[str, str]:
    conn = server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW GLOBAL VARIABLES")
            return {str(k).lower(): str(v) for k, v in cur.fetchall()}
    finally:
        conn.close()


def settings_that_differ(tuned: dict[str, str], stock: dict[str, str]) -> dict[str, dict[str, str]]:
    return {name: {"tuned": tuned.get(name, ""), "stock": stock.get(name, "")}
            for name in sorted(set(tuned) | set(stock))
            if tuned.get(name) != stock.get(name) and not _IDENTITY.search(name)}


def lab_mariadb_pid(lab_dir: Path) -> int | None:
    """The lab MariaDB's process, as the lab recorded it when it started it."""
    try:
        services = json.loads((lab_dir / "services.json").read_text())
        return int(next(s["pid"] for s in services if s["name"] == "mariadb"))
    except (OSError, ValueError, StopIteration, KeyError, TypeError):
        return None


def lab_server_options(lab_dir: Path) -> list[str]:
    """The lab MariaDB's own command line (tuning options; paths left out)."""
    pid = lab_mariadb_pid(lab_dir)
    if pid is None:
        return []
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []
    keep = []
    for arg in (a.decode() for a in argv[1:] if a):
        name = arg.split("=", 1)[0]
        if not _IDENTITY.search(name.lstrip("-").replace("-", "_")):
            keep.append(arg)
    return keep


# --------------------------------------------------------------------------
# Site files


_PATH_KEYS = {"clouds_yaml", "credentials_file", "password_file", "restore_password_file",
              "key_file", "known_hosts", "vars_file"}


def _absolute(node: Any, base: Path) -> Any:
    if isinstance(node, dict):
        return {k: (str((base / v).resolve()) if k in _PATH_KEYS and isinstance(v, str)
                    and not os.path.isabs(os.path.expanduser(v)) else _absolute(v, base))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_absolute(v, base) for v in node]
    return node


def write_stock_site(lab_site: Path, stock: StockServer, directory: Path) -> Path:
    """The lab's site file plus a second mysql entry for the stock server
    (paths made absolute: the copy lives elsewhere)."""
    data = _absolute(yaml.safe_load(lab_site.read_text()), lab_site.parent)
    data["mysql"].append({
        "name": STOCK_NAME, "host": "127.0.0.1", "port": stock.port, "user": "drbench",
        "password_file": str(stock.password_file), "exclude": list(_SYSTEM),
        "restore_user": "drbench", "restore_password_file": str(stock.password_file),
    })
    path = directory / "site-with-stock.yaml"
    path.write_text("# dr-console restore bench: the lab's site file plus its own stock MariaDB\n"
                    + yaml.safe_dump(data, sort_keys=False))
    return path


# --------------------------------------------------------------------------
# The store (boto3 for set-up and clean-up only: never part of a timing)


@dataclass
class Store:
    bucket: str
    prefix: str
    endpoint: str
    region: str
    credentials_file: Path

    @property
    def dumps(self) -> str:
        """Where `dr-console backup db` puts the generated database's dumps."""
        return f"{self.prefix.strip('/')}/mysql/{DB}/".lstrip("/")

    def client(self) -> Any:
        import boto3

        creds = configparser.ConfigParser()
        creds.read(self.credentials_file)
        section = creds["default"]
        return boto3.client("s3", endpoint_url=self.endpoint, region_name=self.region,
                            aws_access_key_id=section["aws_access_key_id"],
                            aws_secret_access_key=section["aws_secret_access_key"])

    def env(self) -> dict[str, str]:
        """The AWS CLI's environment: the lab's credentials file, no user config."""
        return {"AWS_SHARED_CREDENTIALS_FILE": str(self.credentials_file),
                "AWS_CONFIG_FILE": os.devnull, "AWS_DEFAULT_REGION": self.region,
                "AWS_PAGER": ""}


def lab_store(site: dict[str, Any], base: Path) -> Store:
    entry = site["stores"][0]
    return Store(bucket=entry["bucket"], prefix=entry.get("prefix") or "", endpoint=entry["endpoint_url"],
                 region=entry.get("region", "us-east-1"),
                 credentials_file=(base / entry["credentials_file"]).resolve())


def plain_size(store: Store, key: str) -> int:
    body = store.client().get_object(Bucket=store.bucket, Key=key)["Body"]
    total = 0
    with gzip.GzipFile(fileobj=body) as plain:
        while chunk := plain.read(4 * 1024 * 1024):
            total += len(chunk)
    return total


# --------------------------------------------------------------------------
# Schemas and checksums (plain SQL: the bench checks the product, not with it)


def quote(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise BenchError(f"unexpected schema or table name {name!r}")
    return f"`{name}`"


def tables_of(conn: Any, db: str) -> list[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s "
                    "AND TABLE_TYPE='BASE TABLE' ORDER BY TABLE_NAME", (db,))
        return [r[0] for r in cur.fetchall()]


def checksums(conn: Any, db: str) -> dict[str, int | None]:
    names = tables_of(conn, db)
    if not names:
        return {}
    with conn.cursor() as cur:
        cur.execute("CHECKSUM TABLE " + ", ".join(f"{quote(db)}.{quote(t)}" for t in names))
        return {full.split(".", 1)[1]: (None if value is None else int(value))
                for full, value in cur.fetchall()}


def leftover_schemas(conn: Any) -> list[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE %s",
                    (LEFTOVERS,))
        return sorted(r[0] for r in cur.fetchall())


def drop_schemas(conn: Any, names: list[str]) -> None:
    with conn.cursor() as cur:
        for name in names:
            assert name.startswith(DB)
            cur.execute(f"DROP DATABASE IF EXISTS {quote(name)}")


def objects_besides_triggers(conn: Any, db: str) -> list[str]:
    """Views, routines, events: the baseline's swap handles triggers only."""
    with conn.cursor() as cur:
        cur.execute("SELECT CONCAT('view ', TABLE_NAME) FROM information_schema.VIEWS "
                    "WHERE TABLE_SCHEMA=%s UNION ALL SELECT CONCAT(ROUTINE_TYPE, ' ', ROUTINE_NAME) "
                    "FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA=%s "
                    "UNION ALL SELECT CONCAT('event ', EVENT_NAME) "
                    "FROM information_schema.EVENTS WHERE EVENT_SCHEMA=%s", (db, db, db))
        return [r[0] for r in cur.fetchall()]


def count_triggers(conn: Any, db: str) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA=%s", (db,))
        return int(cur.fetchone()[0])


# --------------------------------------------------------------------------
# The two sides


def swap_sql(live: str, new: str, kept: str) -> str:
    """SQL that, run with `mariadb -N --raw`, prints the swap script for the
    baseline: it is generated from the schemas as they are just before it
    runs, like an operator's script would be. Triggers are recreated after
    `USE schema` with unqualified names, as mariadb-dump writes them."""
    lv, nw, kp = (f"'{quote(n)[1:-1]}'" for n in (live, new, kept))
    target = f"IF(TRIGGER_SCHEMA = {nw}, {lv}, {kp})"
    side = f"IF(TRIGGER_SCHEMA = {nw}, 1, 2)"
    triggers = f"FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA IN ({lv}, {nw})"
    return f"""SET SESSION group_concat_max_len = 16777216;
SELECT s FROM (
  SELECT 1 AS o, 0 AS k, 0 AS n, '' AS t, 0 AS a, CONCAT('CREATE DATABASE `', {kp}, '`;') AS s
  UNION ALL
  SELECT 2, 0, 0, CONCAT(TRIGGER_SCHEMA, '.', TRIGGER_NAME), 0,
         CONCAT('DROP TRIGGER `', TRIGGER_SCHEMA, '`.`', TRIGGER_NAME, '`;') {triggers}
  UNION ALL
  SELECT 3, 0, 0, '', 0, CONCAT('RENAME TABLE ', GROUP_CONCAT(p ORDER BY w, t SEPARATOR ', '), ';') FROM (
    SELECT 1 AS w, TABLE_NAME AS t,
           CONCAT('`', {lv}, '`.`', TABLE_NAME, '` TO `', {kp}, '`.`', TABLE_NAME, '`') AS p
      FROM information_schema.TABLES WHERE TABLE_SCHEMA = {lv} AND TABLE_TYPE = 'BASE TABLE'
    UNION ALL
    SELECT 2, TABLE_NAME, CONCAT('`', {nw}, '`.`', TABLE_NAME, '` TO `', {lv}, '`.`', TABLE_NAME, '`')
      FROM information_schema.TABLES WHERE TABLE_SCHEMA = {nw} AND TABLE_TYPE = 'BASE TABLE') pairs
  UNION ALL
  SELECT DISTINCT 4, {side}, 0, '', 0, CONCAT('USE `', {target}, '`;') {triggers}
  UNION ALL SELECT DISTINCT 4, {side}, 1, '', 0, 'DELIMITER ;;' {triggers}
  UNION ALL
  SELECT 4, {side}, 2, EVENT_OBJECT_TABLE, ACTION_ORDER,
         CONCAT('CREATE TRIGGER `', TRIGGER_NAME, '` ', ACTION_TIMING, ' ', EVENT_MANIPULATION,
                ' ON `', EVENT_OBJECT_TABLE, '` FOR EACH ROW ', ACTION_STATEMENT, ';;') {triggers}
  UNION ALL SELECT DISTINCT 4, {side}, 3, '', 0, 'DELIMITER ;' {triggers}
  UNION ALL SELECT 5, 0, 0, '', 0, CONCAT('DROP DATABASE `', {nw}, '`;')
) script ORDER BY o, k, n, t, a;
"""


def baseline_script(server: Server, store: Store, key: str, swap_file: Path) -> str:
    my = f"mariadb --defaults-file={shlex.quote(str(server.cnf))}"
    return "\n".join([
        "set -euo pipefail",
        f"{my} -e {shlex.quote(f'CREATE DATABASE {quote(BASE_NEW)} CHARACTER SET utf8mb4')}",
        f"{AWS} s3 cp --endpoint-url {shlex.quote(store.endpoint)} --no-progress "
        f"{shlex.quote(f's3://{store.bucket}/{key}')} - | gunzip | {my} {BASE_NEW}",
        f"{my} -N --raw < {shlex.quote(str(swap_file))} | {my}",
    ])


def product_argv(server: Server, location: str) -> list[str]:
    return [venv_bin("dr-console"), "--site", str(server.site_file), "run", "metadata-db",
            "--db", DB, "--server", server.site_name, "--yes", "--copy", location]


def read_journal(state_home: Path) -> dict[str, Any]:
    """The run's outcome, its step timings and its last journaled state."""
    runs = sorted((state_home / "dr-console" / "runs").glob("*.jsonl"))
    if len(runs) != 1:
        raise BenchError(f"expected one run journal in {state_home}, found {len(runs)}")
    state: dict[str, Any] = {}
    outcome = "?"
    steps: dict[str, float] = {}
    for line in runs[0].read_text().splitlines():
        record = json.loads(line)
        if record.get("type") == "state":
            state = record.get("state", {})
        elif record.get("type") == "event" and record.get("event") == "StepDone":
            steps[record["step"]] = float(record.get("seconds", 0.0))
        elif record.get("type") == "event" and record.get("event") == "RunFinished":
            outcome = record.get("outcome", "?")
    return {"run_id": runs[0].stem, "outcome": outcome, "steps": steps, "state": state}


def bulk_summary(load: dict[str, Any]) -> str:
    """How the rows went in, so a silent fallback to INSERT replay shows."""
    if load.get("bulk_refused"):
        return f"INSERTs replayed: {load['bulk_refused']}"
    paths = [path for path, _why in load.get("paths", {}).values()]
    return f"{paths.count('bulk')} of {len(paths)} tables by LOAD DATA LOCAL"


@dataclass
class Sample:
    side: str
    seconds: float
    maxrss_bytes: int
    checksums: dict[str, int | None]
    load: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float | None] = field(default_factory=dict)


def timed_cpu(server: Server, run: Callable[[], Timed]) -> tuple[Timed, dict[str, float | None]]:
    """Run one sample; its CPU-seconds: the command's own (with its
    children), the server's, and the whole machine's busy and idle time."""
    before = process_cpu(server.pid) if server.pid else None
    timed = run()
    after = process_cpu(server.pid) if server.pid else None
    server_cpu = round(after - before, 2) if before is not None and after is not None else None
    return timed, {"command": round(timed.cpu_seconds, 2), "server": server_cpu,
                   "machine_busy": round(timed.machine_busy_seconds, 2),
                   "machine_idle": round(timed.machine_idle_seconds, 2)}


def fmt_cpu(cpu: dict[str, float | None]) -> str:
    server = f"{cpu['server']:.1f}" if cpu.get("server") is not None else "?"
    return (f"CPU-s: its own {cpu['command']:.1f}, server {server}, machine busy "
            f"{cpu['machine_busy']:.1f} / idle {cpu['machine_idle']:.1f}")


def cpu_summary(samples: list[Sample]) -> dict[str, Any]:
    """Median CPU-seconds of one side's samples, and the shortest wall time
    that much work allows on this machine's cores (busy CPU / cores): no
    scheduling of the same work finishes sooner."""
    cores = os.cpu_count() or 1
    out: dict[str, Any] = {"cores": cores}
    for key in ("command", "server", "machine_busy", "machine_idle"):
        values = [s.cpu[key] for s in samples if s.cpu.get(key) is not None]
        out[key] = round(statistics.median(values), 2) if values else None
    out["floor_seconds"] = round(out["machine_busy"] / cores, 2) if out["machine_busy"] is not None else None
    return out


def reset(server: Server) -> None:
    """Back to the starting state, untimed: the previous sample's kept,
    staging and new schemas dropped; the live DB is left as it is."""
    conn = server.connect()
    try:
        drop_schemas(conn, leftover_schemas(conn))
    finally:
        conn.close()


def after_sample(server: Server, side: str, expect_kept: str | None) -> dict[str, int | None]:
    """The live tables' checksums, once the sample proved it swapped: its
    own staging/new schema gone, a kept schema holding the old tables."""
    conn = server.connect()
    try:
        left = leftover_schemas(conn)
        kept = [s for s in left if s == expect_kept or (expect_kept is None and "__pre_restore_" in s)]
        if len(kept) != 1 or not tables_of(conn, kept[0]):
            raise BenchError(f"{server.label}: after the {side} sample no kept schema with the old "
                             f"tables (schemas: {left})")
        if any("__staging_" in s or s == BASE_NEW for s in left):
            raise BenchError(f"{server.label}: the {side} sample left its staging schema: {left}")
        if count_triggers(conn, DB) != count_triggers(conn, kept[0]):
            raise BenchError(f"{server.label}: after the {side} sample the live schema and the kept "
                             "one do not have the same triggers")
        return checksums(conn, DB)
    finally:
        conn.close()


def run_product(server: Server, location: str, work: Path, index: int) -> Sample:
    xdg = work / f"xdg-{server.role}-{index}"
    env = dict(os.environ, XDG_STATE_HOME=str(xdg / "state"), XDG_CACHE_HOME=str(xdg / "cache"),
               COLUMNS="200")
    timed, cpu = timed_cpu(server, lambda: run_timed(
        product_argv(server, location), env=env, what=f"dr-console run metadata-db ({server.label})"))
    journal = read_journal(xdg / "state")
    if journal["outcome"] != "succeeded":
        raise BenchError(f"dr-console run {journal['run_id']} ended {journal['outcome']!r}:\n"
                         + timed.stdout[-1500:])
    load = journal["state"].get("load")
    if not isinstance(load, dict) or "spool_bytes" not in load:
        raise BenchError(f"run {journal['run_id']}: no 'load' figures in its journal's state")
    shutil.rmtree(xdg, ignore_errors=True)
    return Sample(PRODUCT, timed.seconds, timed.maxrss_bytes, after_sample(server, PRODUCT, None),
                  load=load, steps=journal["steps"], cpu=cpu)


def run_baseline(server: Server, script: str, store: Store) -> Sample:
    env = dict(os.environ, **store.env())
    timed, cpu = timed_cpu(server, lambda: run_timed(
        ["bash", "-c", script], env=env, what=f"baseline aws s3 cp | gunzip | mariadb + RENAME TABLE "
                                              f"({server.label})"))
    return Sample(BASELINE, timed.seconds, timed.maxrss_bytes,
                  after_sample(server, BASELINE, BASE_KEPT), cpu=cpu)


def measure(server: Server, store: Store, location: str, key: str, samples: int, work: Path,
            reference: dict[str, int | None]) -> dict[str, Any]:
    swap_file = work / f"swap-{server.role}.sql"
    swap_file.write_text(swap_sql(DB, BASE_NEW, BASE_KEPT))
    script = baseline_script(server, store, key, swap_file)
    order = alternating(samples, PRODUCT, BASELINE)
    taken: list[Sample] = []
    reset(server)
    conn = server.connect()
    try:
        if checksums(conn, DB) != reference:
            raise BenchError(f"{server.label}: the live {DB} does not hold the generated data")
    finally:
        conn.close()
    print(f"\n[{server.role}] {server.label}: {samples} samples per side, order "
          + " ".join("A" if s == PRODUCT else "B" for s in order) + f" (A = {PRODUCT}, B = {BASELINE})")
    for index, side in enumerate(order, 1):
        reset(server)
        if side == PRODUCT:
            sample = run_product(server, location, work, index)
            load = sample.load
            print(f"  {index:2d} {PRODUCT:<10} {sample.seconds:8.2f} s  peak RSS "
                  f"{fmt_bytes(sample.maxrss_bytes)}, spooled {fmt_bytes(load['spool_bytes'])}, "
                  f"{load['workers']} connection(s), {bulk_summary(load)}; {fmt_cpu(sample.cpu)}")
        else:
            sample = run_baseline(server, script, store)
            print(f"  {index:2d} {BASELINE:<10} {sample.seconds:8.2f} s  largest process "
                  f"{fmt_bytes(sample.maxrss_bytes)}; {fmt_cpu(sample.cpu)}")
        taken.append(sample)
    reset(server)

    # Every restored copy must hold the same data, table by table.
    first_product = next(s for s in taken if s.side == PRODUCT).checksums
    differ: dict[str, dict[str, Any]] = {}
    for sample in taken:
        for table in sorted(set(first_product) | set(sample.checksums)):
            if sample.checksums.get(table) != first_product.get(table):
                differ.setdefault(table, {})[f"{sample.side}#{taken.index(sample) + 1}"] = \
                    sample.checksums.get(table)
    same_as_source = first_product == reference
    product = [s for s in taken if s.side == PRODUCT]
    baseline = [s for s in taken if s.side == BASELINE]
    result = {
        "role": server.role,
        "label": server.label,
        "started_by": server.started_by,
        "options": server.options,
        "site_file": str(server.site_file),
        "order": order,
        "product": {
            "command": product_argv(server, location),
            "seconds": summary([s.seconds for s in product]),
            "peak_rss_bytes": [s.maxrss_bytes for s in product],
            "spool_bytes": [int(s.load["spool_bytes"]) for s in product],
            "load": [s.load for s in product],
            "step_seconds": [s.steps for s in product],
            "cpu_seconds": [s.cpu for s in product],
            "cpu": cpu_summary(product),
        },
        "baseline": {
            "command": ["bash", "-c", script],
            "swap_sql_generator": swap_file.read_text(),
            "seconds": summary([s.seconds for s in baseline]),
            "largest_process_rss_bytes": [s.maxrss_bytes for s in baseline],
            "cpu_seconds": [s.cpu for s in baseline],
            "cpu": cpu_summary(baseline),
        },
        "checksums": first_product,
        "checksums_equal": not differ,
        "checksum_differences": differ,
        "restored_equals_source": same_as_source,
    }
    result["ratio"] = ratio(result["baseline"]["seconds"]["median"], result["product"]["seconds"]["median"])
    if differ:
        raise BenchError(f"{server.label}: CHECKSUM TABLE differs between restored copies: "
                         + json.dumps(differ))
    return result


# --------------------------------------------------------------------------


def lab_server(site_file: Path, site: dict[str, Any]) -> Server:
    entry = site["mysql"][0]
    base = site_file.parent
    if not entry.get("restore_user") or not entry.get("restore_password_file"):
        raise BenchError(f"{site_file}: mysql {entry['name']} names no restore_user/"
                         "restore_password_file (the restore needs a writing account)")
    return Server(role="tuned", label=f"lab MariaDB (tuned for restore), mysql {entry['name']}",
                  site_file=site_file, site_name=entry["name"], host=entry["host"],
                  port=int(entry["port"]), user=entry["restore_user"],
                  password_file=(base / entry["restore_password_file"]).resolve(),
                  started_by="`make lab-up` (dr_console/lab/mariadb.py)",
                  options=lab_server_options(base), pid=lab_mariadb_pid(base))


def cover_lab_db(site_file: Path, server: Server, cover: bool = True) -> None:
    """Give (or take back) the lab's backup and restore accounts the grants
    on DB the lab gives its own databases (as the lab's admin): the site
    file covers every database, the accounts only those they were granted."""
    secret = sitefile.admin_password_file(site_file.parent).read_text().strip()
    admin = MariaDB(port=server.port, socket="", admin_user="labadmin", admin_password=secret)
    (seed_db.grant_database if cover else seed_db.revoke_database)(admin, DB)


def make_dump(site_file: Path, store: Store, work: Path) -> tuple[str, dict[str, Any]]:
    """`dr-console backup db` of the generated database; returns the key and
    its manifest."""
    env = dict(os.environ, XDG_STATE_HOME=str(work / "xdg-backup" / "state"),
               XDG_CACHE_HOME=str(work / "xdg-backup" / "cache"))
    run_timed([venv_bin("dr-console"), "--site", str(site_file), "backup", "db", DB],
              env=env, what="dr-console backup db")
    client = store.client()
    listed = client.list_objects_v2(Bucket=store.bucket, Prefix=store.dumps)
    keys = sorted(o["Key"] for o in listed.get("Contents", []) if not o["Key"].endswith(".manifest.json"))
    if len(keys) != 1:
        raise BenchError(f"expected one dump under {store.dumps}, found {keys}")
    manifest = json.loads(client.get_object(Bucket=store.bucket,
                                            Key=keys[0] + ".manifest.json")["Body"].read())
    return keys[0], manifest


def delete_dumps(store: Store) -> None:
    client = store.client()
    listed = client.list_objects_v2(Bucket=store.bucket, Prefix=store.dumps)
    for obj in listed.get("Contents", []):
        client.delete_object(Bucket=store.bucket, Key=obj["Key"])


def print_results(part: dict[str, Any]) -> None:
    dump = part["dump"]
    print(f"\nrestore of a {fmt_bytes(dump['plain_bytes'])} dump ({fmt_bytes(dump['stored_bytes'])} gzip, "
          f"{dump['rows']:,} rows, {dump['tables']} tables) from the lab's S3, whole processes, "
          f"median (range) of {part['samples_per_side']}:")
    print(f"{'server':<26}{'dr-console':>26}{'baseline':>26}{'ratio':>9}")
    names = {"tuned": "tuned (the lab's)", "stock": "stock (the bench's own)"}
    for result in part["servers"]:
        print(f"{names[result['role']]:<26}{fmt_range(result['product']['seconds']):>26}"
              f"{fmt_range(result['baseline']['seconds']):>26}{result['ratio']:>8.2f}x")
    for result in part["servers"]:
        product = result["product"]
        print(f"  {result['role']}: dr-console peak RSS {fmt_bytes(max(product['peak_rss_bytes']))} "
              f"(max of samples), spooled {fmt_bytes(max(product['spool_bytes']))} to disk, "
              f"{product['load'][0]['workers']} loading connection(s); baseline's largest process "
              f"{fmt_bytes(max(result['baseline']['largest_process_rss_bytes']))}")
        for side, name in ((product, PRODUCT), (result["baseline"], BASELINE)):
            cpu = side["cpu"]
            server_cpu = f"{cpu['server']:.1f}" if cpu["server"] is not None else "not measured"
            print(f"  {result['role']}: {name} CPU-s (median): its own {cpu['command']:.1f}, server "
                  f"{server_cpu}, machine busy {cpu['machine_busy']:.1f} and idle "
                  f"{cpu['machine_idle']:.1f}: on {cpu['cores']} cores no run of that work ends "
                  f"before {cpu['floor_seconds']:.1f} s")
        print(f"  {result['role']}: CHECKSUM TABLE equal for every table between dr-console and the "
              f"baseline: {result['checksums_equal']}; restored = source: {result['restored_equals_source']}")
    print(f"ratio: {RATIO_FASTER}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=REPO / ".lab" / "site.yaml")
    parser.add_argument("--size-mb", type=float, default=1000, help="approximate plain dump size")
    parser.add_argument("--samples", type=int, default=3, help="samples per side and server (>= 3)")
    parser.add_argument("--out", type=Path, default=REPO / ".bench" / "parts" / "restore.json")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the stock server's datadir goes (default: the system temp dir)")
    parser.add_argument("--tuned-only", action="store_true",
                        help="measure on the lab's server only (a quick look; make bench measures both)")
    args = parser.parse_args()
    if args.samples < 3:
        raise BenchError("--samples must be at least 3")
    require_tools({AWS: "Debian package awscli: `make deps` or apt-get install awscli",
                   "mariadb": "mariadb-client", "gunzip": "gzip", "bash": "bash",
                   "mariadbd": "mariadb-server", "mariadb-install-db": "mariadb-server"})
    version = subprocess.run([AWS, "--version"], capture_output=True, text=True)
    if version.returncode != 0:
        raise BenchError(f"{AWS} --version failed: {version.stderr.strip()[-300:]}")
    site_file = args.site.resolve()
    if not site_file.exists():
        raise BenchError(f"no site file at {site_file}: start the lab first (make lab-up)")

    import novagen

    site = yaml.safe_load(site_file.read_text())
    store = lab_store(site, site_file.parent)
    tuned = lab_server(site_file, site)
    started = now_iso()
    work = Path(tempfile.mkdtemp(prefix="drbench-restore-", dir=args.workdir))
    stock_proc = StockServer(work / "stock")
    servers: list[Server] = [tuned]

    def on_signal(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)  # through the finally below: the stock server is stopped

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        tuned.write_cnf(work)
        cover_lab_db(site_file, tuned)
        conn = tuned.connect()
        try:
            drop_schemas(conn, [*leftover_schemas(conn)])
            t = time.perf_counter()
            rows = novagen.create(conn, DB, args.size_mb)
            print(f"[set-up] {DB} generated on the lab server: {sum(rows.values()):,} rows in "
                  f"{time.perf_counter() - t:.1f} s")
            reference = checksums(conn, DB)
            extra = objects_besides_triggers(conn, DB)
            if extra:
                raise BenchError(f"{DB} has {extra}: the baseline's swap moves tables and triggers only")
            triggers = count_triggers(conn, DB)
        finally:
            conn.close()
        delete_dumps(store)
        t = time.perf_counter()
        key, manifest = make_dump(site_file, store, work)
        location = f"s3://{store.bucket}/{key}"
        plain = plain_size(store, key)
        dump = {"database": DB, "location": location, "stored_bytes": int(manifest["size"]),
                "plain_bytes": plain, "compression": manifest.get("compression", "gzip"),
                "rows": sum(manifest["tables"].values()), "tables": len(manifest["tables"]),
                "table_rows": manifest["tables"], "triggers": triggers,
                "size_mb_requested": args.size_mb,
                "made_by": "tests/bench/novagen.py, then `dr-console backup db` "
                           "(mariadb-dump | gzip, with a manifest)"}
        print(f"[set-up] dumped to {location}: {fmt_bytes(dump['stored_bytes'])} gzip, "
              f"{fmt_bytes(plain)} plain, {dump['rows']:,} rows, {dump['tables']} tables, "
              f"{triggers} trigger(s) ({time.perf_counter() - t:.1f} s)")

        if not args.tuned_only:
            t = time.perf_counter()
            stock_proc.start()
            stock_site = write_stock_site(site_file, stock_proc, work)
            stock = Server(role="stock", label=f"stock MariaDB started by the bench, mysql {STOCK_NAME}",
                           site_file=stock_site, site_name=STOCK_NAME, host="127.0.0.1",
                           port=stock_proc.port, user="drbench", password_file=stock_proc.password_file,
                           started_by="this bench: " + " ".join(
                               a for a in stock_proc.argv if not a.startswith(("--datadir", "--tmpdir",
                                                                               "--socket", "--pid-file"))),
                           options=["--no-defaults", "--bind-address=127.0.0.1", "--skip-name-resolve"],
                           pid=stock_proc.proc.pid)
            stock.write_cnf(work)
            servers.append(stock)
            conn = stock.connect()
            try:
                novagen.create(conn, DB, args.size_mb)
                stock_reference = checksums(conn, DB)
            finally:
                conn.close()
            print(f"[set-up] stock MariaDB on 127.0.0.1:{stock_proc.port} (pid {stock_proc.proc.pid}"
                  f", datadir in {work}), {DB} generated there ({time.perf_counter() - t:.1f} s); "
                  f"same data as on the lab server: {stock_reference == reference}")

        for server in servers:
            server.settings = global_variables(server)
        differ = settings_that_differ(tuned.settings, servers[-1].settings)
        print("\nwhich is which:")
        print(f"  tuned  {tuned.label}; started by {tuned.started_by}; options: {' '.join(tuned.options)}")
        if len(servers) > 1:
            print(f"  stock  {servers[1].label}; only --no-defaults, 127.0.0.1, a free port, its own datadir")
        print(f"server settings that differ ({len(differ)}):")
        for name, values in differ.items():
            print(f"  {name:<40} tuned {values['tuned'][:40]:<42} stock {values['stock'][:40]}")

        results = [measure(tuned, store, location, key, args.samples, work, reference)]
        if not args.tuned_only:
            results.append(measure(servers[1], store, location, key, args.samples, work, stock_reference))
        part = {
            "bench": "restore",
            "run_id": run_id(),
            "started_at": started,
            "finished_at": now_iso(),
            "machine": machine(),
            "dump": dump,
            "samples_per_side": args.samples,
            "servers": results,
            "settings_differ": differ,
            "server_versions": {s.role: s.settings.get("version", "") for s in servers},
            "aws_cli": version.stdout.strip() or version.stderr.strip(),
            "peak_rss_method": PEAK_RSS_METHOD,
            "cpu_method": CPU_METHOD,
            "spool_bytes_source": "the run journal's last state record, key 'load' "
                                  "(LoadReport.spool_bytes: the spool file's final size; 0 when serial)",
            "ratio_means": RATIO_FASTER,
            "product_verifies": "sha256 and size of the stored object against its manifest, the "
                                "compressed stream's end and the dump's completion trailer, the "
                                "database named in the dump, row counts per table against the "
                                "manifest, CHECKSUM TABLE of staging and of the live tables after "
                                "the swap, a smoke-check query",
            "baseline_verifies": "nothing",
            "copy_named": "both sides are given the object's location (dr-console with --copy), so "
                          "neither gathers an inventory to choose it",
        }
        write_part(args.out, part)
        print_results(part)
        return 0
    finally:
        with contextlib.suppress(Exception):
            conn = tuned.connect()
            try:
                drop_schemas(conn, [*leftover_schemas(conn), DB])
            finally:
                conn.close()
        with contextlib.suppress(Exception):
            cover_lab_db(site_file, tuned, cover=False)
        with contextlib.suppress(Exception):
            delete_dumps(store)
        stock_proc.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main_guard(main))
