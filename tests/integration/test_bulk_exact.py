"""Exactness of the bulk load, proven against the lab's MariaDB: the same dump
is loaded with statement replay and with the bulk path (LOAD DATA LOCAL
where a table converts), serially and over three connections, and every
table must have the same CHECKSUM TABLE, row count and AUTO_INCREMENT.
A table that differs fails the test; a fallback is only ever a path.

The dumps: every database the lab runs and every stored dump in its
offsite store, dumped as dr-console's backup dumps them; the splitter's
fixtures (binary, odd identifiers, triggers and routines); a table with
every column type MariaDB 10.11 has, filled with NULLs, empty strings,
trailing spaces, `\\N`-looking text, every escape, extremes and binary,
dumped with and without --hex-blob and in three client character sets;
and hand-written INSERTs in forms mariadb-dump never writes (they must
replay, or convert exactly).

Every schema created here starts with `drtest_bulk` and is dropped."""

from __future__ import annotations

import gzip
import os
import random
import subprocess
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest

from dr_console.backup.dump import DUMP_OPTIONS
from dr_console.backup.s3 import store_client
from dr_console.mysqldb import Account
from dr_console.restore import RestoreError, bulkload
from dr_console.restore.bulkload import BulkConnection
from dr_console.restore.checks import base_tables, quote_ident
from dr_console.restore.loader import LoadReport, load_dump
from dr_console.restore.pipeline import connector
from dr_console.restore.sqlsplit import split_dump
from dr_console.schema import Secret, Site

pytestmark = pytest.mark.lab

FIXTURES = Path(__file__).resolve().parents[1] / "unit" / "data"
PREFIX = "drtest_bulk"
SYSTEM = {"information_schema", "performance_schema", "mysql", "sys"}
# (workers, bulk): the reference is replay in the same mode (a parallel load
# reapplies only the dump's header on its worker connections).
MODES = [(1, "serial"), (3, "parallel")]


# --- fixtures -------------------------------------------------------------------


@pytest.fixture(scope="module")
def admin(lab_site: Site) -> Account:
    server = lab_site.mysql[0]
    secret = (Path(lab_site.path).parent / "secrets" / "mariadb-admin").read_text().strip()
    return Account(server.host, server.port, "labadmin", Secret(secret), "lab")


@pytest.fixture(scope="module")
def conn(admin: Account) -> Iterator[Any]:
    assert admin.password is not None
    connection = pymysql.connect(host=admin.host, port=admin.port, user=admin.user,
                                 password=admin.password.reveal(), autocommit=True, charset="utf8mb4",
                                 read_timeout=600)
    _drop_ours(connection)
    yield connection
    _drop_ours(connection)
    connection.close()


def _drop_ours(connection: Any) -> None:
    with connection.cursor() as cur:
        cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE %s",
                    (PREFIX.replace("_", "\\_") + "%",))
        for (name,) in cur.fetchall():
            cur.execute(f"DROP DATABASE {quote_ident(name)}")


