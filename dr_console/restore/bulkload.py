"""Bulk-loading a table's rows: its INSERT statements, as they stream from the
dump, become LOAD DATA LOCAL INFILE streams (one per 16 MB of statements,
each in its own transaction), exactly or not at all (docs/restore.md,
"Bulk load").

The stream is the INSERTs' own VALUES lists. With

    FIELDS TERMINATED BY ',' ENCLOSED BY '\\'' ESCAPED BY '\\\\'
    LINES STARTING BY '(' TERMINATED BY '),'

the server's LOAD DATA reader takes `(1,'O\\'Brien',NULL),\\n(2,'')` as rows,
and it unescapes strings as the SQL parser does (\\0 \\' \\" \\b \\n \\r \\t \\Z
\\\\, a doubled '' inside quotes, an unquoted NULL), so the bytes pass through
untouched. What differs between the two readers is ruled out statement by
statement with one regex per table built from its columns' types:

* a string column's value must be quoted (or NULL when the column allows
  it): unquoted, LOAD DATA would store `0x41`, `1e3` or `_binary'x'` as
  text where the INSERT stores 'A', '1000' or x;
* numbers are plain decimal literals in numeric columns only;
* \\N, \\% and \\_ inside quotes mean N, \\% and \\_ to the SQL parser but NULL,
  % and _ to LOAD DATA: such a statement is rewritten (\\N -> N,
  \\% -> \\\\%); nothing else is;
* hex literals (--hex-blob) go to binary, bit and spatial columns through
  `SET col = UNHEX(SUBSTRING(@v, 3))`, the same bytes the literal gives.

A statement that does not match sends the rest of its table to statement
replay. A run the server accepted with warnings (a duplicate key, a
truncated value: LOAD DATA LOCAL turns errors into warnings where an
INSERT fails) is rolled back and its statements replayed, and so is the
rest of the table, so a refused value fails exactly as the INSERT would. Tables with generated columns,
triggers, system versioning or a non-transactional engine, sessions
with a multi-byte charset that can hide a backslash, or an sql_mode that
changes how literals read (NO_BACKSLASH_ESCAPES, ANSI_QUOTES,
EMPTY_STRING_IS_NULL, ...) replay their INSERTs.

`BulkConnection` serves LOAD DATA LOCAL from an in-process iterator and only
for the stream it offered: a server asking for any other file gets nothing
(pymysql's own handler would open whatever path the server names).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import pymysql
import re2
from pymysql.connections import Connection, MySQLResult
from pymysql.protocol import LoadLocalPacketWrapper

from dr_console.mysqldb import SharedTLSContext
from dr_console.restore.checks import quote_ident

STREAM_NAME = b"drc-bulk-stream"  # what the LOAD DATA statement names; the only file served
PACKET = 256 * 1024  # bytes per LOAD DATA LOCAL packet (bounded by the server's max_allowed_packet)
FORMAT = (r"FIELDS TERMINATED BY ',' ENCLOSED BY '\'' ESCAPED BY '\\' "
          r"LINES STARTING BY '(' TERMINATED BY '),'")

# Session character sets in which no multi-byte character can contain a
# backslash or a quote byte (gbk, sjis, big5, cp932 can).
SAFE_CHARSETS = frozenset({"utf8mb4", "utf8mb3", "utf8", "latin1", "ascii", "binary"})
_UTF8 = frozenset({"utf8mb4", "utf8mb3", "utf8"})  # a utf8mb3 value is the same bytes in utf8mb4
# sql_mode flags that leave string and number literals as LOAD DATA reads
# them; strict modes only turn warnings into errors, which the warning
# check below covers.
SAFE_MODES = frozenset({
    "NO_AUTO_VALUE_ON_ZERO", "STRICT_TRANS_TABLES", "STRICT_ALL_TABLES", "TRADITIONAL",
    "ERROR_FOR_DIVISION_BY_ZERO", "NO_ZERO_DATE", "NO_ZERO_IN_DATE", "ALLOW_INVALID_DATES",
    "NO_ENGINE_SUBSTITUTION", "NO_AUTO_CREATE_USER", "ONLY_FULL_GROUP_BY", "IGNORE_SPACE",
    "HIGH_NOT_PRECEDENCE", "PIPES_AS_CONCAT", "REAL_AS_FLOAT", "NO_DIR_IN_CREATE",
    "NO_UNSIGNED_SUBTRACTION", "NO_FIELD_OPTIONS", "NO_KEY_OPTIONS", "NO_TABLE_OPTIONS",
    "PAD_CHAR_TO_FULL_LENGTH", "SIMULTANEOUS_ASSIGNMENT", "TIME_ROUND_FRACTIONAL",
})


class Matcher(Protocol):
    """What the bulk path asks of a compiled RE2 pattern."""

    def fullmatch(self, text: bytes, pos: int = ...) -> object | None: ...

    def search(self, text: bytes, pos: int = ...) -> object | None: ...


# --- column kinds -------------------------------------------------------------

INT, DEC, FLOAT, YEAR, STR, BIN, BIT = "int", "decimal", "float", "year", "string", "binary", "bit"
_KINDS = {
    **dict.fromkeys(("tinyint", "smallint", "mediumint", "int", "bigint"), INT),
    "decimal": DEC, "float": FLOAT, "double": FLOAT, "year": YEAR,
    **dict.fromkeys(("char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set",
                     "date", "time", "datetime", "timestamp", "json", "uuid", "inet4", "inet6"), STR),
    **dict.fromkeys(("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "geometry",
                     "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon",
                     "geometrycollection"), BIN),
    "bit": BIT,
}

# One value of each kind, as the SQL text of an INSERT, in RE2's syntax: a
# statement is checked by RE2's automaton (linear time, about 6x Python's re
# on dump text: the check was half the restore's own CPU). Bytes are latin-1
# characters to RE2, so any byte is one character.
_STR = rb"'[^'\\]*(?:(?:\\[^N%_]|'')[^'\\]*)*'"
_STR_ANY = rb"'[^'\\]*(?:(?:\\.|'')[^'\\]*)*'"  # with \N, \% or \_ (rewritten)
_NUMBER = {
    INT: rb"-?[0-9]{1,20}",
    DEC: rb"-?[0-9]{1,35}(?:\.[0-9]{1,30})?",
    FLOAT: rb"-?[0-9]{1,30}(?:\.[0-9]{1,30})?(?:[eE][-+]?[0-9]{1,3})?",
    YEAR: rb"[0-9]{4}",  # '0'..'99' as strings and as numbers mean different years
}
_HEX = rb"0x(?:[0-9A-Fa-f]{2})+|''"
_NOTHING = rb"[^\x00-\xff]"  # no byte: a column whose values never convert


def _re2(pattern: bytes, *, dot_nl: bool = False) -> Matcher:
    options = re2.Options()
    options.encoding = re2.Options.Encoding.LATIN1
    options.never_capture = True
    options.dot_nl = dot_nl
    options.max_mem = 64 << 20  # the automaton's cache: wide tables make big ones
    options.log_errors = False
    return re2.compile(pattern, options)  # type: ignore[no-any-return]


# -0 is 0 to the INSERT and -0 to LOAD DATA (a DECIMAL or DOUBLE keeps the
# sign). RE2 has no lookahead, so a table with such columns also searches
# its statements for a negative zero after `(` or `,`; one inside a quoted
# string is found too and sends the statement to replay: slower, never wrong.
_NEGATIVE_ZERO = _re2(rb"[(,]-[0.]*(?:[eE][-+]?[0-9]+)?[,)]")

_PREFIX = re.compile(rb"INSERT INTO (`(?:[^`]|``)+`)(?: \(((?:`(?:[^`]|``)+`(?:, ?)?)++)\))? VALUES")
_NAME = re.compile(rb"`((?:[^`]|``)+)`")
_ESCAPE = re.compile(rb"\\(.)", re.S)


def _text(value: Any) -> str:
    """A server value as text: under SET NAMES binary the server answers in
    bytes (UTF-8 for identifiers)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def _unquote(raw: bytes) -> str:
    return raw.replace(b"``", b"`").decode("utf-8", "replace")


