"""Errors of the restore path. Each reads as a sentence for the operator and
never carries a secret (no password, no connection string)."""

from __future__ import annotations

from dr_console.errors import DrConsoleError


class RestoreError(DrConsoleError):
    """A restore could not be completed; the live database was not touched
    (unless the message of a swap error says otherwise)."""

    exit_code = 2


class CorruptCopy(RestoreError):
    """The stored copy is not the one the manifest describes (size, sha256),
    is truncated, or its compressed stream is damaged."""


class CopyGone(RestoreError):
    """The copy is not in the store (any more): deleted, or expired by a
    lifecycle rule, since it was listed."""

    def __init__(self, store: str, bucket: str, key: str) -> None:
        super().__init__(f"no such object in store {store} (bucket {bucket}, key {key}): deleted "
                         "or expired since it was listed; `dr-console inventory` lists the copies "
                         "there are")
        self.location = f"s3://{bucket}/{key}"


class WrongDatabase(RestoreError):
    """The dump is of another database than the one being restored."""


class StagingMismatch(RestoreError):
    """The staging schema does not hold what the manifest says was dumped."""

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(message)
        self.problems = problems


class ConnectionLost(RestoreError):
    """The server dropped the connection mid-restore (it restarted, was
    killed, or killed our session); whatever was partial is staging only."""


class ServerFull(RestoreError):
    """The server had no room left for the staging schema (a table or
    tablespace at its limit, or its disk full)."""


class RestoreCancelled(RestoreError):
    """The operator cancelled; whatever was partial has been cleaned up."""

    exit_code = 3