@pytest.fixture(scope="module")
def defaults(admin: Account, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A client defaults file for mariadb-dump (the password never on a command line)."""
    path = tmp_path_factory.mktemp("bulk-client") / "client.cnf"
    secret = admin.password.reveal() if admin.password else ""
    path.write_text(f'[client]\nuser={admin.user}\npassword="{secret}"\nhost={admin.host}\n'
                    f"port={admin.port}\nprotocol=TCP\n")
    path.chmod(0o600)
    return path


def mariadb_dump(defaults: Path, db: str, *extra: str) -> bytes:
    """The database as dr-console's backup dumps it (DUMP_OPTIONS), or with `extra` options."""
    options = [o for o in DUMP_OPTIONS if not any(o.split("=")[0] == e.split("=")[0] for e in extra)]
    proc = subprocess.run(["mariadb-dump", f"--defaults-extra-file={defaults}", *options, *extra, db],
                          capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout


def sql(conn: Any, *statements: str | bytes) -> None:
    with conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement)


# --- loading both ways and comparing ------------------------------------------------


def fingerprint(conn: Any, db: str) -> dict[str, tuple[Any, ...]]:
    """Per base table: CHECKSUM TABLE, COUNT(*), AUTO_INCREMENT."""
    out: dict[str, tuple[Any, ...]] = {}
    with conn.cursor() as cur:
        for table in base_tables(conn, db):
            name = f"{quote_ident(db)}.{quote_ident(table)}"
            cur.execute(f"CHECKSUM TABLE {name}")
            checksum = cur.fetchone()[1]
            cur.execute(f"SELECT COUNT(*) FROM {name}")
            count = cur.fetchone()[0]
            cur.execute("SELECT AUTO_INCREMENT FROM information_schema.TABLES "
                        "WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s", (db, table))
            out[table] = (checksum, count, cur.fetchone()[0])
    return out


def load(admin: Account, dump: bytes, staging: str, *, workers: int, bulk: bool,
         scan: bool = False) -> LoadReport:
    chunks = [dump[i:i + 65536] for i in range(0, len(dump), 65536)]
    return load_dump(connector(admin), staging, split_dump(chunks), workers=workers, replace=True,
                     bulk=bulk, connect_bulk=connector(admin, bulk=True), scan=scan)


def load_both_ways(admin: Account, conn: Any, dump: bytes, name: str) -> dict[str, LoadReport]:
    """Load `dump` with statement replay and with the bulk path, in each mode;
    assert every table is the same; return the bulk reports by mode."""
    reports: dict[str, LoadReport] = {}
    for workers, mode in MODES:
        replayed, bulked = f"{PREFIX}_{name}_r{workers}", f"{PREFIX}_{name}_b{workers}"
        try:
            reference = load(admin, dump, replayed, workers=workers, bulk=False)
            report = load(admin, dump, bulked, workers=workers, bulk=True, scan=True)
            assert report.bulk_refused == "", report.bulk_refused
            want, got = fingerprint(conn, replayed), fingerprint(conn, bulked)
            assert set(got) == set(want)
            differ = {t: (want[t], got[t]) for t in want if want[t] != got[t]}
            assert not differ, f"{name} ({mode}): tables differ after the bulk load: {differ}; " \
                               f"paths {report.paths}"
            assert report.tables == reference.tables, (mode, report.tables, reference.tables)
            # Each loading connection's count and checksum, taken as soon as
            # its table was in, are what the finished schema holds (for the
            # base tables: the ones the verify step checks).
            for table in report.scans.keys() & got.keys():
                rows, checksum = report.scans[table]
                assert (checksum, rows) == got[table][:2], (name, mode, table)
            reports[mode] = report
        finally:
            sql(conn, f"DROP DATABASE IF EXISTS {quote_ident(replayed)}",
                f"DROP DATABASE IF EXISTS {quote_ident(bulked)}")
    return reports


def bulk_tables(report: LoadReport) -> set[str]:
    return {t for t, (path, _why) in report.paths.items() if path == "bulk"}


# --- the lab's own data -----------------------------------------------------------------


def test_every_lab_database_loads_the_same_both_ways(admin: Account, conn: Any, defaults: Path) -> None:
    with conn.cursor() as cur:
        cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
        databases = sorted(n for (n,) in cur.fetchall() if n not in SYSTEM and not n.startswith("drtest"))
    assert databases, "the lab has no database"
    bulked: set[str] = set()
    for db in databases:
        reports = load_both_ways(admin, conn, mariadb_dump(defaults, db), f"lab{databases.index(db)}")
        bulked |= {f"{db}.{t}" for t in bulk_tables(reports["parallel"])}
    assert bulked, "no table of the lab took the bulk path: the comparison proved nothing"


def test_every_stored_dump_loads_the_same_both_ways(lab_site: Site, admin: Account, conn: Any) -> None:
    """The offsite store's dumps, as they are (the lab's `shop` dumps come
    from another tool, without a manifest); damaged ones are skipped."""
    store = lab_site.store("offsite")
    client = store_client(store)
    listing = client.list_objects_v2(Bucket=store.bucket, Prefix="mysql/").get("Contents", [])
    by_db: dict[str, list[str]] = {}
    for key in sorted((o["Key"] for o in listing if o["Key"].endswith((".sql", ".sql.gz"))), reverse=True):
        if not key.startswith("mysql/drtest"):  # the lab's own, not other tests' or benches'
            by_db.setdefault(key.split("/")[1], []).append(key)
    checked = []
    for index, (db, keys) in enumerate(sorted(by_db.items())):
        for key in keys:  # the newest good one (the lab damages some on purpose)
            body = client.get_object(Bucket=store.bucket, Key=key)["Body"].read()
            try:
                plain = gzip.decompress(body) if key.endswith(".gz") else body
            except (OSError, EOFError, zlib.error):
                continue
            if b"-- Dump completed" in plain[-200:]:
                load_both_ways(admin, conn, plain, f"st{index}")
                checked.append(db)
                break
    assert checked


@pytest.mark.parametrize("name", ["mariadb-dump-hex.sql", "mariadb-dump-raw.sql"])
def test_splitter_fixtures_load_the_same_both_ways(admin: Account, conn: Any, name: str) -> None:
    reports = load_both_ways(admin, conn, (FIXTURES / name).read_bytes(), name.split(".")[0][-3:])
    for report in reports.values():
        # audit has a trigger in the dump, created after the rows: not there at load time.
        assert bulk_tables(report) == {"audit", "child", "parent", "semi;colon table"}, report.paths
    # The dump creates an event after its data: one could write rows once
    # created, so no table is taken as checked before the verify step.
    assert reports["parallel"].scans == {}


# --- every column type ---------------------------------------------------------------------

EVERY_TYPE = """CREATE TABLE every_type (
  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, mi MEDIUMINT, i INT, iu INT UNSIGNED,
  bi BIGINT, biu BIGINT UNSIGNED, bo BOOLEAN,
  de DECIMAL(65,30), de2 DECIMAL(10,2) UNSIGNED, fl FLOAT, db DOUBLE, fl2 FLOAT(7,3),
  bt BIT(1), bt64 BIT(64),
  dt DATE, tm TIME(6), dtm DATETIME(6), ts TIMESTAMP(3) NULL DEFAULT NULL, yr YEAR,
  ch CHAR(10), vc VARCHAR(255), tt TINYTEXT, tx TEXT, mt MEDIUMTEXT, lt LONGTEXT,
  bn BINARY(8), vb VARBINARY(255), tb TINYBLOB, bl BLOB, mb MEDIUMBLOB, lb LONGBLOB,
  en ENUM('a','b','c d','it''s'), st SET('x','y','z'),
  js JSON, uu UUID, i4 INET4, i6 INET6,
  g GEOMETRY, pt POINT, ls LINESTRING, pg POLYGON, mpt MULTIPOINT, mls MULTILINESTRING,
  mpg MULTIPOLYGON, gc GEOMETRYCOLLECTION,
  l1 VARCHAR(50) CHARACTER SET latin1, u3 VARCHAR(50) CHARACTER SET utf8mb3,
  u2 VARCHAR(50) CHARACTER SET ucs2, u16 VARCHAR(50) CHARACTER SET utf16,
  u32 VARCHAR(50) CHARACTER SET utf32, a7 VARCHAR(50) CHARACTER SET ascii,
  nn VARCHAR(20) NOT NULL DEFAULT ''
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"""

# Text that LOAD DATA could misread: every escape mysqldump writes, the ones it
# never writes, NULL look-alikes, separators, quotes, spaces.
AWKWARD = ["", " ", "a  ", "  a", "N", "\\N", "NULL", "null", "\\", "\\\\", "'", "''", '"', "\0", "\n", "\r",
           "\r\n", "\x1a", "\t", "\b", "%", "_", "\\%", "\\_", "a,b", "(x),(y)", "),(", "'),('", "a\\'b",
           "end\\", "Zoë Ünal", "日本語", "emoji 🙂", "0x41", "1e3", "-0", "DEFAULT", "_binary'x'"]
GEOMETRIES = ["POINT(1 2)", "LINESTRING(0 0,1 1,2 0)", "POLYGON((0 0,4 0,4 4,0 4,0 0))",
              "MULTIPOINT(1 1,2 2)", "MULTILINESTRING((0 0,1 1),(2 2,3 3))",
              "MULTIPOLYGON(((0 0,1 0,1 1,0 0)))", "GEOMETRYCOLLECTION(POINT(1 1),LINESTRING(0 0,1 1))"]


COLUMNS = ["ti", "tiu", "si", "mi", "i", "iu", "bi", "biu", "bo", "de", "de2", "fl", "db", "fl2", "bt",
           "bt64", "dt", "tm", "dtm", "ts", "yr", "ch", "vc", "tt", "tx", "mt", "lt", "bn", "vb", "tb", "bl",
           "mb", "lb", "en", "st", "js", "uu", "i4", "i6", "g", "pt", "ls", "pg", "mpt", "mls", "mpg", "gc",
           "l1", "u3", "u2", "u16", "u32", "a7", "nn"]
NULLABLE_TEXT = ["ch", "vc", "tt", "tx", "mt", "lt", "bn", "vb", "tb", "bl", "mb", "lb", "l1", "u3", "u2",
                 "u16", "u32"]
SPATIAL = {"g", "pt", "ls", "pg", "mpt", "mls", "mpg", "gc"}
# Numbers at their limits (and -0.0), then random ones.
EXTREMES = [
    dict(ti=-128, tiu=0, si=-32768, mi=-8388608, i=-2147483648, iu=0, bi=-9223372036854775808, biu=0, bo=0,
         de="-" + "9" * 35 + "." + "9" * 30, de2="0.00", fl=-3.40282e38, db=-1.7976931348623157e308,
         fl2=-9999.999),
    dict(ti=127, tiu=255, si=32767, mi=8388607, i=2147483647, iu=4294967295, bi=9223372036854775807,
         biu=18446744073709551615, bo=1, de="9" * 35 + "." + "9" * 30, de2="99999999.99", fl=3.40282e38,
         db=1.7976931348623157e308, fl2=9999.999),
    dict(ti=0, tiu=0, si=0, mi=0, i=0, iu=0, bi=0, biu=0, bo=0, de="0.000000000000000000000000000001",
         de2="0.01", fl=1.17549e-38, db=5e-324, fl2=0.001),
    dict(ti=-1, tiu=1, si=-1, mi=1, i=-1, iu=1, bi=-1, biu=1, bo=1, de="-0.5", de2="0.5", fl=-0.0, db=-0.0,
         fl2=-0.0),
]


def _numbers(rng: random.Random, n: int) -> dict[str, Any]:
    if n < 40:
        return EXTREMES[n % len(EXTREMES)]
    return dict(ti=rng.randint(-128, 127), tiu=rng.randint(0, 255), si=rng.randint(-30000, 30000),
                mi=rng.randint(0, 99999), i=rng.randint(-2**31, 2**31 - 1), iu=rng.randint(0, 2**32 - 1),
                bi=rng.randint(-2**63, 2**63 - 1), biu=rng.randint(0, 2**64 - 1), bo=rng.randint(0, 1),
                de=f"{rng.uniform(-1e6, 1e6):.12f}", de2=f"{rng.uniform(0, 1e6):.2f}",
                fl=rng.uniform(-1e30, 1e30), db=rng.uniform(-1e300, 1e300) * rng.random(),
                fl2=round(rng.uniform(-9999, 9999), 3))


def _row(rng: random.Random, n: int) -> dict[str, Any]:
    text = AWKWARD[n % len(AWKWARD)] + (AWKWARD[(n * 7) % len(AWKWARD)] if n % 3 else "")
    blob = bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 8, 255, 4000])))
    if n % 50 == 0:
        blob = bytes(range(256)) * 1200  # longer than one stream packet
    nulls = n % 11 == 5  # NULL in every nullable text and binary column
    row: dict[str, Any] = {
        **_numbers(rng, n), "bt": n % 2, "bt64": 2**64 - 1 - n,
        "dt": "0000-00-00" if n % 17 == 0 else f"{1000 + n % 9000}-12-31",
        "tm": f"-838:59:59.{n % 1000000:06d}" if n % 2 else "00:00:00",
        "dtm": "9999-12-31 23:59:59.999999" if n % 5 == 0 else f"20{n % 100:02d}-01-01 12:34:56.{n:06d}",
        "ts": "1970-01-01 00:00:01.000" if n % 4 == 0 else None, "yr": [0, 1901, 2155, 2024][n % 4],
        "ch": text[:10], "vc": text, "tt": text[:200], "tx": text * 3, "mt": text * 50, "lt": text * 100,
        "bn": blob[:8], "vb": blob[:255], "tb": blob[:255], "bl": blob[:60000], "mb": blob, "lb": blob,
        "en": ["a", "b", "c d", "it's"][n % 4], "st": ["", "x", "x,z", "x,y,z"][n % 4],
        "js": '{"k": "\\u00e9\\n\\\\", "n": null}' if n % 2 else "[]",
        "uu": None if n % 3 == 0 else "123e4567-e89b-12d3-a456-426614174000",
        "i4": ["0.0.0.0", "255.255.255.255", None][n % 3], "i6": ["::", "::ffff:1.2.3.4", "fe80::1"][n % 3],
        "g": GEOMETRIES[n % len(GEOMETRIES)], **dict(zip(["pt", "ls", "pg", "mpt", "mls", "mpg", "gc"],
                                                         GEOMETRIES, strict=True)),
        "l1": text[:50] if all(ord(c) < 256 for c in text[:50]) else "x", "u3": text[:50], "u2": text[:50],
        "u16": text[:50], "u32": text[:50], "a7": "ascii only", "nn": text[:20],
    }
    if nulls:
        row.update(dict.fromkeys(NULLABLE_TEXT))
    return row