@dataclass(frozen=True)
class Column:
    name: str
    kind: str | None  # None: a type the bulk path does not take
    data_type: str
    nullable: bool
    generated: bool = False
    invisible: bool = False
    charset: str | None = None  # its CHARACTER SET; None for numbers, dates, binary types


@dataclass
class TablePlan:
    """A table the bulk path may take: its columns, from the staging
    schema as the dump's own DDL made it."""

    table: str
    columns: list[Column]
    charset: str  # the session's character_set_client: how the dump's text is encoded
    _patterns: dict[tuple[Any, ...], Matcher] = field(default_factory=dict, repr=False)

    @property
    def stream_charset(self) -> str:
        """The LOAD DATA stream's CHARACTER SET. A utf8 dump into columns
        that are all utf8 (or have no character set) is read as `binary`:
        the bytes are already the columns' own encoding, so the server
        copies them (still checking they are valid) instead of decoding
        each character and converting it: less server CPU, same bytes."""
        if self.charset in _UTF8 and all(c.charset is None or c.charset in _UTF8 for c in self.columns):
            return "binary"
        return self.charset

    @property
    def by_name(self) -> dict[str, Column]:
        return {c.name.lower(): c for c in self.columns}

    def pattern(self, targets: tuple[Column, ...], hex_mode: bool, any_escape: bool) -> Matcher:
        key = (tuple(c.name for c in targets), hex_mode, any_escape)
        found = self._patterns.get(key)
        if found is None:
            found = self._patterns[key] = _body_pattern(targets, hex_mode, any_escape)
        return found


