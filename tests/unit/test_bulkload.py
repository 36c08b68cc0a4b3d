"""The bulk-load converter without a server: which INSERT statements become a
LOAD DATA stream (and exactly what stream), which are refused and why,
and what decides a table or a session before any row. The server side of
exactness is proven by tests/integration/test_bulk_exact.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from dr_console.restore import bulkload
from dr_console.restore.bulkload import BIN, BIT, DEC, FLOAT, INT, STR, YEAR, Column, Converter, TablePlan
from dr_console.restore.sqlsplit import Kind, split_dump

DATA = Path(__file__).parent / "data"


def plan(*columns: Column, table: str = "t") -> TablePlan:
    return TablePlan(table, list(columns), "utf8mb4")


def col(name: str, kind: str | None, nullable: bool = True, **kw: bool) -> Column:
    return Column(name, kind, kind or "geometrycollectionz", nullable, **kw)


def stream(converter: Converter, sql: bytes) -> bytes | None:
    out = converter.convert(sql)
    return None if out is None else bytes(out) + b","


TYPES = plan(col("i", INT), col("d", DEC), col("f", FLOAT), col("y", YEAR), col("s", STR), col("b", BIN))


# --- what converts, byte for byte ----------------------------------------------


def test_values_pass_through_untouched() -> None:
    sql = (b"INSERT INTO `t` VALUES (1,-2.50,1.5e-7,2024,'O\\'Brien \\\\ \\0 \\n\\r\\Z \\\" \\t \\b',"
           b"0x00FF),\n(NULL,NULL,NULL,NULL,NULL,NULL),\n(-3,0.00,-1.5E+300,0000,'',''),"
           b"\n(4,5,6,1901,'it''s ''''',0xAB)")
    converter = Converter(TYPES, sql)
    assert converter.ready and converter.hex_mode
    assert stream(converter, sql) == sql[len(b"INSERT INTO `t` VALUES"):] + b","
    assert converter.rewrites == 0


def test_the_load_statement_names_every_column_and_unhexes_binary() -> None:
    converter = Converter(TYPES, b"INSERT INTO `t` VALUES (1,1,1,2000,'a',0x00)")
    assert converter.load_sql() == (
        b"LOAD DATA LOCAL INFILE 'drc-bulk-stream' INTO TABLE `t` CHARACTER SET binary "
        b"FIELDS TERMINATED BY ',' ENCLOSED BY '\\'' ESCAPED BY '\\\\' "
        b"LINES STARTING BY '(' TERMINATED BY '),' (`i`, `d`, `f`, `y`, `s`, @drc_5) "
        b"SET `b` = UNHEX(SUBSTRING(@drc_5, 3))")


def test_the_stream_is_read_as_binary_only_where_the_bytes_are_the_columns_own() -> None:
    utf8 = [col("i", INT), Column("s", STR, "varchar", True, charset="utf8mb3"),
            Column("j", STR, "longtext", True, charset="utf8mb4"), col("b", BIN)]
    assert TablePlan("t", utf8, "utf8mb4").stream_charset == "binary"
    assert TablePlan("t", utf8, "utf8mb3").stream_charset == "binary"
    # A latin1 column's bytes differ from the dump's UTF-8: the server must convert.
    latin1 = [*utf8, Column("l", STR, "varchar", True, charset="latin1")]
    assert TablePlan("t", latin1, "utf8mb4").stream_charset == "utf8mb4"
    # A latin1 dump is decoded as latin1 whatever the columns are.
    assert TablePlan("t", utf8, "latin1").stream_charset == "latin1"
    converter = Converter(TablePlan("t", latin1, "utf8mb4"), b"INSERT INTO `t` VALUES (1,'a','b',0x00,'c')")
    assert b" CHARACTER SET utf8mb4 FIELDS " in converter.load_sql()


def test_quoted_binary_without_hex_blob_loads_as_is() -> None:
    sql = b"INSERT INTO `t` VALUES (1,1,1,2000,'a','raw \\0 bytes \xff\xfe')"
    converter = Converter(TYPES, sql)
    assert not converter.hex_mode
    assert stream(converter, sql) == b" (1,1,1,2000,'a','raw \\0 bytes \xff\xfe'),"
    assert b"UNHEX" not in converter.load_sql()
    # Once the form is fixed, a hex value in the next statement is not taken.
    assert converter.convert(b"INSERT INTO `t` VALUES (1,1,1,2000,'a',0x00)") is None


def test_escapes_that_load_data_reads_differently_are_rewritten() -> None:
    s = plan(col("s", STR))
    sql = b"INSERT INTO `t` VALUES ('\\N'),('a\\%b\\_c'),('\\\\N'),('\\\\\\N')"
    converter = Converter(s, sql)
    # \N -> N (LOAD DATA would read NULL), \% -> \\% and \_ -> \\_ (it would drop the
    # backslash the SQL parser keeps), an escaped backslash before N untouched.
    assert stream(converter, sql) == b" ('N'),('a\\\\%b\\\\_c'),('\\\\N'),('\\\\N'),"
    assert converter.rewrites == 1


def test_a_column_list_is_followed_and_invisible_columns_skipped_without_one() -> None:
    cols = plan(col("a", INT), col("h", INT, invisible=True), col("c", STR))
    plain = Converter(cols, b"INSERT INTO `t` VALUES (1,'x')")
    assert b"(`a`, `c`)" in plain.load_sql() and plain.convert(b"INSERT INTO `t` VALUES (1,'x')")
    listed = b"INSERT INTO `t` (`c`, `h`, `a`) VALUES ('x',2,1)"
    converter = Converter(cols, listed)
    assert b"(`c`, `h`, `a`)" in converter.load_sql()
    assert stream(converter, listed) == b" ('x',2,1),"
    assert not Converter(cols, b"INSERT INTO `t` (`nope`) VALUES (1)").ready


# --- what is refused ---------------------------------------------------------------


@pytest.mark.parametrize("value", [
    b"0x41", b"1e3", b"-0", b"_binary'x'", b"_utf8mb4'x'", b"X'41'", b"b'1'", b"N'x'", b'"x"',
    b"DEFAULT", b"TRUE", b"'a' 'b'", b"CONCAT('a')", b" 'x'", b"'x' ", b"NULLX", b"'x",
])
def test_unquoted_or_odd_values_in_a_string_column_are_refused(value: bytes) -> None:
    converter = Converter(plan(col("i", INT), col("s", STR)), b"INSERT INTO `t` VALUES (1,'ok')")
    assert converter.convert(b"INSERT INTO `t` VALUES (2," + value + b")") is None
    assert "LOAD DATA would read differently" in converter.why


@pytest.mark.parametrize(("kind", "value"), [
    (INT, b"'1'"), (INT, b"1.5"), (INT, b"0x10"), (INT, b"+1"), (DEC, b"-0.00"), (DEC, b"-0"),
    (FLOAT, b"-0e0"), (FLOAT, b"-0.0"), (FLOAT, b".5"), (YEAR, b"24"), (YEAR, b"'2024'"),
    (BIT, b"b'101'"), (BIN, b"0x0"), (BIN, b"0xABC"),
])
def test_numbers_bits_and_hex_outside_their_exact_forms_are_refused(kind: str, value: bytes) -> None:
    first = b"0x01" if kind in (BIN, BIT) else b"1" if kind != YEAR else b"2024"
    converter = Converter(plan(col("v", kind)), b"INSERT INTO `t` VALUES (" + first + b")")
    assert converter.convert(b"INSERT INTO `t` VALUES (" + first + b")") is not None
    assert converter.convert(b"INSERT INTO `t` VALUES (" + value + b")") is None


@pytest.mark.parametrize(("kind", "value"), [
    (DEC, b"-0.5"), (DEC, b"-10"), (DEC, b"-0.001"), (FLOAT, b"-1e-3"), (FLOAT, b"-0.5e2"), (INT, b"-7"),
])
def test_negative_numbers_that_are_not_zero_convert(kind: str, value: bytes) -> None:
    sql = b"INSERT INTO `t` VALUES (" + value + b",'x')"
    converter = Converter(plan(col("v", kind), col("s", STR)), sql)
    assert stream(converter, sql) == b" (" + value + b",'x'),"


def test_a_negative_zero_inside_a_string_of_a_decimal_table_sends_it_to_replay() -> None:
    # RE2 has no lookahead: the -0 check searches the whole statement, and a
    # string holding one is refused too (slower, never wrong).
    converter = Converter(plan(col("v", DEC), col("s", STR)), b"INSERT INTO `t` VALUES (1,'x')")
    assert converter.convert(b"INSERT INTO `t` VALUES (1,'a,-0,b')") is None
    assert converter.convert(b"INSERT INTO `t` VALUES (1,'a,-0.5,b')") is not None


def test_null_only_where_the_column_allows_it() -> None:
    converter = Converter(plan(col("a", INT, nullable=False), col("b", STR)),
                          b"INSERT INTO `t` VALUES (1,NULL)")
    assert converter.convert(b"INSERT INTO `t` VALUES (1,NULL)") is not None
    assert converter.convert(b"INSERT INTO `t` VALUES (NULL,'x')") is None


def test_other_statement_forms_are_refused() -> None:
    cols = plan(col("a", INT))
    for sql in (b"INSERT IGNORE INTO `t` VALUES (1)", b"REPLACE INTO `t` VALUES (1)",
                b"INSERT INTO `db`.`t` VALUES (1)", b"INSERT INTO `u` VALUES (1)",
                b"INSERT INTO t VALUES (1)"):
        assert not Converter(cols, sql).ready, sql
    converter = Converter(cols, b"INSERT INTO `t` VALUES (1)")
    assert converter.convert(b"INSERT INTO `t` (`a`) VALUES (1)") is None
    assert "another form" in converter.why
    # Rows must be separated as a dump separates them: `,` and at most a newline.
    assert converter.convert(b"INSERT INTO `t` VALUES (1), (2)") is None
    assert converter.convert(b"INSERT INTO `t` VALUES (1)(2)") is None
    assert converter.convert(b"INSERT INTO `t` VALUES (1,2)") is None


# --- decisions before any row ------------------------------------------------------


def test_table_refusals() -> None:
    ok = [col("a", INT), col("b", STR)]
    assert bulkload.table_refusal(ok, engine="InnoDB", table_type="BASE TABLE", triggers=0) is None
    cases = {
        "generated column `g`": ([*ok, col("g", INT, generated=True)], "InnoDB", "BASE TABLE", 0),
        "column `x` of type geometrycollectionz": ([*ok, col("x", None)], "InnoDB", "BASE TABLE", 0),
        "1 trigger(s)": (ok, "InnoDB", "BASE TABLE", 1),
        "engine MyISAM": (ok, "MyISAM", "BASE TABLE", 0),
        "system versioned": (ok, "InnoDB", "SYSTEM VERSIONED", 0),
    }
    for expected, (columns, engine, table_type, triggers) in cases.items():
        why = bulkload.table_refusal(columns, engine=engine, table_type=table_type, triggers=triggers)
        assert why is not None and expected in why, (expected, why)


def test_session_refusals() -> None:
    assert bulkload.session_refusal("utf8mb4", "utf8mb4", "NO_AUTO_VALUE_ON_ZERO") is None
    assert bulkload.session_refusal("latin1", "latin1", "STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION") is None
    assert "gbk" in (bulkload.session_refusal("gbk", "gbk", "") or "")
    assert "converts them" in (bulkload.session_refusal("utf8mb4", "latin1", "") or "")
    for mode in ("NO_BACKSLASH_ESCAPES", "ANSI_QUOTES", "EMPTY_STRING_IS_NULL", "ORACLE"):
        assert mode in (bulkload.session_refusal("utf8mb4", "utf8mb4", f"NO_AUTO_VALUE_ON_ZERO,{mode}") or "")


@pytest.mark.parametrize("name", ["mariadb-dump-hex.sql", "mariadb-dump-raw.sql"])
def test_real_dumps_convert_whole(name: str) -> None:
    """Every INSERT of the fixtures (binary, odd identifiers, every escape)
    converts with its table's columns as the DDL declares them."""
    kinds = {
        "audit": [col("id", INT, False), col("msg", STR)],
        "child": [col("id", INT, False), col("parent_id", INT), col("v", FLOAT), col("created", STR)],
        "parent": [col("id", INT, False), col("name", STR), col("note", STR), col("data", BIN),
                   col("weird`name", INT)],
        "semi;colon table": [col("id", INT, False), col("col `quoted", STR)],
    }
    dump = (DATA / name).read_bytes()
    inserts = [s for s in split_dump([dump]) if s.kind is Kind.DATA and s.verb == "INSERT"]
    assert inserts
    converters: dict[str, Converter] = {}
    for stmt in inserts:
        assert stmt.table in kinds, stmt.table
        converter = converters.setdefault(stmt.table, Converter(plan(*kinds[stmt.table], table=stmt.table),
                                                                stmt.sql))
        assert converter.convert(stmt.sql) is not None, (stmt.table, converter.why)
    assert converters["parent"].hex_mode is name.endswith("hex.sql")


# --- plumbing ------------------------------------------------------------------------


def test_feed_gives_back_what_was_not_taken() -> None:
    feed = bulkload.Feed(iter([1, 2, 3]))
    assert next(feed) == 1
    feed.give_back(1)
    assert list(feed) == [1, 2, 3]


def test_replay_copy_keeps_only_the_run_in_progress(tmp_path: Path) -> None:
    copy = bulkload.ReplayCopy(str(tmp_path))
    copy.restart()
    copy.add(b"INSERT 1")
    copy.restart()
    big = b"x" * (3 * 1024 * 1024)
    for sql in (b"INSERT 2", big, b""):
        copy.add(sql)
    assert list(copy) == [b"INSERT 2", big, b""]
    assert list(tmp_path.iterdir()) == []  # unlinked from the start
    copy.close()