def fill_every_type(conn: Any, db: str, rows: int) -> None:
    rng = random.Random(20241119)
    sql(conn, f"CREATE DATABASE {quote_ident(db)} CHARACTER SET utf8mb4", f"USE {quote_ident(db)}",
        "SET SESSION sql_mode='NO_ENGINE_SUBSTITUTION'", "SET time_zone='+00:00'", EVERY_TYPE)
    marks = ",".join("ST_GeomFromText(%s)" if c in SPATIAL else "%s" for c in COLUMNS)
    insert = f"INSERT INTO every_type ({','.join(COLUMNS)}) VALUES ({marks})"
    with conn.cursor() as cur:
        cur.execute("INSERT INTO every_type (id, nn) VALUES (1, '')")  # NULL everywhere else
        for n in range(rows):
            row = _row(rng, n)
            cur.execute(insert, [row[c] for c in COLUMNS])


@pytest.fixture(scope="module")
def every_type(conn: Any) -> Iterator[str]:
    db = f"{PREFIX}_types_src"
    sql(conn, f"DROP DATABASE IF EXISTS {db}")
    fill_every_type(conn, db, 600)
    yield db
    sql(conn, f"DROP DATABASE IF EXISTS {db}")


@pytest.mark.parametrize("options", [(), ("--skip-hex-blob",), ("--default-character-set=latin1",),
                                     ("--default-character-set=binary",), ("--net-buffer-length=4096",),
                                     ("--complete-insert",), ("--compact",)],
                         ids=["hex-blob", "raw", "latin1", "binary", "small-statements", "column-list",
                              "compact"])