def _value_pattern(column: Column, hex_mode: bool, any_escape: bool) -> bytes:
    string = _STR_ANY if any_escape else _STR
    kind = column.kind
    if kind in _NUMBER:
        forms = [_NUMBER[kind]]
    elif kind == STR:
        forms = [string]
    elif kind == BIN:
        forms = [_HEX if hex_mode else string]
    elif kind == BIT and hex_mode:
        forms = [_HEX]
    else:
        forms = []  # bit as b'0101': no exact stream form; never matches
    if column.nullable:
        forms.append(b"NULL")
    return b"(?:" + b"|".join(forms or [_NOTHING]) + b")"


def _body_pattern(targets: tuple[Column, ...], hex_mode: bool, any_escape: bool) -> Matcher:
    row = rb"\(" + b",".join(_value_pattern(c, hex_mode, any_escape) for c in targets) + rb"\)"
    return _re2(rb"[ \n]?" + row + rb"(?:,\n?" + row + rb")*", dot_nl=any_escape)


def column_kind(data_type: str) -> str | None:
    return _KINDS.get(data_type.lower())


def table_refusal(columns: list[Column], *, engine: str, table_type: str, triggers: int) -> str | None:
    """Why the bulk path cannot take this table whatever its values, or None."""
    if not columns:
        return "no columns found in the staging schema"
    if table_type.upper() not in ("BASE TABLE", ""):
        return f"it is a {table_type.lower()} table"
    if engine.lower() != "innodb":
        return f"engine {engine or '?'} cannot roll back a refused bulk load"
    if triggers:
        return f"{triggers} trigger(s) on it at load time"
    for column in columns:
        if column.generated:
            return f"generated column `{column.name}`"
        if column.kind is None:
            return f"column `{column.name}` of type {column.data_type}"
    return None


def session_refusal(charset_client: str, charset_connection: str, sql_mode: str) -> str | None:
    """Why statements read differently from a LOAD DATA stream in this
    session (after the dump's header), or None."""
    if charset_client.lower() != charset_connection.lower():
        return (f"the dump's session reads literals as {charset_client} and converts them to "
                f"{charset_connection}")
    if charset_client.lower() not in SAFE_CHARSETS:
        return f"the dump's character set {charset_client} can hide a backslash inside a character"
    odd = sorted({m for m in sql_mode.upper().split(",") if m} - SAFE_MODES)
    if odd:
        return f"the dump's sql_mode has {', '.join(odd)}"
    return None


# --- reading the server -------------------------------------------------------


