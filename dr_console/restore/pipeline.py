"""S3 → sha256 → decompress → split → load, in one pass and concurrently,
into a staging schema. The copy is verified at the end of the same read
(size and sha256 against its manifest, the compressed stream's end, the
dump's completion trailer); whatever fails, the staging schema is dropped
and the live database was never touched."""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterator
from typing import Any

import pymysql

from dr_console import mysqldb
from dr_console.backup.s3 import S3Client, store_client
from dr_console.manifest import Manifest
from dr_console.mysqldb import Account, MySQLAccessError
from dr_console.restore.checks import verify_staging
from dr_console.restore.decompress import decompress
from dr_console.restore.errors import (
    ConnectionLost,
    CopyGone,
    CorruptCopy,
    RestoreError,
    ServerFull,
    StagingMismatch,
    WrongDatabase,
)
from dr_console.restore.loader import Connect, LoadReport, Progress, TablePath, load_dump, server_error
from dr_console.restore.s3stream import ResumableReader, prefetch
from dr_console.restore.sqlsplit import DumpSplitter, Kind, Statement
from dr_console.schema import MySQLServer, Store

STAGING_SUFFIX = "__staging"
_LIVE = object()  # default of expect_database: the live database's own name
# Client-side limit of one statement; the server's max_allowed_packet is the real bound.
MAX_PACKET = 1024 * 1024 * 1024


def staging_name(live_db: str) -> str:
    name = live_db + STAGING_SUFFIX
    if len(name) > 64:
        raise RestoreError(f"cannot name a staging schema for {live_db}: {name} exceeds 64 characters")
    return name


def connector(server: MySQLServer | Account | Connect, *, read_timeout: int = 3600,
              bulk: bool = False) -> Connect:
    """A `connect()` for the loader: the restore account (see `mysqldb`),
    timeouts on every socket operation (a statement may legitimately take
    long: an index build on a big table), and a client packet limit that
    fits any dump. `bulk`: a `bulkload.BulkConnection` (LOAD DATA LOCAL
    from a stream), whose server waits as long for the stream's next
    packet (net_read_timeout) as the client waits for the server."""
    if callable(server) and not isinstance(server, MySQLServer | Account):
        return server
    account = server if isinstance(server, Account) else Account.restore(server)
    reached = False
    streaming = None
    if bulk:
        from dr_console.restore.bulkload import BulkConnection

        streaming = BulkConnection

    def connect() -> pymysql.connections.Connection:
        nonlocal reached
        try:
            conn = mysqldb.connect(account, read_timeout=read_timeout, max_packet=MAX_PACKET,
                                   streaming_class=streaming)
        except MySQLAccessError as exc:
            if reached and exc.unreachable:
                raise ConnectionLost(str(exc)) from None  # it answered before: it went away
            raise RestoreError(str(exc)) from None
        reached = True
        if bulk:
            try:
                # A table's stream waits on the dump's download and split: as long
                # as a statement may take, not the server's default 30 s.
                conn.query(f"SET SESSION net_read_timeout={int(read_timeout)}")
            except pymysql.err.MySQLError as exc:
                conn.close()
                raise server_error(exc, "setting net_read_timeout") from None
        return conn

    return connect


def server_label(server: MySQLServer | Account | Connect) -> str:
    if isinstance(server, MySQLServer):
        return f"MySQL server {server.name}"
    if isinstance(server, Account):
        return f"MySQL server {server.label}"
    return "the MySQL server"


def head_copy(client: S3Client, store: Store, key: str) -> dict[str, Any]:
    """The object's size and ETag; CopyGone when it is not there."""
    from dr_console.providers._boto import BOTO_ERRORS, error_code, reason

    try:
        head: dict[str, Any] = client.head_object(Bucket=store.bucket, Key=key)
    except BOTO_ERRORS as exc:
        if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            raise CopyGone(store.name, store.bucket, key) from None
        raise RestoreError(reason(exc, where=f"store {store.name} (bucket {store.bucket}, key {key})",
                                  timeout=store.timeout)) from None
    return head


