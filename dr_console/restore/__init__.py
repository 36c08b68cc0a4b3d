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

import importlib
from typing import Any

# Where each public name lives. Imported on first use (PEP 562): a caller
# that needs only `restore.checks` must not pay for boto3 and the loader
# (about 0.6 s measured with -X importtime).
_EXPORTS = {
    "checksum_tables": "checks", "row_counts": "checks", "verify_staging": "checks",
    "ConnectionLost": "errors", "CorruptCopy": "errors", "RestoreCancelled": "errors",
    "RestoreError": "errors", "ServerFull": "errors", "StagingMismatch": "errors",
    "WrongDatabase": "errors",
    "LoadReport": "loader", "load_dump": "loader",
    "restore_into_staging": "pipeline", "staging_name": "pipeline",
    "DumpSplitter": "sqlsplit", "Kind": "sqlsplit", "Statement": "sqlsplit", "split_dump": "sqlsplit",
    "SwapResult": "swap", "drop_kept": "swap", "keep_name": "swap", "swap_in": "swap",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
