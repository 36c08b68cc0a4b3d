"""A streaming statement splitter for mysqldump / mariadb-dump output.

Works on bytes (a dump may hold raw binary in strings), chunk by chunk, with
memory bounded by the largest statement. It follows the client's lexical
rules: '…', "…" and `…` quoting with backslash escapes and doubled quotes,
`-- ` and `#` line comments, `/* */` comments, `/*! … */` and `/*M! … */`
executable comments (kept: they carry the session settings), the
`DELIMITER` command for trigger/routine/event bodies, and mariadb-dump's
`/*M!999999\\- enable the sandbox mode */` first line (a client command).

Each statement is classified so a loader can run DDL, data and the rest in
separate phases; the header (`-- Host: … Database: NAME`) and the completion
trailer (`-- Dump completed`) are read on the way.

Speed comes from one compiled regex per delimiter that matches a whole
statement with possessive quantifiers (no backtracking), tried only when
enough new bytes arrived: a statement cut by a chunk boundary is never
rescanned more than a logarithmic number of times.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from dr_console.contentcheck import DUMP_TRAILER


class Kind(StrEnum):
    HEADER = "header"  # SETs before the first object: re-applied on every connection
    SESSION = "session"  # other SETs (around CREATE TABLE, triggers, routines)
    TABLE_DDL = "table-ddl"  # DROP/CREATE TABLE `t`
    DATA = "data"  # INSERT, LOCK/UNLOCK TABLES, ALTER TABLE … DISABLE/ENABLE KEYS
    VIEW = "view"
    TRIGGER = "trigger"
    ROUTINE = "routine"  # procedures, functions, packages
    EVENT = "event"
    FOOTER = "footer"  # SET x=@OLD_x at the end
    DATABASE = "database"  # CREATE DATABASE / USE: the loader chooses its own target
    OTHER = "other"


@dataclass(slots=True)
class Statement:
    kind: Kind
    sql: bytes  # without its delimiter
    table: str | None = None  # for TABLE_DDL, DATA, VIEW (its name), TRIGGER (ON table)
    verb: str = ""  # INSERT, LOCK, UNLOCK, KEYS, CREATE, DROP, USE, SET …
    offset: int = 0  # where it starts in the plain stream, for messages
    name: str | None = None  # object name (view, trigger, routine, event, database)


# --- lexical patterns -------------------------------------------------------

_SQ = rb"'(?:[^'\\]++|\\.|'')*+'"
_DQ = rb'"(?:[^"\\]++|\\.|"")*+"'
_BQ = rb"`(?:[^`]++|``)*+`"
_BLOCK = rb"/\*.*?\*/"
# `--` starts a comment only when followed by whitespace or a control char.
_DASH_COMMENT = rb"--(?=[ \t\r\n])[^\n]*+"
_HASH_COMMENT = rb"#[^\n]*+"

# Between statements: whitespace and comments that are not executable. Line
# comments need their newline, so a chunk boundary inside one is not taken
# as its end; at the end of the stream (final) they may stop at EOF.
_SKIP = re.compile(rb"(?:\s++|--(?=[ \t\r\n])[^\n]*+\n|#[^\n]*+\n|/\*(?!M?!).*?\*/)*+", re.S)
_SKIP_FINAL = re.compile(rb"(?:\s++|--(?=[ \t\r\n])[^\n]*+(?:\n|\Z)|#[^\n]*+(?:\n|\Z)|/\*(?!M?!).*?\*/)*+",
                         re.S)
_SANDBOX = re.compile(rb"/\*M!999999\\-.*?\*/[^\n]*+\n", re.S)
_DELIMITER = re.compile(rb"delimiter[ \t]++(\S++)[^\n]*+\n", re.I)
_DELIMITER_FINAL = re.compile(rb"delimiter[ \t]++(\S++)[^\n]*+(?:\n|\Z)", re.I)

_HEADER_DB = re.compile(rb"^-- Host: [^\n]*?Database: ([^\s]*)", re.M)
_SERVER_VERSION = re.compile(rb"^-- Server version\s+([^\n]*)", re.M)
_DUMP_TOOLS = (b"-- MySQL dump", b"-- MariaDB dump")
_HEAD_BYTES = 16 * 1024
_TAIL_BYTES = 4 * 1024

_statement_res: dict[bytes, re.Pattern[bytes]] = {}


def _statement_re(delimiter: bytes) -> re.Pattern[bytes]:
    """A pattern matching one whole statement and its delimiter. A quote or
    comment left open at the end of the buffer makes it fail (no fallback
    alternative starts one), so a partial buffer never yields a wrong split."""
    cached = _statement_res.get(delimiter)
    if cached is not None:
        return cached
    d = re.escape(delimiter)
    special = sorted(set(b"'\"`/#-\\") | {delimiter[0]})
    plain = b"[^" + b"".join(re.escape(bytes([c])) for c in special) + b"]++"
    single = (rb"(?!" + d + rb")(?:/(?!\*)|-(?!-[ \t\r\n])|\\|" + re.escape(delimiter[:1]) + rb")")
    body = b"|".join([plain, _SQ, _DQ, _BQ, _BLOCK, _DASH_COMMENT, _HASH_COMMENT, single])
    pattern = re.compile(rb"(?:" + body + rb")*+" + d, re.S)
    _statement_res[delimiter] = pattern
    return pattern


# --- classification -----------------------------------------------------------

_NAME = rb"(?:`((?:[^`]|``)+)`|([A-Za-z0-9_$]+))"
_QNAME = rb"(?:" + _NAME + rb"\s*\.\s*)?" + _NAME  # optionally db-qualified; the last part is the name
_EXEC_MARK = re.compile(rb"/\*M?!\d*\s?|\*/")
_ACCOUNT_PART = rb"(?:`(?:[^`]|``)*`|'[^']*'|[^\s@]+)"
_DEFINER = rb"(?:DEFINER\s*=\s*" + _ACCOUNT_PART + rb"(?:\s*@\s*" + _ACCOUNT_PART + rb")?\s+)?"

_INSERT = re.compile(rb"(?:INSERT|REPLACE)\s+(?:(?:IGNORE|DELAYED|LOW_PRIORITY|HIGH_PRIORITY)\s+)*"
                     rb"(?:INTO\s+)?" + _QNAME, re.I)
_LOCK = re.compile(rb"LOCK\s+TABLES?\s+" + _QNAME, re.I)
_UNLOCK = re.compile(rb"UNLOCK\s+TABLES?\b", re.I)
_KEYS = re.compile(rb"ALTER\s+TABLE\s+" + _QNAME + rb"\s+(?:DISABLE|ENABLE)\s+KEYS", re.I)
_SET = re.compile(rb"SET\b", re.I)
_FOOTER_SET = re.compile(rb"=\s*@OLD_", re.I)
_TABLE = re.compile(rb"(CREATE|DROP)\s+(?:OR\s+REPLACE\s+)?(?:TEMPORARY\s+)?TABLES?\s+"
                    rb"(?:IF\s+(?:NOT\s+)?EXISTS\s+)?" + _QNAME, re.I)
_VIEW = re.compile(rb"(CREATE|DROP|ALTER)\s+(?:OR\s+REPLACE\s+)?(?:ALGORITHM\s*=\s*\w+\s+)?" + _DEFINER
                   + rb"(?:SQL\s+SECURITY\s+\w+\s+)?VIEW\s+(?:IF\s+(?:NOT\s+)?EXISTS\s+)?" + _QNAME, re.I)
_TRIGGER = re.compile(rb"(CREATE|DROP)\s+(?:OR\s+REPLACE\s+)?" + _DEFINER + rb"TRIGGER\s+"
                      rb"(?:IF\s+(?:NOT\s+)?EXISTS\s+)?" + _QNAME, re.I)
_TRIGGER_ON = re.compile(rb"\bON\s+" + _QNAME, re.I)
_ROUTINE = re.compile(rb"(CREATE|DROP|ALTER)\s+(?:OR\s+REPLACE\s+)?" + _DEFINER
                      + rb"(?:AGGREGATE\s+)?(?:PROCEDURE|FUNCTION|PACKAGE(?:\s+BODY)?)\s+"
                      rb"(?:IF\s+(?:NOT\s+)?EXISTS\s+)?" + _QNAME, re.I)
_EVENT = re.compile(rb"(CREATE|DROP|ALTER)\s+(?:OR\s+REPLACE\s+)?" + _DEFINER + rb"EVENT\s+"
                    rb"(?:IF\s+(?:NOT\s+)?EXISTS\s+)?" + _QNAME, re.I)
_DATABASE = re.compile(rb"(?:(CREATE)\s+(?:DATABASE|SCHEMA)\s+(?:IF\s+NOT\s+EXISTS\s+)?|(USE)\s+)" + _NAME,
                       re.I)
_CLASSIFY_HEAD = 1024  # classification looks at most at this many leading bytes


def _name(match: re.Match[bytes], first_group: int) -> str:
    """The last name of a (possibly qualified) identifier match; groups come
    in pairs (backquoted, bare) for the qualifier and for the name."""
    quoted, bare = match.group(first_group + 2), match.group(first_group + 3)
    raw = quoted.replace(b"``", b"`") if quoted is not None else bare
    return raw.decode("utf-8", "replace")


def _simple_name(match: re.Match[bytes], first_group: int) -> str:
    quoted, bare = match.group(first_group), match.group(first_group + 1)
    raw = quoted.replace(b"``", b"`") if quoted is not None else bare
    return raw.decode("utf-8", "replace")


class DumpSplitter:
    """Feed plain dump bytes; get statements back.

        splitter = DumpSplitter()
        for chunk in chunks:
            for statement in splitter.feed(chunk): ...
        for statement in splitter.close(): ...
        splitter.database, splitter.complete, splitter.truncated_tail
    """

    def __init__(self, *, fast_inserts: bool = True) -> None:
        self._allow_fast = fast_inserts
        self._fast = False  # decided on the first line: a dump written by mysqldump/mariadb-dump
        self.delimiter = b";"
        self._rx = _statement_re(self.delimiter)
        self._buf = b""
        self._pos = 0
        self._base = 0  # stream offset of _buf[0]
        self._need = 0  # do not retry a failed match before this many bytes are pending
        self._parked: list[bytes] = []
        self._parked_len = 0
        self._head = bytearray()
        self._tail = b""
        self._started = False
        self._objects = False  # a non-SET statement was seen: the header is over
        self._data_table: str | None = None  # for UNLOCK TABLES
        self.sandbox = False
        self.statements = 0
        self.bytes = 0  # plain bytes fed
        self.truncated_tail = 0  # bytes of an unterminated statement at the end
        self.use_databases: list[str] = []  # from USE / CREATE DATABASE, if the dump has them

    # --- what the dump says about itself

    @property
    def database(self) -> str | None:
        found = _HEADER_DB.search(self._head)
        return (found.group(1).decode("utf-8", "replace") or None) if found else None

    @property
    def server_version(self) -> str | None:
        found = _SERVER_VERSION.search(self._head)
        return found.group(1).decode("utf-8", "replace").strip() if found else None

    @property
    def complete(self) -> bool:
        """The last non-empty line is mysqldump's completion trailer."""
        lines = self._tail.rstrip().rsplit(b"\n", 1)
        return lines[-1].lstrip().startswith(DUMP_TRAILER)

    # --- feeding

    def feed(self, data: bytes) -> list[Statement]:
        if not data:
            return []
        self.bytes += len(data)
        if len(self._head) < _HEAD_BYTES:
            self._head += data[: _HEAD_BYTES - len(self._head)]
        self._tail = (self._tail + data[-_TAIL_BYTES:])[-_TAIL_BYTES:]
        # While a long statement is incomplete, park chunks in a list: growing
        # one bytes object chunk by chunk would copy it over and over.
        self._parked.append(data)
        self._parked_len += len(data)
        if len(self._buf) - self._pos + self._parked_len < self._need:
            return []
        self._unpark()
        return self._drain(final=False)

    def _unpark(self) -> None:
        if not self._parked:
            return
        self._base += self._pos
        self._buf = b"".join([self._buf[self._pos:], *self._parked])
        self._pos = 0
        self._parked.clear()
        self._parked_len = 0

    def close(self) -> list[Statement]:
        self._unpark()
        out = self._drain(final=True)
        rest = len(self._buf) - self._pos
        if rest:
            self.truncated_tail = rest  # a statement with no delimiter: the dump was cut
        self._buf, self._pos = b"", 0
        return out

    def _drain(self, *, final: bool) -> list[Statement]:
        out: list[Statement] = []
        buf = self._buf
        pos = self._pos
        n = len(buf)
        skip = _SKIP_FINAL if final else _SKIP
        if not self._started:
            if n < 16 and not final:
                return out
            self._started = True
            if buf.startswith(b"/*M!999999\\-"):
                m = _SANDBOX.match(buf)
                if m is None and not final:
                    self._started = False
                    return out
                self.sandbox = True
                pos = m.end() if m else n
            self._fast = self._allow_fast and buf.startswith(_DUMP_TOOLS, pos)
        while True:
            pos = skip.match(buf, pos).end()  # type: ignore[union-attr]  # can match empty
            if pos >= n:
                break
            if buf[pos] in b"Dd" and buf[pos:pos + 9].lower() == b"delimiter":
                m = (_DELIMITER_FINAL if final else _DELIMITER).match(buf, pos)
                if m is not None:
                    self.delimiter = m.group(1)
                    self._rx = _statement_re(self.delimiter)
                    pos = m.end()
                    continue
                if not final:
                    self._need = n - pos + 1
                    break
            if self._fast and buf.startswith(b"INSERT INTO ", pos) and self.delimiter == b";":
                # mysqldump and mariadb-dump escape every newline inside a value
                # (mysql_real_escape_string, or hex with --hex-blob), so in their
                # INSERTs `;` at the end of a line can only be the delimiter: a
                # memchr-speed find instead of lexing every quote and escape.
                end = buf.find(b";\n", pos)
                if end < 0 and final:
                    stripped = buf.rstrip()
                    end = len(stripped) - 1 if stripped.endswith(b";") and len(stripped) > pos else -1
                if end < 0:
                    self._need = 2 * (n - pos)
                    break
                self._need = 0
                out.append(self._classify(buf[pos:end], self._base + pos))
                pos = end + 1
                continue
            m = self._rx.match(buf, pos)
            if m is None:
                # Incomplete: wait until the pending bytes double, so a long
                # statement is rescanned only O(log size) times.
                self._need = 2 * (n - pos)
                break
            self._need = 0
            end = m.end()
            out.append(self._classify(buf[pos:end - len(self.delimiter)], self._base + pos))
            pos = end
        self._pos = pos
        if pos >= n:
            self._need = 0
        self.statements += len(out)
        return out

    # --- classification

    def _classify(self, sql: bytes, offset: int) -> Statement:
        # The fast path: the bulk of a dump is INSERTs into the current table.
        if sql.startswith(b"INSERT INTO `"):
            table = self._data_table
            if table is None or not sql.startswith(self._insert_prefix):
                m = _INSERT.match(sql, 0, _CLASSIFY_HEAD)
                table = _name(m, 1) if m else None
                self._set_data_table(table)
            self._objects = True
            return Statement(Kind.DATA, sql, table, "INSERT", offset)
        head = _EXEC_MARK.sub(b" ", sql[:_CLASSIFY_HEAD]).lstrip()
        first = head[:16].upper()
        if first.startswith(b"SET") and _SET.match(head):
            if not self._objects:
                kind = Kind.HEADER
            elif _FOOTER_SET.search(head):
                kind = Kind.FOOTER
            else:
                kind = Kind.SESSION
            return Statement(kind, sql, None, "SET", offset)
        self._objects = True
        if first.startswith((b"INSERT", b"REPLACE")):
            m = _INSERT.match(head)
            table = _name(m, 1) if m else None
            self._set_data_table(table)
            return Statement(Kind.DATA, sql, table, "INSERT", offset)
        if first.startswith(b"LOCK"):
            m = _LOCK.match(head)
            if m:
                table = _name(m, 1)
                self._set_data_table(table)
                return Statement(Kind.DATA, sql, table, "LOCK", offset)
        if first.startswith(b"UNLOCK") and _UNLOCK.match(head):
            return Statement(Kind.DATA, sql, self._data_table, "UNLOCK", offset)
        if first.startswith(b"ALTER"):
            m = _KEYS.match(head)
            if m:
                table = _name(m, 1)
                self._set_data_table(table)
                return Statement(Kind.DATA, sql, table, "KEYS", offset)
        if first.startswith((b"CREATE", b"DROP", b"ALTER")):
            m = _TABLE.match(head)
            if m:
                return Statement(Kind.TABLE_DDL, sql, _name(m, 2), m.group(1).upper().decode(), offset)
            m = _VIEW.match(head)
            if m:
                name = _name(m, 2)
                return Statement(Kind.VIEW, sql, name, m.group(1).upper().decode(), offset, name)
            m = _TRIGGER.match(head)
            if m:
                on = _TRIGGER_ON.search(head, m.end())
                return Statement(Kind.TRIGGER, sql, _name(on, 1) if on else None,
                                 m.group(1).upper().decode(), offset, _name(m, 2))
            m = _ROUTINE.match(head)
            if m:
                return Statement(Kind.ROUTINE, sql, None, m.group(1).upper().decode(), offset, _name(m, 2))
            m = _EVENT.match(head)
            if m:
                return Statement(Kind.EVENT, sql, None, m.group(1).upper().decode(), offset, _name(m, 2))
        if first.startswith((b"CREATE", b"USE")):
            m = _DATABASE.match(head)
            if m:
                name = _simple_name(m, 3)
                if name not in self.use_databases:
                    self.use_databases.append(name)
                return Statement(Kind.DATABASE, sql, None, (m.group(1) or m.group(2)).upper().decode(),
                                 offset, name)
        verb = first.split(None, 1)[0].decode("ascii", "replace") if first.strip() else ""
        return Statement(Kind.OTHER, sql, None, verb, offset)

    def _set_data_table(self, table: str | None) -> None:
        if table != self._data_table:
            self._data_table = table
            quoted = (table or "").encode().replace(b"`", b"``")
            self._insert_prefix = b"INSERT INTO `" + quoted + b"` "

    _insert_prefix = b"\0"


def split_dump(chunks: Iterable[bytes], splitter: DumpSplitter | None = None) -> Iterator[Statement]:
    """Statements of a plain dump given as chunks of bytes. Pass your own
    `splitter` to read its header/trailer facts afterwards."""
    splitter = splitter or DumpSplitter()
    for chunk in chunks:
        yield from splitter.feed(chunk)
    yield from splitter.close()
