"""Loading a split dump into a staging schema, in three phases (docs/restore.md):

1. table DDL, serially, on one connection, in dump order;
2. data, table by table, over 2-4 connections, largest table first;
3. views, triggers, routines, events and the footer, serially.

The statements arrive as a stream (S3 → decompress → split): the caller's
thread runs the DDL as it comes and appends each table's data statements to
a spool file; worker connections load a table as soon as its data is
complete (largest first among the complete ones), or follow the table still
being written when nothing else is ready. Memory stays bounded (one
statement per worker plus a 1 MiB write buffer); the disk holds at most the
plain data of the dump, in one unlinked temporary file.

Every connection re-applies the dump's header settings (FOREIGN_KEY_CHECKS=0,
UNIQUE_CHECKS=0, names, sql_mode, time_zone): a footer replayed on a reused
connection would turn the checks back on. Autocommit stays on: per-table
transactions pushed MariaDB 10.11 into a slower bulk-insert path.

Where a table's rows convert exactly (bulkload.py), its INSERTs are not run:
their VALUES lists stream into LOAD DATA LOCAL INFILE on the same worker
(or, serially, straight from the dump), 16 MB of statements per
transaction; the path each table takes, and why, goes to `on_table`.

Parallel loading only pays on a server tuned for restore; on stock settings
it is IO-bound and slower than serial, so `workers=None` looks at the
server and falls back to one connection in dump order.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pymysql

from dr_console.restore import bulkload
from dr_console.restore.checks import checksum_tables, quote_ident, row_counts, schema_exists
from dr_console.restore.errors import ConnectionLost, RestoreCancelled, RestoreError, ServerFull
from dr_console.restore.sqlsplit import Kind, Statement

Connect = Callable[[], pymysql.connections.Connection]
# (phase, bytes_done, bytes_total, rows_done); total 0 means unknown.
Progress = Callable[[str, int, int, int], None]
# (table, path, why): path is "bulk", "replay" or "bulk+replay"; called when
# a table's path is decided (before its rows load) and when it changes.
TablePath = Callable[[str, str, str], None]

DEFAULT_PARALLEL = 3
MAX_WORKERS = 4
_FLUSH = 1024 * 1024  # spool write buffer
_PROGRESS_EVERY = 0.25  # seconds between progress calls
_WAIT = 0.5  # how often a waiting thread looks at cancel/failure
# Settings every loading connection gets before the dump's own header, so a
# dump without a header (another tool, --compact) still loads sanely.
_BASE_SETTINGS = (b"SET NAMES utf8mb4", b"SET SESSION foreign_key_checks=0, unique_checks=0, sql_notes=0")
_PHASE1 = {Kind.HEADER, Kind.SESSION, Kind.TABLE_DDL}
_PHASE3 = {Kind.SESSION, Kind.VIEW, Kind.TRIGGER, Kind.ROUTINE, Kind.EVENT, Kind.FOOTER, Kind.OTHER}


@dataclass
class LoadReport:
    staging_db: str
    tables: dict[str, int] = field(default_factory=dict)  # rows loaded per table (from INSERT results)
    table_bytes: dict[str, int] = field(default_factory=dict)  # statement bytes per table
    bytes: int = 0  # plain statement bytes executed
    seconds: float = 0.0
    workers: int = 1
    parallel: bool = False
    statements: int = 0
    spool_bytes: int = 0  # final size of the parallel load's spool file (0: serial, no spool)
    phase_seconds: dict[str, float] = field(default_factory=dict)
    # The bulk path: "" when the server takes LOAD DATA LOCAL, else why no
    # table could; each table with data: (path, why), path "bulk", "replay"
    # or "bulk+replay" (bulk until a statement that does not convert).
    bulk_refused: str = ""
    paths: dict[str, tuple[str, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # table -> (rows, CHECKSUM TABLE), taken by the table's loading connection
    # as soon as its rows were in (`scan`): the verification then overlaps
    # the loading of the other tables. Only tables loaded in one piece.
    scans: dict[str, tuple[int, int | None]] = field(default_factory=dict)
    # Filled by the pipeline:
    source_database: str | None = None
    stored_bytes: int = 0
    sha256: str = ""
    verified: bool = False  # size and sha256 matched a manifest
    problems: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


def server_tuned(conn: pymysql.connections.Connection) -> tuple[bool, str]:
    """Does the server look tuned for a bulk restore? Returns (tuned, why)."""
    with conn.cursor() as cur:
        cur.execute("SELECT @@innodb_flush_log_at_trx_commit, @@innodb_doublewrite")
        row = cur.fetchone()
    flush, doublewrite = (int(row[0]), int(row[1])) if row else (1, 1)
    if flush != 1:
        return True, f"innodb_flush_log_at_trx_commit={flush}"
    if doublewrite == 0:
        return True, "innodb_doublewrite=OFF"
    return False, "innodb_flush_log_at_trx_commit=1 and doublewrite on (stock settings)"


# Server shutdown in progress, connection killed, server gone away, lost
# connection (during query / reading the initial packet / reading the result).
_LOST = {1053, 1927, 2006, 2013, 2026, 2055}
# ER_DISK_FULL, ER_RECORD_FILE_FULL ("The table 'x' is full").
_FULL = {1021, 1114}


def server_error(exc: pymysql.err.MySQLError, what: str) -> RestoreError:
    """The RestoreError for a server error: ConnectionLost and ServerFull
    for the faults an operator fixes on the server, RestoreError otherwise."""
    code = exc.args[0] if exc.args else "?"
    message = str(exc.args[1]) if len(exc.args) > 1 else type(exc).__name__
    text = f"{what} failed: MariaDB error {code}: {message}"
    if code in _LOST or (isinstance(exc, pymysql.err.InterfaceError) and not message.strip()):
        return ConnectionLost(text)
    if code in _FULL or "No space left on device" in message or "Errcode: 28" in message:
        return ServerFull(text)
    return RestoreError(text)


def _execute(conn: pymysql.connections.Connection, stmt: Statement | bytes, what: str) -> int:
    sql = stmt.sql if isinstance(stmt, Statement) else stmt
    try:
        return int(conn.query(sql))
    except pymysql.err.MySQLError as exc:
        where = f" at byte {stmt.offset} of the dump" if isinstance(stmt, Statement) else ""
        raise server_error(exc, what + where) from None


class _Progress:
    """Thread-safe, throttled progress reporting."""

    def __init__(self, callback: Progress | None) -> None:
        self.callback = callback
        self.lock = threading.Lock()
        self.rows = 0
        self.done = 0
        self.total = 0
        self.phase = "load"
        self._last = 0.0

    def add(self, rows: int, nbytes: int) -> None:
        with self.lock:
            self.rows += rows
            self.done += nbytes
        self.report()

    def set(self, phase: str, done: int | None = None, total: int | None = None, *,
            force: bool = True) -> None:
        with self.lock:
            self.phase = phase
            if done is not None:
                self.done = done
            if total is not None:
                self.total = total
        self.report(force=force)

    def report(self, *, force: bool = False) -> None:
        if self.callback is None:
            return
        now = time.monotonic()
        with self.lock:
            if not force and now - self._last < _PROGRESS_EVERY:
                return
            self._last = now
            args = (self.phase, self.done, self.total, self.rows)
        self.callback(*args)


class _Spool:
    """One table's data statements, as extents of the shared spool file."""

    def __init__(self, table: str, key: str, order: int) -> None:
        self.table = table
        self.key = key  # the table name, made unique if its data comes in two places
        self.order = order
        self.extents: list[tuple[int, int]] = []  # (offset, length), whole records each
        self.buffer = bytearray()
        self.nbytes = 0
        self.done = False
        self.taken = False


