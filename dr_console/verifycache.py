"""Results of deep verification, kept so each stored object is hashed once
in its life: keyed by (endpoint, bucket, key, etag, size), which changes
whenever the object does. One JSON file in the XDG cache dir, written
atomically; concurrent writers merge rather than clobber."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path

from dr_console.contentcheck import ContentFacts
from dr_console.locations import cache_dir

_VERSION = 1


def default_path() -> Path:
    return cache_dir() / "verify.json"


def cache_key(endpoint: str, bucket: str, key: str, etag: str, size: int) -> str:
    return "\x1f".join((endpoint, bucket, key, etag.strip('"'), str(size)))


class VerifyCache:
    """Thread-safe: the store provider verifies several objects at once."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, object]] = self._read()
        self._dirty: dict[str, dict[str, object]] = {}

    def _read(self) -> dict[str, dict[str, object]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # a missing or damaged cache only costs re-hashing
        if not isinstance(data, dict) or data.get("version") != _VERSION:
            return {}
        entries = data.get("entries")
        return entries if isinstance(entries, dict) else {}

    def get(self, key: str) -> ContentFacts | None:
        with self._lock:
            entry = self._entries.get(key)
        if entry is None:
            return None
        try:
            return ContentFacts.from_dict(entry)
        except TypeError:
            return None

    def put(self, key: str, facts: ContentFacts) -> None:
        with self._lock:
            self._entries[key] = facts.to_dict()
            self._dirty[key] = facts.to_dict()

    def save(self) -> None:
        """Merge our new entries into whatever is on disk now, then replace
        the file atomically. Errors are swallowed: a cache is an optimisation."""
        with self._lock:
            if not self._dirty:
                return
            merged = self._read()
            merged.update(self._dirty)
            tmp = None
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".verify-",
                                           suffix=".tmp")
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump({"version": _VERSION, "entries": merged}, out)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, self.path)
            except OSError:
                if tmp is not None:
                    Path(tmp).unlink(missing_ok=True)
                return
            self._entries = merged
            self._dirty.clear()