def read_session(conn: Connection) -> tuple[str | None, str]:
    """(charset, "") when this session's literals convert exactly, else
    (None, why)."""
    with conn.cursor() as cur:
        cur.execute("SELECT @@character_set_client, @@character_set_connection, @@sql_mode")
        row = cur.fetchone()
    client, connection, mode = (_text(v) for v in row)
    why = session_refusal(client, connection, mode)
    return (None, why) if why else (client.lower(), "")


def read_columns(conn: Connection, db: str, table: str) -> tuple[list[Column], str | None]:
    """The table's columns and why the bulk path cannot take it (or None)."""
    with conn.cursor() as cur:
        cur.execute("SELECT COLUMN_NAME, DATA_TYPE, IS_NULLABLE, EXTRA, IS_GENERATED, CHARACTER_SET_NAME "
                    "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s "
                    "ORDER BY ORDINAL_POSITION", (db, table))
        columns = [_column(*row) for row in cur.fetchall()]
        cur.execute("SELECT ENGINE, TABLE_TYPE FROM information_schema.TABLES "
                    "WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s", (db, table))
        row = cur.fetchone()
        engine, table_type = (_text(row[0]), _text(row[1])) if row else ("", "")
        cur.execute("SELECT COUNT(*) FROM information_schema.TRIGGERS "
                    "WHERE EVENT_OBJECT_SCHEMA=%s AND EVENT_OBJECT_TABLE=%s", (db, table))
        triggers = int(cur.fetchone()[0])
    return columns, table_refusal(columns, engine=engine, table_type=table_type, triggers=triggers)


def _column(name: Any, dtype: Any, nullable: Any, extra: Any, generated: Any, charset: Any = None) -> Column:
    return Column(_text(name), column_kind(_text(dtype)), _text(dtype), _text(nullable) == "YES",
                  generated=(_text(generated) or "NEVER").upper() == "ALWAYS",
                  invisible="INVISIBLE" in _text(extra).upper(),
                  charset=_text(charset).lower() if charset is not None else None)


def plan_table(conn: Connection, db: str, table: str, charset: str) -> TablePlan | str:
    """The table's plan, or why it replays its INSERTs: decided from its DDL
    before any of its rows load."""
    if not charset.startswith("utf8") and not table.isascii():
        return f"its name is not ASCII and the session reads names as {charset}"
    columns, why = read_columns(conn, db, table)
    if why:
        return why
    if not charset.startswith("utf8") and not all(c.name.isascii() for c in columns):
        return f"a column name is not ASCII and the session reads names as {charset}"
    return TablePlan(table, columns, charset)


def outlook(conn: Connection, db: str) -> tuple[str, dict[str, str]]:
    """What a plan can say before the run, read-only: why the server would
    refuse LOAD DATA LOCAL ("" if it would not), and which of `db`'s tables,
    as they stand now, would replay their INSERTs whatever their values
    (table -> why). The load decides again from the dump's own DDL."""
    with conn.cursor() as cur:
        cur.execute("SELECT @@GLOBAL.local_infile")
        if not int(cur.fetchone()[0]):
            return "the server refuses LOAD DATA LOCAL (local_infile=OFF)", {}
        cur.execute("SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, IS_NULLABLE, EXTRA, IS_GENERATED "
                    "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA=%s "
                    "ORDER BY TABLE_NAME, ORDINAL_POSITION", (db,))
        columns: dict[str, list[Column]] = {}
        for table, *column in cur.fetchall():
            columns.setdefault(_text(table), []).append(_column(*column))
        cur.execute("SELECT TABLE_NAME, ENGINE, TABLE_TYPE FROM information_schema.TABLES "
                    "WHERE TABLE_SCHEMA=%s AND TABLE_TYPE <> 'VIEW'", (db,))
        tables = {_text(t): (_text(e), _text(k)) for t, e, k in cur.fetchall()}
    # Triggers are left out: the load creates them after the rows.
    refused = {}
    for table, (engine, table_type) in sorted(tables.items()):
        why = table_refusal(columns.get(table, []), engine=engine, table_type=table_type, triggers=0)
        if why:
            refused[table] = why
    return "", refused


# --- converting statements ---------------------------------------------------


