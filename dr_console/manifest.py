"""The manifest written beside every backup object dr-console makes.

It lives at `<object key>.manifest.json` in the same bucket. A copy without
one (a dump made by another tool) is still usable, but unverified: only its
own content can say whether it is complete.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime

FORMAT = "dr-console/manifest/v1"
SUFFIX = ".manifest.json"


class ManifestError(ValueError):
    """A manifest that cannot be trusted (unreadable, wrong format)."""


@dataclass(frozen=True)
class Manifest:
    sha256: str  # of the stored bytes (after compression)
    size: int  # stored bytes
    compression: str  # none | gzip | zstd
    created_at: datetime
    kind: str  # sql-dump, etc-archive, package-list, git-bundle
    source: dict[str, str] = field(default_factory=dict)  # e.g. {"server": .., "database": ..}
    tables: dict[str, int] = field(default_factory=dict)  # per-table row counts (sql-dump)
    tool: str = "dr-console"
    tool_version: str = ""
    format: str = FORMAT

    def to_json(self) -> str:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT:
                raise ManifestError(f"unknown manifest format {data.get('format')!r}")
            data["created_at"] = datetime.fromisoformat(data["created_at"])
            return cls(**data)
        except ManifestError:
            raise
        except (ValueError, TypeError, KeyError) as exc:
            raise ManifestError(f"unreadable manifest: {exc}") from None


def manifest_key(object_key: str) -> str:
    return object_key + SUFFIX