def test_every_column_type_loads_the_same_both_ways(admin: Account, conn: Any, defaults: Path,
                                                    every_type: str, options: tuple[str, ...]) -> None:
    dump = mariadb_dump(defaults, every_type, *options)
    reports = load_both_ways(admin, conn, dump, "types")
    for mode, report in reports.items():
        path, why = report.paths["every_type"]
        if "--skip-hex-blob" in options or "--default-character-set=binary" in options:
            # BIT dumped as b'0101'; with a binary client charset, every string
            # column (an ENUM too) as hex: no exact stream form, so replay.
            assert path in ("replay", "bulk+replay"), (mode, why)
            assert "LOAD DATA would read differently" in why, (mode, why)
        else:
            assert path == "bulk", (mode, options, report.paths)
    # Loaded in one piece, no event: its loading connection checked it.
    assert set(reports["parallel"].scans) == {"every_type"}


def test_generated_versioned_and_non_transactional_tables_replay(admin: Account, conn: Any,
                                                                 defaults: Path) -> None:
    db = f"{PREFIX}_kinds_src"
    sql(conn, f"DROP DATABASE IF EXISTS {db}", f"CREATE DATABASE {db}", f"USE {db}",
        "CREATE TABLE gen (id INT PRIMARY KEY, a INT, v INT AS (a * 2) VIRTUAL, s INT AS (a + 1) STORED,"
        " h INT INVISIBLE DEFAULT 7)",
        "INSERT INTO gen (id, a, h) VALUES (1, 5, 9), (2, NULL, NULL), (3, -1, 1)",
        "CREATE TABLE inv (id INT PRIMARY KEY, h INT INVISIBLE DEFAULT 7, b VARCHAR(5))",
        "INSERT INTO inv (id, h, b) VALUES (1, 9, 'x'), (2, 8, NULL)",
        "CREATE TABLE ver (id INT PRIMARY KEY, a INT) WITH SYSTEM VERSIONING",
        "INSERT INTO ver VALUES (1, 1), (2, 2)",
        "CREATE TABLE my (id INT PRIMARY KEY, a VARCHAR(9)) ENGINE=MyISAM",
        "INSERT INTO my VALUES (1, 'x'), (2, '')",
        "CREATE TABLE ar (id INT PRIMARY KEY, a VARCHAR(9)) ENGINE=Aria",
        "INSERT INTO ar VALUES (1, 'y')")
    try:
        reports = load_both_ways(admin, conn, mariadb_dump(defaults, db), "kinds")
    finally:
        sql(conn, f"DROP DATABASE IF EXISTS {db}")
    for report in reports.values():
        paths = {t: p for t, (p, _w) in report.paths.items()}
        assert paths == {"gen": "replay", "inv": "bulk", "ver": "replay", "my": "replay", "ar": "replay"}, \
            report.paths
        assert "generated column" in report.paths["gen"][1]