class Converter:
    """One run of a table's INSERTs into one LOAD DATA stream. The first
    statement fixes the form every other one must have (the same
    `INSERT INTO t [(cols)] VALUES` and, for binary columns, hex or quoted
    values)."""

    def __init__(self, plan: TablePlan, first: bytes) -> None:
        self.plan = plan
        self.why = ""  # why the last refused statement could not be converted
        self.prefix = b""
        self.targets: tuple[Column, ...] = ()
        self.hex_mode = False
        self.rewrites = 0  # statements whose \N, \% or \_ escapes were rewritten
        self.signed_zero_possible = False  # a DECIMAL, FLOAT or DOUBLE among the targets
        self._start(first)

    def _start(self, first: bytes) -> None:
        m = _PREFIX.match(first)
        if m is None:
            self.why = f"its INSERTs have another form ({_head(first)})"
            return
        if _unquote(m.group(1)[1:-1]) != self.plan.table:
            self.why = "its INSERTs name another table or a schema"
            return
        by_name = self.plan.by_name
        if m.group(2) is None:
            targets = [c for c in self.plan.columns if not c.invisible]
        else:
            targets = []
            for raw in _NAME.findall(m.group(2)):
                column = by_name.get(_unquote(raw).lower())
                if column is None:
                    self.why = f"its INSERTs name a column `{_unquote(raw)}` it does not have"
                    return
                targets.append(column)
        self.targets = tuple(targets)
        self.signed_zero_possible = any(c.kind in (DEC, FLOAT) for c in self.targets)
        self.prefix = m.group(0)
        has_binary = any(c.kind in (BIN, BIT) for c in self.targets)
        self.hex_mode = has_binary
        if has_binary and not self._match(first, any_escape=True):
            self.hex_mode = False  # quoted binary values (no --hex-blob)

    def _match(self, sql: bytes, *, any_escape: bool) -> bool:
        start = len(self.prefix)
        if self.signed_zero_possible and _NEGATIVE_ZERO.search(sql, start) is not None:
            return False
        return self.plan.pattern(self.targets, self.hex_mode, any_escape).fullmatch(sql, start) is not None

    @property
    def ready(self) -> bool:
        return bool(self.prefix)

    def convert(self, sql: bytes) -> bytes | memoryview | None:
        """The statement's rows as stream bytes (its VALUES list; the stream
        puts a `,` after it), or None (see `why`)."""
        if not sql.startswith(self.prefix):
            self.why = f"a statement of another form ({_head(sql)})"
            return None
        if self._match(sql, any_escape=False):
            return memoryview(sql)[len(self.prefix):]
        if self._match(sql, any_escape=True):
            self.rewrites += 1
            return _ESCAPE.sub(_rewrite, sql[len(self.prefix):])
        self.why = ("a value that LOAD DATA would read differently (an unquoted string, a hex, "
                    "bit or introducer literal, or a NULL in a NOT NULL column)")
        return None

    def load_sql(self) -> bytes:
        names: list[str] = []
        sets: list[str] = []
        for index, column in enumerate(self.targets):
            if self.hex_mode and column.kind in (BIN, BIT):
                var = f"@drc_{index}"
                names.append(var)
                sets.append(f"{quote_ident(column.name)} = UNHEX(SUBSTRING({var}, 3))")
            else:
                names.append(quote_ident(column.name))
        sql = (f"LOAD DATA LOCAL INFILE '{STREAM_NAME.decode()}' INTO TABLE {quote_ident(self.plan.table)} "
               f"CHARACTER SET {self.plan.stream_charset} {FORMAT} ({', '.join(names)})")
        if sets:
            sql += " SET " + ", ".join(sets)
        return sql.encode()


def _rewrite(m: re.Match[bytes]) -> bytes:
    char = m.group(1)
    if char == b"N":
        return b"N"  # \N is N to the SQL parser; alone in a field LOAD DATA would read NULL
    if char in (b"%", b"_"):
        return b"\\\\" + char  # the parser keeps the backslash; LOAD DATA would drop it
    return m.group(0)


def _head(sql: bytes) -> str:
    return sql[:60].decode("utf-8", "replace").split("\n", 1)[0]


# --- the connection ------------------------------------------------------------


