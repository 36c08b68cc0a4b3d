"""Making backups: offsite exports with a manifest beside each object.

The seed of `dr-console backup ...`: database dumps, host system state,
git bundles and bucket archives, each streamed into an S3-compatible store
with bounded memory."""

from __future__ import annotations

from datetime import UTC, datetime

TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"


def timestamp(when: datetime | None = None) -> str:
    """The UTC timestamp used in object keys: 20250102T030405Z."""
    return (when or datetime.now(UTC)).astimezone(UTC).strftime(TIMESTAMP_FORMAT)
