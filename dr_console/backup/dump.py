"""Offsite SQL export of one MariaDB/MySQL database: the platform-agnostic
half of the metadata backup strategy.

mariadb-dump's output streams through a row counter, gzip and sha256 into
an S3 multipart upload, so memory stays bounded whatever the database size;
a manifest beside the object records what a restore must find again.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import IO

from dr_console import __version__
from dr_console.backup.s3 import (
    DEFAULT_PART_SIZE,
    S3Client,
    StreamUpload,
    put_manifest,
    store_client,
    store_key,
)
from dr_console.errors import DrConsoleError
from dr_console.manifest import Manifest
from dr_console.mysqldb import Account
from dr_console.schema import MySQLServer, Secret, Store

DUMP_OPTIONS = (
    "--single-transaction",  # consistent InnoDB snapshot without locking writers
    "--routines",
    "--triggers",
    "--events",
    "--hex-blob",  # binary columns survive any client charset
    "--default-character-set=utf8mb4",
    "--protocol=TCP",
)
TRAILER = b"-- Dump completed"
# Compressing in bigger batches than a dump line costs far less Python.
_BATCH = 256 * 1024


class BackupError(DrConsoleError):
    """A backup could not be made; nothing partial was left in the store."""

    exit_code = 2


class RowCounter:
    """Counts rows per table from mariadb-dump's own output, so the counts
    describe exactly the snapshot that was dumped (a second connection
    could not share --single-transaction's snapshot).

    Handles both layouts: MariaDB >= 10.11 writes one row per line after
    `INSERT INTO `t` VALUES`, older tools put a whole extended INSERT on one
    line. Strings are blanked first, so `),(` inside data never counts; the
    dump escapes newlines inside strings, so a string never spans lines.
    """

    _CREATE = re.compile(rb"^CREATE TABLE `((?:[^`]|``)+)`")
    _INSERT = re.compile(rb"^INSERT INTO `((?:[^`]|``)+)`(?: \([^)]*\))? VALUES\s*")
    # Quoted strings as mariadb-dump escapes them; possessive so long
    # values do not backtrack.
    _STRING = re.compile(rb"'(?:[^'\\]++|\\.)*+'", re.S)

    def __init__(self) -> None:
        self.tables: dict[str, int] = {}
        self.last_line = b""
        self._table: str | None = None  # inside this table's INSERT statement

    @staticmethod
    def _name(raw: bytes) -> str:
        return raw.replace(b"``", b"`").decode("utf-8", errors="replace")

    def feed(self, line: bytes) -> None:
        if line.strip():
            self.last_line = line
        if self._table is not None:
            self._values(line)
        elif line.startswith(b"INSERT INTO `"):
            match = self._INSERT.match(line)
            if match:
                self._table = self._name(match.group(1))
                self.tables.setdefault(self._table, 0)
                self._values(line[match.end():])
        elif line.startswith(b"CREATE TABLE `"):
            match = self._CREATE.match(line)
            if match:
                self.tables.setdefault(self._name(match.group(1)), 0)

    def _values(self, chunk: bytes) -> None:
        assert self._table is not None
        if b"'" in chunk:
            chunk = self._STRING.sub(b"''", chunk)
        chunk = chunk.strip()
        if not chunk:
            return
        rows = chunk.count(b"),(") + (1 if chunk.startswith(b"(") else 0)
        self.tables[self._table] += rows
        if chunk.endswith(b";"):
            self._table = None

    @property
    def complete(self) -> bool:
        return self.last_line.startswith(TRAILER)


def _dump_binary() -> str:
    for name in ("mariadb-dump", "mysqldump"):
        found = shutil.which(name)
        if found:
            return found
    raise BackupError("neither mariadb-dump nor mysqldump is installed")


def _defaults_file(password: Secret | None) -> str:
    """A private option file for the password: argv is world-readable in
    /proc, an option file made by mkstemp is 0600."""
    fd, path = tempfile.mkstemp(prefix="drc-dump-", suffix=".cnf")
    with os.fdopen(fd, "w") as handle:
        handle.write("[client]\n")
        if password is not None:
            value = password.reveal().replace("\\", "\\\\").replace('"', '\\"')
            handle.write(f'password="{value}"\n')
    return path


def backup_database(
    server: MySQLServer | Account,
    database: str,
    store: Store,
    key: str,
    *,
    client: S3Client | None = None,
    created_at: datetime | None = None,
    compresslevel: int = 6,
    part_size: int = DEFAULT_PART_SIZE,
    progress: Callable[[int], None] | None = None,
    cancel: threading.Event | None = None,
) -> tuple[str, Manifest]:
    """Dump `database` into `store` at `key` (gzip), then write the manifest.

    Returns the full object key (with the store's prefix) and the manifest.
    `created_at` defaults to now (the lab passes an older time to backdate).
    `progress` receives the number of dump bytes read so far; setting
    `cancel` stops the dump and aborts the upload. On any failure the upload
    is aborted and BackupError says why (no secret in it).
    """
    params = server if isinstance(server, Account) else Account.backup(server)
    created = created_at or datetime.now(UTC)
    client = client or store_client(store)
    full_key = store_key(store, key)
    counter = RowCounter()

    defaults = _defaults_file(params.password)
    argv = [_dump_binary(), f"--defaults-extra-file={defaults}",  # must come first
            f"--host={params.host}", f"--port={params.port}", f"--user={params.user}",
            *DUMP_OPTIONS, "--", database]
    upload = StreamUpload(client, store.bucket, full_key, part_size=part_size,
                          content_type="application/gzip")
    try:
        # stderr to a file, so a chatty stderr can never stall the stdout pipe.
        with tempfile.TemporaryFile() as stderr, upload:
            _stream(argv, stderr, upload, counter, compresslevel, progress, cancel,
                    f"{database} on {params.label}")
    finally:
        os.unlink(defaults)

    manifest = Manifest(
        sha256=upload.sha256,
        size=upload.size,
        compression="gzip",
        created_at=created,
        kind="sql-dump",
        source={"server": params.label, "host": f"{params.host}:{params.port}",
                "database": database},
        tables=dict(sorted(counter.tables.items())),
        tool="dr-console",
        tool_version=__version__,
    )
    put_manifest(client, store.bucket, full_key, manifest)
    return full_key, manifest


def _stream(argv: list[str], stderr: IO[bytes], upload: StreamUpload, counter: RowCounter,
            compresslevel: int, progress: Callable[[int], None] | None,
            cancel: threading.Event | None, what: str) -> None:
    """Run the dump, feeding counter, gzip and upload; raise BackupError on
    a failed or incomplete dump (the caller's `with upload` then aborts)."""
    compressor = zlib.compressobj(compresslevel, zlib.DEFLATED, 31)  # 31: gzip container
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr,
                            stdin=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        read = 0
        batch = bytearray()
        for line in iter(proc.stdout.readline, b""):
            counter.feed(line)
            batch += line
            if len(batch) >= _BATCH:
                read += len(batch)
                upload.write(compressor.compress(bytes(batch)))
                batch.clear()
                if progress:
                    progress(read)
                if cancel is not None and cancel.is_set():
                    raise BackupError(f"backup of {what} cancelled")
        read += len(batch)
        upload.write(compressor.compress(bytes(batch)))
        upload.write(compressor.flush())
        code = proc.wait()
        if code != 0:
            stderr.seek(0)
            detail = stderr.read()[-2000:].decode(errors="replace").strip()
            raise BackupError(f"mariadb-dump of {what} failed (exit {code}): {detail}")
        if not counter.complete:
            raise BackupError(f"mariadb-dump of {what} ended without its "
                              "'-- Dump completed' trailer")
        if progress:
            progress(read)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