class _Bulk:
    """The bulk path for one load (docs/restore.md, "Bulk load"): whether
    the server takes LOAD DATA LOCAL, and the path each table took."""

    def __init__(self, refused: str, spool_dir: str | None, on_table: TablePath | None) -> None:
        self.refused = refused  # "" = the server takes it
        self.packet = bulkload.PACKET
        self.spool_dir = spool_dir
        self.on_table = on_table
        self.lock = threading.Lock()
        self.paths: dict[str, tuple[str, str]] = {}

    @property
    def enabled(self) -> bool:
        return not self.refused

    def set_path(self, table: str, path: str, why: str) -> None:
        with self.lock:
            self.paths[table] = (path, why)
        if self.on_table is not None:
            self.on_table(table, path, why)

    def decide(self, conn: pymysql.connections.Connection, db: str, table: str,
               session: tuple[str | None, str] | None) -> bulkload.TablePlan | None:
        """The table's plan, from its DDL and the session, before its rows
        load; None (and why, to `on_table`) when it replays its INSERTs."""
        if not self.enabled or session is None:
            self.set_path(table, "replay", self.refused or "no LOAD DATA LOCAL connection")
            return None
        charset, why = session
        if charset is None:
            self.set_path(table, "replay", why)
            return None
        try:
            plan = bulkload.plan_table(conn, db, table, charset)
        except pymysql.err.MySQLError as exc:
            raise server_error(exc, f"reading the columns of {table}") from None
        if isinstance(plan, str):
            self.set_path(table, "replay", plan)
            return None
        return plan

    def run(self, conn: Any, plan: bulkload.TablePlan, feed: bulkload.Feed[Any], copy: bulkload.ReplayCopy,
            *, sql_of: Callable[[Any], bytes], belongs: Callable[[Any], bool],
            fed: Callable[[bytes], None]) -> tuple[int, bool]:
        """Load one run of the table's INSERTs (the next item of `feed` is
        its first). Returns (rows, whether the table stays on the bulk path)."""
        table = plan.table
        first = next(feed)
        feed.give_back(first)
        converter = bulkload.Converter(plan, sql_of(first))
        if not converter.ready or converter.convert(sql_of(first)) is None:
            self.set_path(table, "replay", converter.why)
            return 0, False
        converter.rewrites = 0  # that was a look before starting; the run converts it again
        unhexed = [c.name for c in converter.targets if converter.hex_mode and c.kind in (bulkload.BIN,
                                                                                          bulkload.BIT)]
        self.set_path(table, "bulk", f"its {len(converter.targets)} columns' values convert exactly"
                      + (f"; {', '.join(unhexed)} from hex via UNHEX" if unhexed else ""))

        def streamed(sql: bytes) -> None:
            copy.add(sql)
            fed(sql)

        what = f"bulk-loading table {table}"
        rows = statements = 0
        while True:  # one run (and transaction) per bulkload.RUN_BYTES of statements
            copy.restart()
            try:
                result = bulkload.load_run(conn, converter, feed, sql=sql_of, belongs=belongs, fed=streamed,
                                           limit=bulkload.RUN_BYTES)
                if result.warnings:
                    # LOAD DATA LOCAL turns errors into warnings; the INSERTs say
                    # what the server really does with these values.
                    _execute(conn, b"ROLLBACK", what)
                    _execute(conn, b"SET unique_checks = @drc_unique_checks", what)
                    for sql in copy:
                        rows += _execute(conn, sql, f"replaying the INSERTs of {table}")
                    why = (f"LOAD DATA LOCAL gave {result.warnings} warning(s) ({result.first_warning}): "
                           "rolled back, INSERTs replayed")
                    if statements:
                        self.set_path(table, "bulk+replay", f"its first {statements} statement(s) "
                                                            f"bulk-loaded, then {why}")
                    else:
                        self.set_path(table, "replay", why)
                    return rows, False
                _execute(conn, b"COMMIT", what)
                _execute(conn, b"SET unique_checks = @drc_unique_checks", what)
            except pymysql.err.MySQLError as exc:
                raise server_error(exc, what) from None
            rows += result.rows
            statements += result.statements
            if result.stopped:
                self.set_path(table, "bulk+replay", f"its first {statements} statement(s) bulk-loaded, "
                                                    f"then {result.stopped}")
                return rows, False
            if not result.full or not _more(feed, belongs):
                break
        if converter.rewrites:
            path, why = self.paths[table]
            self.set_path(table, path, f"{why}; \\N, \\% or \\_ rewritten in {converter.rewrites} "
                                       "statement(s)")
        return rows, True