def restore_into_staging(
    site_store: Store,
    location: str,
    server_cfg_or_connect: MySQLServer | Account | Connect,
    live_db: str,
    *,
    manifest: Manifest | None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    expect_database: Any = _LIVE,
    staging_db: str | None = None,
    workers: int | None = None,
    verify: bool = True,
    client: S3Client | None = None,
    spool_dir: str | None = None,
    bulk: bool | None = None,
    on_table: TablePath | None = None,
    scan: bool = False,
) -> LoadReport:
    """Restore the dump at `location` (its key in the store's bucket, prefix
    included, as listings and `backup_database` give it) into a staging
    schema (`<live_db>__staging` unless `staging_db` is given).

    Refuses, before creating anything, a dump whose size differs from its
    manifest, or whose header names another database than
    `expect_database` (default: `live_db`; None accepts any). After the
    load, a sha256 mismatch, a truncated stream or a missing
    '-- Dump completed' trailer raise CorruptCopy; with `verify` the row
    counts must match the manifest (StagingMismatch). In each case the
    staging schema is dropped first. `progress(phase, bytes_done,
    bytes_total, rows_done)`: phase "load" counts stored bytes read,
    "data" counts plain data bytes loaded after the read ended; then
    "objects", "verify", "done". Returns the LoadReport (with `verified`
    set when a manifest's size and sha256 matched).

    Rows are bulk-loaded (LOAD DATA LOCAL) where they convert exactly and
    the server allows it, unless `bulk` is False; `on_table(table, path,
    why)` hears each table's path (docs/restore.md, "Bulk load"). With
    `scan`, each table is counted and checksummed as soon as it is loaded
    (`LoadReport.scans`), and the row-count check uses those counts.
    """
    expected = live_db if expect_database is _LIVE else expect_database
    staging = staging_db or staging_name(live_db)
    if staging == live_db:
        raise RestoreError("the staging schema cannot be the live database")
    client = client or store_client(site_store)
    where = f"s3://{site_store.bucket}/{location}"
    head = head_copy(client, site_store, location)
    size = int(head["ContentLength"])
    etag = str(head["ETag"])
    if manifest is not None and manifest.size != size:
        raise CorruptCopy(f"{where} is {size} bytes, its manifest says {manifest.size}: "
                          "the copy is truncated or replaced")

    reader = ResumableReader(client, site_store.bucket, location, size=size, etag=etag, cancel=cancel,
                             store=site_store.name)
    splitter = DumpSplitter()
    compression = manifest.compression if manifest is not None else "auto"
    fetched = prefetch(reader, cancel=cancel)
    statements = _split(decompress(fetched, compression), splitter)
    connect_bulk = None
    if bulk is not False and isinstance(server_cfg_or_connect, MySQLServer | Account):
        connect_bulk = connector(server_cfg_or_connect, bulk=True)
    try:
        return _load_checked(statements, splitter, reader, manifest, connector(server_cfg_or_connect),
                             staging, expected, where, size, workers=workers, progress=progress,
                             cancel=cancel, verify=verify, spool_dir=spool_dir,
                             server=server_label(server_cfg_or_connect), bulk=bulk,
                             connect_bulk=connect_bulk, on_table=on_table, scan=scan)
    finally:
        statements.close()
        fetched.close()  # stops the download thread whatever happened