# --- forms mariadb-dump never writes -----------------------------------------------------------

HEADER = b"""-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)
--
-- Host: 127.0.0.1    Database: drtest_odd
-- ------------------------------------------------------
/*!40101 SET NAMES utf8mb4 */;
/*!40103 SET TIME_ZONE='+00:00' */;
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;
"""


def odd_dump(body: bytes) -> bytes:
    return HEADER + body + b"\n-- Dump completed on 2024-11-19 10:00:00\n"


def test_forms_mariadb_dump_never_writes_replay_or_convert_exactly(admin: Account, conn: Any) -> None:
    dump = odd_dump(b"""
CREATE TABLE `esc` (`id` int NOT NULL, `a` varchar(40), `b` varchar(40), PRIMARY KEY (`id`));
INSERT INTO `esc` VALUES (1,'\\N','a\\%b\\_c'),(2,'it''s','x''''y'),(3,'\\\\N','\\\\%');
INSERT INTO `esc` VALUES (4,'\\Q\\z','''');
CREATE TABLE `mixed` (`id` int NOT NULL, `a` varchar(40), `b` blob, PRIMARY KEY (`id`));
INSERT INTO `mixed` VALUES (1,'plain',0x00FF),(2,'also plain',NULL);
INSERT INTO `mixed` VALUES (3,_binary 'intro',0x41),(4,0x41,'q');
INSERT INTO `mixed` VALUES (5,1e3,_binary 'x'),(6,-0,X'4142');
CREATE TABLE `hexfirst` (`id` int NOT NULL, `a` varchar(40), PRIMARY KEY (`id`));
INSERT INTO `hexfirst` VALUES (1,0x4142),(2,'b');
CREATE TABLE `ign` (`id` int NOT NULL, PRIMARY KEY (`id`));
INSERT IGNORE INTO `ign` VALUES (1),(1),(2);
CREATE TABLE `nul` (`id` int NOT NULL AUTO_INCREMENT, `a` int NOT NULL, PRIMARY KEY (`id`));
INSERT INTO `nul` VALUES (NULL,1),(NULL,2),(7,3);
CREATE TABLE `trunc` (`id` int NOT NULL, `a` varchar(3), `n` tinyint, PRIMARY KEY (`id`));
INSERT INTO `trunc` VALUES (1,'abcdef',1),(2,'ok',300);
CREATE TABLE `spaced` (`id` int NOT NULL, `a` varchar(10), PRIMARY KEY (`id`));
INSERT INTO `spaced` VALUES (1, 'a'), (2,'b');
""")
    reports = load_both_ways(admin, conn, dump, "odd")
    for report in reports.values():
        paths = report.paths
        assert paths["esc"][0] == "bulk" and "rewritten in 1 statement" in paths["esc"][1], paths["esc"]
        assert paths["mixed"][0] == "bulk+replay" and "first 1 statement" in paths["mixed"][1], paths["mixed"]
        assert paths["hexfirst"][0] == "replay", paths["hexfirst"]
        assert paths["ign"][0] == "replay" and "another form" in paths["ign"][1], paths["ign"]
        assert paths["nul"][0] == "replay", paths["nul"]  # NULL into a NOT NULL column
        # Truncated by the INSERT too (not strict): LOAD DATA warned, was rolled back, replayed.
        assert paths["trunc"][0] == "replay" and "warning" in paths["trunc"][1], paths["trunc"]
        assert paths["spaced"][0] == "replay", paths["spaced"]


