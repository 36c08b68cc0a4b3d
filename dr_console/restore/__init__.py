"""Restoring a SQL dump from an S3 store into a staging schema, verifying it,
and swapping it in atomically, keeping what it replaces.

A library with no UI: progress goes through callbacks, every long call can be
cancelled with a `threading.Event`, and errors are `RestoreError`s whose
messages are safe to show.

    report = restore_into_staging(store, key, server, "keystone", manifest=m)
    problems = verify_staging(conn, report.staging_db, m)
    result = swap_in(conn, "keystone", report.staging_db)
"""

from __future__ import annotations

from dr_console.restore.checks import checksum_tables, row_counts, verify_staging
from dr_console.restore.errors import (
    ConnectionLost,
    CorruptCopy,
    RestoreCancelled,
    RestoreError,
    ServerFull,
    StagingMismatch,
    WrongDatabase,
)
from dr_console.restore.loader import LoadReport, load_dump
from dr_console.restore.pipeline import restore_into_staging, staging_name
from dr_console.restore.sqlsplit import DumpSplitter, Kind, Statement, split_dump
from dr_console.restore.swap import SwapResult, drop_kept, keep_name, swap_in

__all__ = [
    "ConnectionLost",
    "CorruptCopy",
    "DumpSplitter",
    "Kind",
    "LoadReport",
    "RestoreCancelled",
    "RestoreError",
    "ServerFull",
    "StagingMismatch",
    "Statement",
    "SwapResult",
    "WrongDatabase",
    "checksum_tables",
    "drop_kept",
    "keep_name",
    "load_dump",
    "restore_into_staging",
    "row_counts",
    "split_dump",
    "staging_name",
    "swap_in",
    "verify_staging",
]