class _StreamResult(MySQLResult):
    def _read_load_local_packet(self, first_packet: Any) -> None:
        conn: BulkConnection = self.connection
        wanted = LoadLocalPacketWrapper(first_packet).filename
        stream = conn.offered
        error: BaseException | None = None
        try:
            if stream is None or wanted != STREAM_NAME:
                # Send nothing: the server gets an empty file and we fail the load.
                error = pymysql.err.OperationalError(
                    2000, f"the server asked for local file {wanted[:80]!r}, not the stream offered")
            else:
                size = conn.packet_size
                for chunk in stream:
                    view = memoryview(chunk)
                    for at in range(0, len(view), size):
                        conn.write_packet(view[at:at + size])
        finally:
            if conn.open:  # the end of the file, even after a failure: the server answers
                conn.write_packet(b"")
                ok = conn._read_packet()
                self._read_ok_packet(ok)
        if error is not None:
            raise error


class BulkConnection(SharedTLSContext, Connection):  # type: ignore[misc]
    """A pymysql connection with LOAD DATA LOCAL enabled, served only from
    the iterator given to `load_local`: any other request for a local file
    (another name, or a LOAD DATA LOCAL statement of the dump) is refused."""

    serves_local_streams = True  # mysqldb.connect turns local_infile on for this class only
    offered: Iterable[bytes | memoryview] | None = None
    packet_size = PACKET

    def load_local(self, sql: bytes, stream: Iterable[bytes | memoryview]) -> tuple[int, int]:
        """Run a LOAD DATA LOCAL INFILE statement naming STREAM_NAME, sending
        `stream`'s bytes as the file. Returns (rows, warnings)."""
        self.offered = stream
        try:
            rows = int(self.query(sql))
        finally:
            self.offered = None
        result = self._result
        return rows, int(result.warning_count if result is not None else 0)

    def _read_query_result(self, unbuffered: bool = False) -> int:
        # Every statement's result goes through _StreamResult: a LOAD DATA
        # LOCAL the dump itself holds gets nothing either.
        self._result = None
        result = _StreamResult(self)
        if unbuffered:
            result.init_unbuffered_query()
        else:
            result.read()
        self._result = result
        if result.server_status is not None:
            self.server_status = result.server_status
        return int(result.affected_rows or 0)


def probe(conn: BulkConnection, db: str) -> str | None:
    """None when the server takes LOAD DATA LOCAL from this account, else
    why not. A temporary table in `db` gets one row; it vanishes with it."""
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@GLOBAL.local_infile, @@max_allowed_packet")
            allowed, packet = cur.fetchone()
            if not int(allowed):
                return "the server refuses LOAD DATA LOCAL (local_infile=OFF)"
            conn.packet_size = max(1024, min(PACKET, int(packet) - 1024))
            table = f"{quote_ident(db)}.`drc_bulk_probe`"
            try:
                cur.execute(f"CREATE TEMPORARY TABLE {table} (x INT)")
            except pymysql.err.OperationalError as exc:
                if exc.args and exc.args[0] in (1044, 1142):
                    # The probe's own need, not the load's: say which grant is missing.
                    return (f"the restore account may not create a temporary table in {db} "
                            "(CREATE TEMPORARY TABLES), which the LOAD DATA LOCAL probe needs")
                raise
        try:
            rows, warnings = conn.load_local(
                f"LOAD DATA LOCAL INFILE '{STREAM_NAME.decode()}' INTO TABLE {table} {FORMAT}".encode(),
                [b"(1),"])
        finally:
            with conn.cursor() as cur:
                cur.execute(f"DROP TEMPORARY TABLE IF EXISTS {table}")
    except pymysql.err.MySQLError as exc:
        code = exc.args[0] if exc.args else "?"
        message = str(exc.args[1]) if len(exc.args) > 1 else type(exc).__name__
        return f"the server refused a one-row LOAD DATA LOCAL: MariaDB error {code}: {message[:160]}"
    if rows != 1 or warnings:
        return f"a one-row LOAD DATA LOCAL loaded {rows} row(s) with {warnings} warning(s)"
    return None


# --- one run -------------------------------------------------------------------

T = TypeVar("T")
_COPY_FLUSH = 1024 * 1024
# One transaction per this many bytes of statements: its undo and redo stay
# small (a stock server's redo log is 96 MB), and a run the server refuses
# replays only its own statements.
RUN_BYTES = 16 * 1024 * 1024