def test_runs_commit_apart_and_a_refused_one_replays_alone(admin: Account, conn: Any,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """With one transaction per statement, the runs before a refused one stay
    loaded; the refused one and the rest of its table replay."""
    monkeypatch.setattr(bulkload, "RUN_BYTES", 1)
    dump = odd_dump(b"""
CREATE TABLE `late` (`id` int NOT NULL, `a` varchar(3), PRIMARY KEY (`id`));
INSERT INTO `late` VALUES (1,'abc'),(2,'de');
INSERT INTO `late` VALUES (3,'f'),(4,NULL);
INSERT INTO `late` VALUES (5,'too long'),(6,'g');
INSERT INTO `late` VALUES (7,'h');
CREATE TABLE `many` (`id` int NOT NULL, PRIMARY KEY (`id`));
INSERT INTO `many` VALUES (1),(2);
INSERT INTO `many` VALUES (3);
INSERT INTO `many` VALUES (4),(5),(6);
""")
    reports = load_both_ways(admin, conn, dump, "runs")
    for report in reports.values():
        path, why = report.paths["late"]
        assert path == "bulk+replay", why
        assert why.startswith("its first 2 statement(s) bulk-loaded, then LOAD DATA LOCAL gave 1 warn"), why
        assert report.paths["many"][0] == "bulk" and report.tables["many"] == 6


def test_a_duplicate_key_fails_the_bulk_load_as_it_fails_the_replay(admin: Account, conn: Any) -> None:
    """LOAD DATA LOCAL would skip the duplicate with a warning; the restore
    must fail as the INSERTs fail (with unique_checks=0 on an empty table,
    InnoDB finds it at COMMIT)."""
    dump = odd_dump(b"""
CREATE TABLE `dup` (`id` int NOT NULL, PRIMARY KEY (`id`));
INSERT INTO `dup` VALUES (1),(2),(1);
""")
    for workers, _mode in MODES:
        for bulk in (False, True):
            staging = f"{PREFIX}_dup_{workers}_{int(bulk)}"
            try:
                with pytest.raises(RestoreError, match=r"Duplicate entry '1'|during COMMIT"):
                    load(admin, dump, staging, workers=workers, bulk=bulk)
            finally:
                sql(conn, f"DROP DATABASE IF EXISTS {staging}")


def test_a_table_loaded_in_pieces_is_not_checked_before_its_last(admin: Account, conn: Any) -> None:
    """A table whose rows come in two places of the dump was scanned after
    its first piece: that scan is dropped, the verify step counts it."""
    dump = odd_dump(b"""
CREATE TABLE `a` (`id` int NOT NULL, PRIMARY KEY (`id`));
CREATE TABLE `b` (`id` int NOT NULL, PRIMARY KEY (`id`));
INSERT INTO `a` VALUES (1),(2);
INSERT INTO `b` VALUES (1);
INSERT INTO `a` VALUES (3);
""")
    staging = f"{PREFIX}_pieces"
    try:
        report = load(admin, dump, staging, workers=3, bulk=True, scan=True)
        assert report.tables == {"a": 3, "b": 1}
        assert set(report.scans) == {"b"} and report.scans["b"][0] == 1
    finally:
        sql(conn, f"DROP DATABASE IF EXISTS {staging}")


def test_a_session_charset_change_between_tables_is_followed(admin: Account, conn: Any) -> None:
    """SET NAMES latin1 before a table's data: serially the INSERTs read
    latin1, and so must the stream (CHARACTER SET latin1)."""
    dump = odd_dump(b"""
CREATE TABLE `l1` (`id` int NOT NULL, `a` varchar(10) CHARACTER SET utf8mb4, PRIMARY KEY (`id`));
/*!40101 SET NAMES latin1 */;
INSERT INTO `l1` VALUES (1,'caf\xe9'),(2,'\xff\xfe');
/*!40101 SET NAMES gbk */;
CREATE TABLE `g` (`id` int NOT NULL, `a` varchar(10), PRIMARY KEY (`id`));
INSERT INTO `g` VALUES (1,'x');
""")
    reports = load_both_ways(admin, conn, dump, "names")
    serial = reports["serial"].paths
    assert serial["l1"][0] == "bulk" and serial["g"][0] == "replay" and "gbk" in serial["g"][1], serial


# --- the server's side -----------------------------------------------------------------------------


def test_local_infile_off_means_replay_for_every_table(admin: Account, conn: Any) -> None:
    dump = (FIXTURES / "mariadb-dump-hex.sql").read_bytes()
    sql(conn, "SET GLOBAL local_infile = 0")
    try:
        for workers, _mode in MODES:
            staging = f"{PREFIX}_off_{workers}"
            try:
                report = load(admin, dump, staging, workers=workers, bulk=True)
            finally:
                sql(conn, f"DROP DATABASE IF EXISTS {staging}")
            assert report.bulk_refused == "the server refuses LOAD DATA LOCAL (local_infile=OFF)"
            assert {p for p, _w in report.paths.values()} == {"replay"}
            assert all(w == report.bulk_refused for _p, w in report.paths.values())
    finally:
        sql(conn, "SET GLOBAL local_infile = 1")


def test_only_the_offered_stream_is_ever_sent(admin: Account, conn: Any, tmp_path: Path) -> None:
    """A server naming any other file gets an empty one and the load fails:
    pymysql's own handler would have sent the file."""
    secret = tmp_path / "secret.txt"
    secret.write_text("(1),(2),")
    db = f"{PREFIX}_stream"
    sql(conn, f"DROP DATABASE IF EXISTS {db}", f"CREATE DATABASE {db}", f"CREATE TABLE {db}.t (x INT)")
    assert admin.password is not None
    bulk = BulkConnection(host=admin.host, port=admin.port, user=admin.user, password=admin.password.reveal(),
                          database=db, autocommit=True, local_infile=True)
    try:
        with pytest.raises(pymysql.err.OperationalError, match="not the stream offered"):
            bulk.load_local(f"LOAD DATA LOCAL INFILE '{secret}' INTO TABLE t".encode(), [b"(3),"])
        # A LOAD DATA LOCAL the dump itself holds (run as a statement) gets nothing either.
        with pytest.raises(pymysql.err.OperationalError, match="not the stream offered"):
            bulk.query(f"LOAD DATA LOCAL INFILE '{secret}' INTO TABLE t".encode())
        with bulk.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM t")
            assert cur.fetchone()[0] == 0
    finally:
        bulk.close()
        sql(conn, f"DROP DATABASE IF EXISTS {db}")
    assert os.path.exists(secret)