def _more(feed: bulkload.Feed[Any], belongs: Callable[[Any], bool]) -> bool:
    """Is the next statement of the feed one of the run's?"""
    try:
        item = next(feed)
    except StopIteration:
        return False
    feed.give_back(item)
    return belongs(item)


class _Loader:
    def __init__(self, connect: Connect, staging_db: str, workers: int, progress: _Progress,
                 cancel: threading.Event | None, spool_dir: str | None, bulk: _Bulk,
                 connect_bulk: Connect | None, scan: bool = False) -> None:
        self.connect = connect
        self.connect_bulk = connect_bulk
        self.bulk = bulk
        self.db = staging_db
        self.workers = workers
        self.progress = progress
        self.cancel = cancel
        self.spool_dir = spool_dir
        self.cv = threading.Condition()
        self.spools: dict[str, _Spool] = {}
        self.order: list[_Spool] = []
        self.current: _Spool | None = None
        self.header: list[Statement] = []
        self.phase3: list[Statement] = []
        self.reader_done = False
        self.failure: BaseException | None = None
        self.rows: dict[str, int] = {}
        self.table_bytes: dict[str, int] = {}
        self.fd = -1
        self.file_end = 0
        self.scan = scan
        self.scans: dict[str, tuple[int, int | None]] = {}  # spool key -> (rows, checksum)

    # --- shared helpers

    def check(self) -> None:
        if self.failure is not None:
            raise self.failure
        if self.cancel is not None and self.cancel.is_set():
            raise RestoreCancelled("restore cancelled; the staging schema is incomplete")

    def prepare(self, conn: pymysql.connections.Connection) -> None:
        """What every loading connection runs first."""
        for sql in _BASE_SETTINGS:
            _execute(conn, sql, "session setup")
        _execute(conn, f"USE {quote_ident(self.db)}".encode(), "selecting the staging schema")
        for stmt in list(self.header):
            _execute(conn, stmt, "re-applying the dump's header settings")

    # --- the reader (caller's thread)

    def read(self, conn: pymysql.connections.Connection, statements: Iterable[Statement]) -> None:
        for stmt in statements:
            self.check()
            kind = stmt.kind
            if kind is Kind.DATA:
                if stmt.verb in ("LOCK", "UNLOCK"):
                    # Table locks serialize nothing useful for InnoDB and would
                    # make concurrent DDL wait; each INSERT is atomic anyway.
                    continue
                self.spool(stmt)
                continue
            if kind is Kind.DATABASE:
                continue  # the target is the staging schema, whatever the dump says
            self.close_current()
            if kind is Kind.HEADER:
                self.header.append(stmt)
            if kind in _PHASE1:
                _execute(conn, stmt, f"DDL for {stmt.table or 'the session'}")
            if kind in _PHASE3:
                self.phase3.append(stmt)

    def spool(self, stmt: Statement) -> None:
        table = stmt.table or "?"
        spool = self.current
        if spool is None or spool.table != table:
            self.close_current()
            key = table if table not in self.spools else f"{table}\0{len(self.order)}"
            spool = _Spool(table, key, len(self.order))
            with self.cv:
                self.spools[key] = spool
                self.order.append(spool)
                self.current = spool
                self.cv.notify_all()
        sql = stmt.sql
        spool.buffer += len(sql).to_bytes(8, "little")
        spool.buffer += sql
        if len(spool.buffer) >= _FLUSH:
            self.flush(spool)

    def flush(self, spool: _Spool) -> None:
        if not spool.buffer:
            return
        data = memoryview(spool.buffer)
        start = self.file_end
        written = 0
        while written < len(data):
            written += os.pwrite(self.fd, data[written:], start + written)
        self.file_end += written
        with self.cv:
            spool.extents.append((start, written))
            spool.nbytes += written
            self.cv.notify_all()
        spool.buffer = bytearray()

    def close_current(self) -> None:
        spool = self.current
        if spool is None:
            return
        self.flush(spool)
        with self.cv:
            spool.done = True
            self.current = None
            self.cv.notify_all()

    # --- workers

    def take(self) -> _Spool | None:
        with self.cv:
            while True:
                self.check()
                ready = [s for s in self.order if s.done and not s.taken]
                if ready:
                    spool = max(ready, key=lambda s: (s.nbytes, -s.order))
                elif self.current is not None and not self.current.taken:
                    spool = self.current  # follow the table still being written
                elif self.reader_done:
                    return None
                else:
                    self.cv.wait(_WAIT)
                    continue
                spool.taken = True
                return spool

    def work(self) -> None:
        conn = None
        session: tuple[str | None, str] | None = None  # (charset, why) for the bulk path
        copy = bulkload.ReplayCopy(self.spool_dir)
        try:
            while True:
                spool = self.take()
                if spool is None:
                    return
                if conn is None:
                    if self.bulk.enabled and self.connect_bulk is not None:
                        conn = self.connect_bulk()
                        conn.packet_size = self.bulk.packet
                        self.prepare(conn)
                        session = _session(conn)
                    else:
                        conn = self.connect()
                        self.prepare(conn)
                self.load(conn, spool, session, copy)
                if self.scan:
                    scanned = self.scan_table(conn, spool.table)
                    with self.cv:
                        self.scans[spool.key] = scanned
        except BaseException as exc:
            with self.cv:
                if self.failure is None:
                    self.failure = exc
                self.cv.notify_all()
        finally:
            copy.close()
            if conn is not None:
                conn.close()

    def scan_table(self, conn: pymysql.connections.Connection, table: str) -> tuple[int, int | None]:
        """Row count and CHECKSUM TABLE of a table just loaded, while its
        pages are still in the buffer pool."""
        self.check()
        what = f"checking table {table}"
        # Names in utf8mb4 for these queries (the session has the dump's own
        # SET NAMES, maybe latin1 or binary), then the dump's back for the
        # tables this connection loads next.
        _execute(conn, b"SET @drc_cs_client = @@character_set_client, @drc_cs_results = "
                       b"@@character_set_results, @drc_collation = @@collation_connection", what)
        _execute(conn, b"SET NAMES utf8mb4", what)
        try:
            rows = row_counts(conn, self.db, [table])[table]
            checksum = checksum_tables(conn, self.db, [table]).get(table)
        except pymysql.err.MySQLError as exc:
            raise server_error(exc, what) from None
        _execute(conn, b"SET character_set_client = @drc_cs_client, character_set_results = "
                       b"@drc_cs_results, collation_connection = @drc_collation", what)
        return rows, checksum

    def records(self, spool: _Spool) -> Iterator[bytes]:
        """The spool's statements, waiting for the ones still being written."""
        index = 0
        while True:
            with self.cv:
                while index >= len(spool.extents) and not spool.done:
                    self.check()
                    self.cv.wait(_WAIT)
                if index >= len(spool.extents):
                    return
                offset, length = spool.extents[index]
            index += 1
            block = os.pread(self.fd, length, offset)
            at = 0
            while at < length:
                size = int.from_bytes(block[at:at + 8], "little")
                yield block[at + 8:at + 8 + size]
                at += 8 + size

    def load(self, conn: pymysql.connections.Connection, spool: _Spool,
             session: tuple[str | None, str] | None, copy: bulkload.ReplayCopy) -> None:
        name = spool.table
        rows = 0
        feed: bulkload.Feed[bytes] = bulkload.Feed(self.records(spool))
        plan: bulkload.TablePlan | None = None
        decided = False

        def fed(sql: bytes) -> None:
            self.check()
            self.progress.add(0, len(sql))

        for sql in feed:
            self.check()
            if sql.startswith(b"INSERT") and not decided:
                decided = True
                plan = self.bulk.decide(conn, self.db, name, session)
            if plan is not None and sql.startswith(b"INSERT"):
                feed.give_back(sql)
                loaded, keep = self.bulk.run(conn, plan, feed, copy, sql_of=bytes,
                                             belongs=_is_insert, fed=fed)
                rows += loaded
                self.progress.add(loaded, 0)
                plan = plan if keep else None
                continue
            count = _execute(conn, sql, f"loading table {name}")
            if sql.startswith(b"INSERT") or sql.startswith(b"REPLACE"):
                rows += count
                self.progress.add(count, len(sql))
            else:
                self.progress.add(0, len(sql))
        with self.cv:
            self.rows[name] = self.rows.get(name, 0) + rows
            self.table_bytes[name] = self.table_bytes.get(name, 0) + spool.nbytes