@dataclass
class RunResult:
    rows: int = 0
    statements: int = 0  # statements whose rows went into the stream
    warnings: int = 0
    first_warning: str = ""
    stopped: str = ""  # why a statement could not be converted ("" = none was refused)
    full: bool = False  # it stopped at `limit` bytes: the table may go on in another run


class Feed(Generic[T]):
    """Statements offered one at a time; one not taken is given back for
    whoever reads next."""

    def __init__(self, items: Iterable[T]) -> None:
        self._it = iter(items)
        self._back: list[T] = []

    def __iter__(self) -> Feed[T]:
        return self

    def __next__(self) -> T:
        if self._back:
            return self._back.pop()
        return next(self._it)

    def give_back(self, item: T) -> None:
        self._back.append(item)


def load_run(conn: BulkConnection, converter: Converter, feed: Feed[T], *, sql: Callable[[T], bytes],
             belongs: Callable[[T], bool], fed: Callable[[bytes], None], limit: int) -> RunResult:
    """LOAD DATA the converter's table from `feed` while its statements
    `belong` to the run and convert, up to `limit` bytes of statements; the
    first that does not is given back. Runs in a transaction the caller
    commits, or rolls back on warnings. `fed(sql)` sees each statement
    streamed (progress, the replay copy)."""
    result = RunResult()
    taken = 0

    def stream() -> Iterator[bytes | memoryview]:
        nonlocal taken
        for item in feed:
            if not belongs(item):
                feed.give_back(item)
                return
            if taken >= limit:
                feed.give_back(item)
                result.full = True
                return
            text = sql(item)
            rows = converter.convert(text)
            if rows is None:
                feed.give_back(item)
                result.stopped = converter.why
                return
            result.statements += 1
            taken += len(text)
            fed(text)
            yield rows
            yield b","  # the last row's `)` and this make the line terminator `),`

    with conn.cursor() as cur:
        # unique_checks=0 (the dump's header) on an empty table sends InnoDB
        # down its bulk-insert path: sorted index builds at commit, 1.6x the
        # server CPU of plain row inserts and slower (docs/restore.md). Rows
        # are then checked for uniqueness as they go in: no data changes.
        cur.execute("SET @drc_unique_checks = @@unique_checks, unique_checks = 1")
        cur.execute("START TRANSACTION")
    result.rows, result.warnings = conn.load_local(converter.load_sql(), stream())
    if result.warnings:
        with conn.cursor() as cur:
            cur.execute("SHOW WARNINGS LIMIT 1")
            row = cur.fetchone()
        result.first_warning = f"{row[0]} {row[1]}: {row[2]}"[:200] if row else ""
    return result


class ReplayCopy:
    """The statements of the run in progress, on local disk (one unlinked
    file, emptied at each run), so a load the server accepted with warnings
    can be rolled back and replayed statement by statement."""

    def __init__(self, directory: str | None) -> None:
        self.directory = directory
        self.fd = -1
        self.size = 0
        self.buffer = bytearray()

    def restart(self) -> None:
        if self.fd < 0:
            fd, path = tempfile.mkstemp(prefix="drc-restore-replay-", dir=self.directory)
            os.unlink(path)  # anonymous: the space comes back however we exit
            self.fd = fd
        os.ftruncate(self.fd, 0)
        self.size = 0
        self.buffer = bytearray()

    def add(self, sql: bytes) -> None:
        self.buffer += len(sql).to_bytes(8, "little")
        self.buffer += sql
        if len(self.buffer) >= _COPY_FLUSH:
            self._flush()

    def _flush(self) -> None:
        view = memoryview(self.buffer)
        written = 0
        while written < len(view):
            written += os.pwrite(self.fd, view[written:], self.size + written)
        self.size += written
        self.buffer = bytearray()

    def __iter__(self) -> Iterator[bytes]:
        self._flush()
        at = 0
        while at < self.size:
            size = int.from_bytes(os.pread(self.fd, 8, at), "little")
            yield os.pread(self.fd, size, at + 8)
            at += 8 + size

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
