"""The inventory snapshot cache: one JSON file per site file, in the XDG
cache dir, and the one notion of "fresh enough" that `status`, the console
and the runbooks share.

Each cache file records the sha256 of the site file it was gathered with.
A site file that is byte for byte the one that validated then needs no new
validation to read its cached snapshot: that is what lets `status` (run
every minute by monitoring) skip loading pydantic and the site schema."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from dr_console.locations import cache_dir
from dr_console.model import Snapshot

# An inventory older than this is gathered again before anyone decides from
# it (`status` without --refresh, the console's first screen, a runbook
# choosing a copy). `status --max-age` overrides it for one call.
MAX_AGE_SECONDS = 600


def _resolved(site_file: str | os.PathLike[str]) -> str:
    return str(Path(site_file).expanduser().resolve())


def cache_path(site_file: str | os.PathLike[str]) -> Path:
    digest = hashlib.sha256(_resolved(site_file).encode()).hexdigest()[:16]
    return cache_dir() / "snapshots" / f"{digest}.json"


def _file_digest(site_file: str | os.PathLike[str]) -> str | None:
    try:
        return hashlib.sha256(Path(site_file).read_bytes()).hexdigest()
    except OSError:
        return None


def save(snapshot: Snapshot, site_file: str | os.PathLike[str]) -> Path:
    """Write atomically (temp file + rename), so a reader never sees half."""
    from dr_console.report import snapshot_to_dict

    path = cache_path(site_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"site_file": _resolved(site_file), "site_sha256": _file_digest(site_file),
            "snapshot": snapshot_to_dict(snapshot)}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".snapshot-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load(site_file: str | os.PathLike[str], *, same_site_file: bool = False) -> Snapshot | None:
    """The last snapshot gathered with this site file, or None (missing,
    unreadable, written by an incompatible version). With `same_site_file`,
    also None unless the file is byte for byte the one it was gathered with."""
    from dr_console.report import snapshot_from_dict

    try:
        data = json.loads(cache_path(site_file).read_text(encoding="utf-8"))
        if data.get("site_file") != _resolved(site_file):
            return None
        if same_site_file and data.get("site_sha256") != _file_digest(site_file):
            return None
        return snapshot_from_dict(data["snapshot"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def forget(site_file: str | os.PathLike[str]) -> None:
    """Drop the cached snapshot (a new copy was just made: the next reader
    must gather anew to see it)."""
    cache_path(site_file).unlink(missing_ok=True)


def age_seconds(snapshot: Snapshot, now: datetime | None = None) -> float:
    return ((now or datetime.now(UTC)) - snapshot.generated_at).total_seconds()


def is_fresh(snapshot: Snapshot, max_age: float = MAX_AGE_SECONDS, now: datetime | None = None) -> bool:
    return age_seconds(snapshot, now) <= max_age