def _is_insert(sql: bytes) -> bool:
    return sql.startswith(b"INSERT")


def _session(conn: pymysql.connections.Connection) -> tuple[str | None, str]:
    try:
        return bulkload.read_session(conn)
    except pymysql.err.MySQLError as exc:
        raise server_error(exc, "reading the session's character set and sql_mode") from None


def _prepare_schema(conn: pymysql.connections.Connection, staging_db: str, replace: bool) -> None:
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s", (staging_db,))
        row = cur.fetchone()
        tables = int(row[0]) if row else 0
    exists = schema_exists(conn, staging_db)
    if exists and tables and not replace:
        raise RestoreError(f"staging schema {staging_db} already exists and holds {tables} tables; "
                           "drop it first (or pass replace=True)")
    if exists:
        _execute(conn, f"DROP DATABASE {quote_ident(staging_db)}".encode(), f"dropping the old {staging_db}")
    _execute(conn, f"CREATE DATABASE {quote_ident(staging_db)} CHARACTER SET utf8mb4".encode(),
             f"creating {staging_db}")


def load_dump(connect: Connect, staging_db: str, statements: Iterable[Statement], *,
              workers: int | None = None, progress: Progress | None = None,
              cancel: threading.Event | None = None, replace: bool = False,
              spool_dir: str | None = None, bulk: bool | None = None,
              connect_bulk: Connect | None = None, on_table: TablePath | None = None,
              scan: bool = False) -> LoadReport:
    """Create `staging_db` and load `statements` (from `split_dump`) into it.

    `connect()` must return a new autocommit connection with rights to
    create the schema (an admin account); pymysql's client-side
    max_allowed_packet must exceed the dump's largest statement.
    `workers`: None = auto (parallel only on a restore-tuned server), 1 =
    serial in dump order, 2-4 = that many data connections. `progress`
    may be called from worker threads. Raises RestoreError (the staging
    schema is then incomplete: the caller drops it) or RestoreCancelled.

    `connect_bulk()` returns the same connection as a `bulkload.BulkConnection`
    (LOAD DATA LOCAL from a stream); with it, and unless `bulk` is False, each
    table's rows are bulk-loaded where they convert exactly (docs/restore.md)
    and the others replayed. `on_table(table, path, why)` hears each
    table's path when it is decided, from any thread. With `scan`, a
    parallel load counts and checksums each table as soon as it is loaded
    (`LoadReport.scans`).
    """
    started = time.monotonic()
    report = LoadReport(staging_db=staging_db)
    tracker = _Progress(progress)
    conn = connect()
    state = _Bulk("bulk load turned off" if bulk is False else
                  "" if connect_bulk is not None else "no LOAD DATA LOCAL connection was given",
                  spool_dir, on_table)
    bulk_conn: Any = None
    try:
        if workers is None:
            tuned, why = server_tuned(conn)
            workers = DEFAULT_PARALLEL if tuned else 1
            report.notes.append(f"{'parallel' if tuned else 'serial'} load: {why}")
        workers = max(1, min(workers, MAX_WORKERS))
        report.workers = workers
        report.parallel = workers > 1
        _prepare_schema(conn, staging_db, replace)
        if state.enabled and connect_bulk is not None:
            # Asked before any table loads: a refusal means statement replay throughout.
            bulk_conn = connect_bulk()
            state.refused = bulkload.probe(bulk_conn, staging_db) or ""
            state.packet = bulk_conn.packet_size
        report.bulk_refused = state.refused
        report.notes.append("bulk load: LOAD DATA LOCAL INFILE where a table's rows convert exactly, "
                            "INSERT replay elsewhere" if state.enabled else
                            f"bulk load off ({state.refused}): every table replays its INSERTs")
        if workers == 1:
            if bulk_conn is not None and state.enabled:
                conn.close()
                conn, bulk_conn = bulk_conn, None  # the serial load streams on the probed connection
            _load_serial(conn, staging_db, statements, report, tracker, cancel, state)
        else:
            if bulk_conn is not None:
                bulk_conn.close()
                bulk_conn = None
            _load_parallel(connect, conn, staging_db, statements, report, tracker, cancel, workers,
                           spool_dir, state, connect_bulk, scan)
    finally:
        conn.close()
        if bulk_conn is not None:
            bulk_conn.close()
    report.paths = dict(state.paths)
    report.seconds = time.monotonic() - started
    tracker.set("loaded")
    return report


