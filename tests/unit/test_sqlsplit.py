"""The streaming dump splitter: real mariadb-dump output (tests/unit/data,
made from a database with triggers, a procedure, a function, an event, a
view, blobs and awkward strings; one with --hex-blob, one with raw bytes),
hand-written edge cases, and chunk boundaries everywhere."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from dr_console.restore.sqlsplit import DumpSplitter, Kind, Statement, split_dump

DATA = Path(__file__).parent / "data"
DUMPS = ["mariadb-dump-hex.sql", "mariadb-dump-raw.sql"]


def split(data: bytes, chunk: int | None = None, **kwargs: bool) -> tuple[list[Statement], DumpSplitter]:
    splitter = DumpSplitter(**kwargs)
    chunks = [data] if chunk is None else [data[i:i + chunk] for i in range(0, len(data), chunk)]
    return list(split_dump(chunks, splitter)), splitter


def key(statements: list[Statement]) -> list[tuple[object, ...]]:
    return [(s.kind, s.sql, s.table, s.verb, s.offset, s.name) for s in statements]


def sqls(data: bytes) -> list[bytes]:
    return [s.sql for s in split(data)[0]]


# --- real mariadb-dump output ------------------------------------------------


@pytest.fixture(params=DUMPS)
def dump(request: pytest.FixtureRequest) -> bytes:
    return (DATA / request.param).read_bytes()


def test_real_dump_header_trailer_and_sandbox(dump: bytes) -> None:
    statements, splitter = split(dump)
    assert splitter.database == "drtest_sample"
    assert splitter.server_version and "MariaDB" in splitter.server_version
    assert splitter.sandbox  # the first line is a client command, not sent to the server
    assert not any(b"sandbox" in s.sql for s in statements)
    assert splitter.complete
    assert splitter.truncated_tail == 0


def test_real_dump_classification(dump: bytes) -> None:
    statements, _ = split(dump)
    kinds = [s.kind for s in statements]
    # Header first, footer last, nothing unclassified.
    assert kinds[:10] == [Kind.HEADER] * 10
    assert kinds[-8:] == [Kind.FOOTER] * 8
    assert Kind.OTHER not in kinds
    ddl = {(s.verb, s.table) for s in statements if s.kind is Kind.TABLE_DDL}
    for table in ("audit", "child", "parent", "semi;colon table", "empty_one"):
        assert ("DROP", table) in ddl and ("CREATE", table) in ddl
    inserted = {s.table for s in statements if s.kind is Kind.DATA and s.verb == "INSERT"}
    assert inserted == {"audit", "child", "parent", "semi;colon table"}
    data_verbs = {s.verb for s in statements if s.kind is Kind.DATA}
    assert data_verbs == {"LOCK", "UNLOCK", "KEYS", "INSERT"}
    assert all(s.table for s in statements if s.kind is Kind.DATA)
    by_kind = {k: [s for s in statements if s.kind is k] for k in Kind}
    assert {(s.verb, s.name) for s in by_kind[Kind.TRIGGER]} == {("CREATE", "parent_ai")}
    assert by_kind[Kind.TRIGGER][0].table == "parent"
    assert {(s.verb, s.name) for s in by_kind[Kind.ROUTINE]} == {
        ("DROP", "twice"), ("CREATE", "twice"), ("DROP", "count_children"), ("CREATE", "count_children")}
    assert {(s.verb, s.name) for s in by_kind[Kind.EVENT]} == {("DROP", "nightly"), ("CREATE", "nightly")}
    assert {s.name for s in by_kind[Kind.VIEW]} == {"parent_names"}


def test_real_dump_bodies_keep_inner_semicolons(dump: bytes) -> None:
    statements, _ = split(dump)
    trigger = next(s for s in statements if s.kind is Kind.TRIGGER)
    # Both statements of BEGIN … END (and the `;` inside their strings) stay in one piece.
    assert b"VALUES (CONCAT('added; ', NEW.name));" in trigger.sql
    assert b"VALUES ('second; stmt');\n    END" in trigger.sql
    assert trigger.sql.rstrip().endswith(b"*/")
    procedure = next(s for s in statements if s.kind is Kind.ROUTINE and s.name == "count_children"
                     and s.verb == "CREATE")
    assert b"-- a comment; with semicolon" in procedure.sql
    assert b"SELECT 'done;' AS s;" in procedure.sql
    view = [s for s in statements if s.kind is Kind.VIEW and s.verb == "CREATE"][-1]
    assert b"'x;y'" in view.sql


def test_real_dump_every_statement_is_whole(dump: bytes) -> None:
    """Each INSERT is a whole statement, found at its offset in the dump:
    nothing lost, nothing split inside a value."""
    statements, _ = split(dump)
    inserts = [s for s in statements if s.kind is Kind.DATA and s.verb == "INSERT"]
    assert len(inserts) == dump.count(b"\nINSERT INTO `")
    for s in statements:
        if s.kind is Kind.DATA and s.verb == "INSERT":
            assert s.sql.startswith(b"INSERT INTO `") and s.sql.endswith(b")")
            assert dump[s.offset:s.offset + len(s.sql)] == s.sql


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 64, 1000, 4096])
def test_real_dump_any_chunking_gives_the_same_statements(dump: bytes, chunk: int) -> None:
    whole, _ = split(dump)
    assert key(split(dump, chunk)[0]) == key(whole)


def test_real_dump_random_chunking(dump: bytes) -> None:
    whole = key(split(dump)[0])
    for seed in range(20):
        rng = random.Random(seed)
        chunks, at = [], 0
        while at < len(dump):
            n = rng.choice([1, 2, 7, 50, 333, 4096, 20000])
            chunks.append(dump[at:at + n])
            at += n
        assert key(list(split_dump(chunks))) == whole, seed


def test_fast_insert_path_agrees_with_the_full_lexer(dump: bytes) -> None:
    fast, splitter = split(dump, 997)
    slow, _ = split(dump, 997, fast_inserts=False)
    assert splitter._fast
    assert key(fast) == key(slow)


def test_raw_bytes_survive(dump: bytes) -> None:
    statements, _ = split(dump)
    parent = b"".join(s.sql for s in statements if s.table == "parent" and s.verb == "INSERT")
    if b"0x" not in parent:  # the dump without --hex-blob: escaped raw bytes
        assert b"\xff" in parent and b"\\0" in parent


# --- lexical edge cases -------------------------------------------------------


def test_quotes_escapes_and_doubled_quotes() -> None:
    data = (b"INSERT INTO t VALUES ('a;b', 'it''s;', 'back\\\\', 'esc\\';x', \"d;q\", \"x\"\";\");\n"
            b"SELECT `we;ird``name` FROM `a;b`;\n"
            b"SELECT 1;")
    assert sqls(data) == [
        b"INSERT INTO t VALUES ('a;b', 'it''s;', 'back\\\\', 'esc\\';x', \"d;q\", \"x\"\";\")",
        b"SELECT `we;ird``name` FROM `a;b`",
        b"SELECT 1",
    ]


def test_comments() -> None:
    data = (b"-- leading comment; with semicolon\n"
            b"# hash comment; too\n"
            b"/* block ; comment */\n"
            b"SELECT 1 -- trailing; comment\n, 2 # more; \n;\n"
            b"SELECT 3--4;\n"  # `--` not followed by a space is two minus signs
            b"SELECT /* ; */ 5;\n"
            b"/*!40101 SET NAMES utf8mb4 */;\n"
            b"/*M!100616 SET NOTE_VERBOSITY=0 */;\n")
    assert sqls(data) == [
        b"SELECT 1 -- trailing; comment\n, 2 # more; \n",
        b"SELECT 3--4",
        b"SELECT /* ; */ 5",
        b"/*!40101 SET NAMES utf8mb4 */",
        b"/*M!100616 SET NOTE_VERBOSITY=0 */",
    ]


def test_delimiter_blocks() -> None:
    data = (b"DELIMITER ;;\n"
            b"CREATE TRIGGER t1 BEFORE INSERT ON `x` FOR EACH ROW BEGIN SET @a = ';'; SET @b = 1; END ;;\n"
            b"delimiter $$\n"
            b"CREATE PROCEDURE p() BEGIN SELECT '$$'; SELECT 2; END$$\n"
            b"DELIMITER //\n"
            b"CREATE FUNCTION f() RETURNS INT RETURN 1 / 1//\n"
            b"DELIMITER ;\n"
            b"SELECT 1;\n")
    statements, splitter = split(data)
    assert [s.sql for s in statements] == [
        b"CREATE TRIGGER t1 BEFORE INSERT ON `x` FOR EACH ROW BEGIN SET @a = ';'; SET @b = 1; END ",
        b"CREATE PROCEDURE p() BEGIN SELECT '$$'; SELECT 2; END",
        b"CREATE FUNCTION f() RETURNS INT RETURN 1 / 1",
        b"SELECT 1",
    ]
    assert [s.kind for s in statements[:3]] == [Kind.TRIGGER, Kind.ROUTINE, Kind.ROUTINE]
    assert statements[0].table == "x"
    assert splitter.delimiter == b";"


def test_binary_bytes_and_crlf() -> None:
    blob = bytes(range(256)).replace(b"'", b"").replace(b"\\", b"")
    data = b"INSERT INTO `b` VALUES (1,'" + blob + b"');\r\nSELECT 2;\r\n"
    statements, _ = split(data, fast_inserts=False)
    assert [s.sql for s in statements] == [b"INSERT INTO `b` VALUES (1,'" + blob + b"')", b"SELECT 2"]


def test_every_chunk_boundary_of_a_tricky_script() -> None:
    data = (b"/*M!999999\\- enable the sandbox mode */ \n-- MySQL dump 10.13\n"
            b"-- Host: h    Database: d\n/*!40101 SET NAMES utf8 */;\n"
            b"INSERT INTO `t` VALUES (1,'a;\\'b','c''d;'),(2,\"e;\",0xFF3B);\n"
            b"-- c; \n/* x; */ # y;\nDELIMITER ;;\nCREATE PROCEDURE p() BEGIN SELECT ';;'; END;;\n"
            b"DELIMITER ;\nSELECT `a;``b`;\n-- Dump completed on 2024-01-01\n")
    whole, splitter = split(data)
    assert len(whole) == 4 and splitter.complete and splitter.database == "d"
    for cut in range(1, len(data)):
        s = DumpSplitter()
        got = s.feed(data[:cut]) + s.feed(data[cut:]) + s.close()
        assert key(got) == key(whole), cut
        assert s.complete


def test_unterminated_statement_is_reported_not_emitted() -> None:
    statements, splitter = split(b"SELECT 1;\nINSERT INTO t VALUES (1,'abc")
    assert [s.sql for s in statements] == [b"SELECT 1"]
    assert splitter.truncated_tail > 0
    assert not splitter.complete


def test_trailer_must_be_last() -> None:
    ok = split(b"SELECT 1;\n-- Dump completed on 2024-01-01 00:00:00\n\n")[1]
    assert ok.complete
    moved = split(b"-- Dump completed on 2024\nSELECT 1;\n")[1]
    assert not moved.complete


def test_empty_and_comment_only_input() -> None:
    statements, splitter = split(b"")
    assert statements == [] and splitter.truncated_tail == 0 and splitter.database is None
    statements, splitter = split(b"-- just a comment")
    assert statements == [] and splitter.truncated_tail == 0


# --- classification -----------------------------------------------------------


@pytest.mark.parametrize(("sql", "kind", "table", "verb", "name"), [
    (b"CREATE TABLE IF NOT EXISTS `db`.`t``x` (id int)", Kind.TABLE_DDL, "t`x", "CREATE", None),
    (b"DROP TABLE IF EXISTS plain_name", Kind.TABLE_DDL, "plain_name", "DROP", None),
    (b"/*!50001 CREATE TABLE `v` (\n `a` tinyint NOT NULL\n) ENGINE=MyISAM */", Kind.TABLE_DDL, "v",
     "CREATE", None),
    (b"INSERT IGNORE INTO `t` VALUES (1)", Kind.DATA, "t", "INSERT", None),
    (b"REPLACE INTO t (a) VALUES (1)", Kind.DATA, "t", "INSERT", None),
    (b"INSERT INTO `a`.`t` VALUES (1)", Kind.DATA, "t", "INSERT", None),
    (b"LOCK TABLES `t` WRITE", Kind.DATA, "t", "LOCK", None),
    (b"/*!40000 ALTER TABLE `t` DISABLE KEYS */", Kind.DATA, "t", "KEYS", None),
    (b"/*!50001 CREATE ALGORITHM=UNDEFINED */\n/*!50013 DEFINER=`root`@`localhost` SQL SECURITY DEFINER */"
     b"\n/*!50001 VIEW `v` AS select 1 AS `a` */", Kind.VIEW, "v", "CREATE", "v"),
    (b"/*!50001 DROP VIEW IF EXISTS `v`*/", Kind.VIEW, "v", "DROP", "v"),
    (b"CREATE DEFINER='u'@'%' PROCEDURE `p`() SELECT 1", Kind.ROUTINE, None, "CREATE", "p"),
    (b"CREATE DEFINER=`u`@`%` FUNCTION f() RETURNS int RETURN 1", Kind.ROUTINE, None, "CREATE", "f"),
    (b"/*!50106 CREATE*/ /*!50117 DEFINER=`u`@`h`*/ /*!50106 EVENT `e` ON SCHEDULE EVERY 1 DAY "
     b"DO SELECT 1 */", Kind.EVENT, None, "CREATE", "e"),
    (b"CREATE DATABASE /*!32312 IF NOT EXISTS*/ `nova` /*!40100 DEFAULT CHARACTER SET utf8mb3 */",
     Kind.DATABASE, None, "CREATE", "nova"),
    (b"USE `nova`", Kind.DATABASE, None, "USE", "nova"),
    (b"SELECT SETVAL(`s`, 1, 0)", Kind.OTHER, None, "SELECT", None),
])
def test_classification(sql: bytes, kind: Kind, table: str | None, verb: str, name: str | None) -> None:
    splitter = DumpSplitter()
    splitter._objects = True  # past the header
    statement = splitter._classify(sql, 0)
    assert (statement.kind, statement.table, statement.verb, statement.name) == (kind, table, verb, name)


def test_header_session_and_footer_sets() -> None:
    data = (b"/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;\n"
            b"SET NAMES utf8mb4;\n"
            b"CREATE TABLE t (a int);\n"
            b"/*!50003 SET sql_mode = 'STRICT_TRANS_TABLES' */ ;\n"
            b"/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;\n")
    assert [s.kind for s in split(data)[0]] == [Kind.HEADER, Kind.HEADER, Kind.TABLE_DDL, Kind.SESSION,
                                                Kind.FOOTER]


def test_unlock_takes_the_current_data_table() -> None:
    data = b"LOCK TABLES `a` WRITE;\nINSERT INTO `a` VALUES (1);\nUNLOCK TABLES;\n"
    assert [(s.verb, s.table) for s in split(data)[0]] == [("LOCK", "a"), ("INSERT", "a"), ("UNLOCK", "a")]


def test_a_long_statement_is_not_rescanned_quadratically() -> None:
    """A 20 MB statement fed in 1 KB chunks: the retry threshold doubles, so
    the lexer runs only O(log n) times over it."""
    value = b"x\\'y;" * (4 * 1024 * 1024)
    data = b"SELECT '" + value + b"';\n"
    splitter = DumpSplitter(fast_inserts=False)
    calls = 0
    original = splitter._drain

    def counting(*, final: bool) -> list[Statement]:
        nonlocal calls
        calls += 1
        return original(final=final)

    splitter._drain = counting  # type: ignore[method-assign]
    out = []
    for i in range(0, len(data), 1024):
        out += splitter.feed(data[i:i + 1024])
    out += splitter.close()
    assert [len(s.sql) for s in out] == [len(data) - 2]
    assert calls < 40