def _load_checked(statements: Iterator[Statement], splitter: DumpSplitter, reader: ResumableReader,
                  manifest: Manifest | None, connect: Connect, staging: str, expected: str | None,
                  where: str, size: int, *, workers: int | None, progress: Progress | None,
                  cancel: threading.Event | None, verify: bool, spool_dir: str | None,
                  server: str = "the MySQL server", bulk: bool | None = None,
                  connect_bulk: Connect | None = None, on_table: TablePath | None = None,
                  scan: bool = False) -> LoadReport:
    first = next(statements, None)
    if first is None:
        raise CorruptCopy(f"{where} holds no SQL statement")
    database = splitter.database
    if expected is not None:
        if database is None:
            raise WrongDatabase(f"{where} names no database in its header ('-- Host: … Database:'); "
                                f"cannot tell it is a dump of {expected}")
        if database != expected:
            raise WrongDatabase(f"{where} is a dump of {database!r}, not {expected!r}")

    def checked() -> Iterator[Statement]:
        yield first
        for stmt in statements:
            if stmt.kind is Kind.DATABASE and expected is not None and stmt.name != expected:
                raise WrongDatabase(f"{where} switches to database {stmt.name!r} (USE/CREATE DATABASE); "
                                    f"only a dump of {expected!r} is restored here")
            yield stmt
        # The stream ended: verify the copy before any view/trigger/routine is created.
        reader.finish(manifest)
        if splitter.truncated_tail:
            raise CorruptCopy(f"truncated: {where} ends inside a statement")
        if not splitter.complete:
            raise CorruptCopy(f"incomplete: {where} has no '-- Dump completed' trailer")

    def report_progress(phase: str, done: int, total: int, rows: int) -> None:
        if progress is None:
            return
        if phase == "load":
            done, total = reader.bytes_read, size
        progress(phase, done, total, rows)

    try:
        report = load_dump(connect, staging, checked(), workers=workers, progress=report_progress,
                           cancel=cancel, replace=True, spool_dir=spool_dir, bulk=bulk,
                           connect_bulk=connect_bulk, on_table=on_table, scan=scan)
        report.source_database = database
        report.stored_bytes = reader.bytes_read
        report.sha256 = reader.sha256
        report.verified = manifest is not None
        if reader.resumes:
            report.notes.append(f"the read resumed {reader.resumes} time(s) after a dropped connection")
        if verify:
            if progress:
                progress("verify", size, size, report.rows)
            conn = connect()
            try:
                counted = {table: rows for table, (rows, _) in report.scans.items()}
                report.problems = verify_staging(conn, staging, manifest, counted)
            finally:
                conn.close()
            if report.problems:
                raise StagingMismatch(f"{staging} does not match the manifest of {where}: "
                                      + "; ".join(report.problems[:5]), report.problems)
    except BaseException as exc:
        dropped = _drop_quietly(connect, staging)
        error: BaseException = exc
        if isinstance(exc, pymysql.err.MySQLError):  # the checks query outside the loader
            error = server_error(exc, f"checking {staging}")
        if isinstance(error, ConnectionLost | ServerFull):
            raise _explained(error, server, staging, dropped) from None
        if error is not exc:
            raise error from None
        raise
    if progress:
        progress("done", size, size, report.rows)
    return report


def _split(plain: Iterator[bytes], splitter: DumpSplitter) -> Generator[Statement, None, None]:
    for chunk in plain:
        yield from splitter.feed(chunk)
    yield from splitter.close()


def _explained(exc: RestoreError, server: str, staging: str, dropped: bool) -> RestoreError:
    """The operator's sentence for a fault of the server: which server, what
    happened, what is left, that the live database is as it was, what next."""
    left = (f"the staging schema {staging} was dropped" if dropped else
            f"the partial staging schema {staging} could not be dropped yet (the next attempt "
            "replaces it)")
    if isinstance(exc, ConnectionLost):
        return ConnectionLost(f"lost the connection to {server} during the restore (did it restart "
                              f"or stop?): {exc}; {left}; the live database was not touched: "
                              "run the restore again once the server is back")
    return ServerFull(f"{server} has no room left for the staging schema {staging} (disk or "
                      f"table full): {exc}; {left}; the live database was not touched: free space "
                      "on the server (its disk or tablespace limit), then run the restore again")


def _drop_quietly(connect: Callable[[], Any], staging: str) -> bool:
    """Best effort: the error that brought us here matters more. True when
    the staging schema is gone."""
    try:
        conn = connect()
    except Exception:
        return False
    try:
        with conn.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS `" + staging.replace("`", "``") + "`")
        return True
    except Exception:
        return False
    finally:
        conn.close()