def _load_serial(conn: pymysql.connections.Connection, staging_db: str, statements: Iterable[Statement],
                 report: LoadReport, tracker: _Progress, cancel: threading.Event | None,
                 bulk: _Bulk) -> None:
    """One connection, dump order: what `mariadb DB < dump.sql` does. The
    statements are pulled on a second thread, so download, decompression
    and splitting overlap with the server's work. A table's run of INSERTs
    streams straight into LOAD DATA where it converts (no spool: only the
    run in progress is kept on disk, for a replay after warnings)."""
    from dr_console.restore.s3stream import prefetch  # a generic thread-ahead iterator

    t0 = time.monotonic()
    for sql in _BASE_SETTINGS:
        _execute(conn, sql, "session setup")
    _execute(conn, f"USE {quote_ident(staging_db)}".encode(), "selecting the staging schema")
    tracker.set("load")
    feed: bulkload.Feed[Statement] = bulkload.Feed(prefetch(statements, depth=64, cancel=cancel))
    plans: dict[str, bulkload.TablePlan | None] = {}
    copy = bulkload.ReplayCopy(bulk.spool_dir)

    try:
        for stmt in feed:
            if cancel is not None and cancel.is_set():
                raise RestoreCancelled("restore cancelled; the staging schema is incomplete")
            if stmt.kind is Kind.DATABASE:
                continue
            table = stmt.table
            if stmt.kind is Kind.DATA and stmt.verb == "INSERT" and table is not None:
                if table not in plans:
                    # The session as the dump left it here (SET NAMES may change between tables).
                    plans[table] = bulk.decide(conn, staging_db, table,
                                               _session(conn) if bulk.enabled else None)
                plan = plans[table]
                if plan is not None:
                    feed.give_back(stmt)
                    report.tables.setdefault(table, 0)

                    def fed(sql: bytes, table: str = table) -> None:
                        if cancel is not None and cancel.is_set():
                            raise RestoreCancelled("restore cancelled; the staging schema is incomplete")
                        report.statements += 1
                        report.bytes += len(sql)
                        report.table_bytes[table] = report.table_bytes.get(table, 0) + len(sql)
                        tracker.add(0, len(sql))

                    rows, keep = bulk.run(conn, plan, feed, copy, sql_of=_sql_of,
                                          belongs=lambda s, t=table: _insert_into(s, t), fed=fed)
                    report.tables[table] += rows
                    tracker.add(rows, 0)
                    if not keep:
                        plans[table] = None
                    continue
            count = _execute(conn, stmt, f"{stmt.kind} statement for {stmt.table or stmt.name or 'the dump'}")
            size = len(stmt.sql)
            report.statements += 1
            report.bytes += size
            if stmt.kind is Kind.DATA and table is not None:
                report.table_bytes[table] = report.table_bytes.get(table, 0) + size
                report.tables.setdefault(table, 0)
                if stmt.verb == "INSERT":
                    report.tables[table] += count
                    tracker.add(count, size)
                    continue
            elif stmt.kind is Kind.TABLE_DDL and stmt.verb == "CREATE" and table is not None:
                report.tables.setdefault(table, 0)
            tracker.add(0, size)
    finally:
        copy.close()
    report.phase_seconds["serial"] = time.monotonic() - t0


def _sql_of(stmt: Statement) -> bytes:
    return stmt.sql


def _insert_into(stmt: Statement, table: str) -> bool:
    return stmt.kind is Kind.DATA and stmt.verb == "INSERT" and stmt.table == table


def _load_parallel(connect: Connect, conn: pymysql.connections.Connection, staging_db: str,
                   statements: Iterable[Statement], report: LoadReport, tracker: _Progress,
                   cancel: threading.Event | None, workers: int, spool_dir: str | None,
                   bulk: _Bulk, connect_bulk: Connect | None, scan: bool) -> None:
    loader = _Loader(connect, staging_db, workers, tracker, cancel, spool_dir, bulk, connect_bulk, scan)
    fd, path = tempfile.mkstemp(prefix="drc-restore-spool-", dir=spool_dir)
    os.unlink(path)  # anonymous: the space comes back however we exit
    loader.fd = fd
    threads = [threading.Thread(target=loader.work, name=f"drc-load-{i}", daemon=True)
               for i in range(workers)]
    t0 = time.monotonic()
    try:
        for sql in _BASE_SETTINGS:
            _execute(conn, sql, "session setup")
        _execute(conn, f"USE {quote_ident(staging_db)}".encode(), "selecting the staging schema")
        tracker.set("load")
        for thread in threads:
            thread.start()
        counted = _Counting(statements, report)
        try:
            loader.read(conn, counted)
            loader.close_current()
        finally:
            with loader.cv:
                loader.reader_done = True
                loader.cv.notify_all()
        t1 = time.monotonic()
        report.phase_seconds["stream+ddl"] = t1 - t0
        with loader.cv:
            total = sum(s.nbytes for s in loader.order)
        tracker.set("data", total=total, force=True)
        for thread in threads:
            while thread.is_alive():
                thread.join(_WAIT)
                if cancel is not None and cancel.is_set():
                    with loader.cv:
                        loader.cv.notify_all()
        loader.check()
        t2 = time.monotonic()
        report.phase_seconds["data-after-stream"] = t2 - t1
        # Phase 3 on a connection in a known state: header again, then the rest in order.
        tracker.set("objects")
        loader.prepare(conn)
        for stmt in loader.phase3:
            loader.check()
            _execute(conn, stmt, f"{stmt.kind} {stmt.name or stmt.table or ''}".rstrip())
        report.phase_seconds["objects"] = time.monotonic() - t2
    except BaseException as exc:
        with loader.cv:
            if loader.failure is None:
                loader.failure = exc if isinstance(exc, Exception) else RestoreCancelled("interrupted")
            loader.cv.notify_all()
        for thread in threads:
            if thread.is_alive() or thread.ident is not None:
                thread.join(timeout=60)
        raise
    finally:
        report.spool_bytes = os.fstat(fd).st_size
        _release(fd)
    report.tables = dict(loader.rows)
    report.table_bytes = dict(loader.table_bytes)
    for stmt_table in counted.created:
        report.tables.setdefault(stmt_table, 0)
    # A table loaded in several pieces was scanned before its last one; an
    # event, or a statement of no known kind, created after the data might
    # write rows before the verify step.
    pieces = {s.table for s in loader.order if s.key != s.table}
    if not any(stmt.kind in (Kind.OTHER, Kind.EVENT) for stmt in loader.phase3):
        report.scans = {s.table: loader.scans[s.key] for s in loader.order
                        if s.table not in pieces and s.key in loader.scans}


def _release(fd: int) -> None:
    """Close the unlinked spool off the restore's path: the kernel frees a
    file's blocks and cached pages at its last close (0.6-0.9 s for the
    bench's 1 GB spool on the lab's ext4)."""
    threading.Thread(target=os.close, args=(fd,), name="drc-spool-release", daemon=True).start()


class _Counting:
    """Counts statements and bytes as the reader pulls them, and remembers
    the tables created (an empty table has no data to report rows for)."""

    def __init__(self, statements: Iterable[Statement], report: LoadReport) -> None:
        self.statements = statements
        self.report = report
        self.created: list[str] = []

    def __iter__(self) -> Any:
        for stmt in self.statements:
            self.report.statements += 1
            self.report.bytes += len(stmt.sql)
            if stmt.kind is Kind.TABLE_DDL and stmt.verb == "CREATE" and stmt.table is not None:
                self.created.append(stmt.table)
            yield stmt
