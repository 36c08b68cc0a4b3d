"""The record a successful drill leaves next to the copy it proved, so every
operator's inventory shows that copy as *drilled* (and *smoke-tested*) with
the drill's date, and a later real restore of the same copy can compare its
table checksums with the drill's.

- a copy in a store (`s3://bucket/key`): the object `<key>.drill.json`;
- a Cinder backup or snapshot: its metadata (`dr:drilled`, `dr:drill-run`,
  `dr:smoke-tested`); an EBS snapshot: the same as tags.

Pure helpers here; the reading and writing is done by the store provider,
the cloud providers and the runbooks."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

FORMAT = "dr-console/drill/v1"
SUFFIX = ".drill.json"
# Keys of the record on a platform copy (metadata or tags).
DRILLED_KEY = "dr:drilled"
RUN_KEY = "dr:drill-run"
SMOKE_KEY = "dr:smoke-tested"


class DrillRecordError(ValueError):
    """A record that cannot be trusted (unreadable, another format)."""


@dataclass(frozen=True)
class DrillRecord:
    run_id: str
    at: str  # ISO 8601, UTC: when the drill's checks passed
    copy: str  # the copy's location
    smoke_tested: bool  # the restored service answered, not only its data
    checks: dict[str, Any] = field(default_factory=dict)  # check -> detail
    checksums: dict[str, int | None] = field(default_factory=dict)  # table -> CHECKSUM TABLE
    rto_seconds: float | None = None
    tool_version: str = ""
    format: str = FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> DrillRecord:
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT:
                raise DrillRecordError(f"unknown drill record format {data.get('format')!r}")
            return cls(**data)
        except DrillRecordError:
            raise
        except (ValueError, TypeError, AttributeError) as exc:
            raise DrillRecordError(f"unreadable drill record: {exc}") from None

    def as_tags(self) -> dict[str, str]:
        return {DRILLED_KEY: self.at, RUN_KEY: self.run_id,
                SMOKE_KEY: "yes" if self.smoke_tested else "no"}


def record_key(object_key: str) -> str:
    return object_key + SUFFIX


def from_tags(tags: dict[str, str]) -> tuple[str, bool] | None:
    """(drilled at, smoke-tested) from a platform copy's metadata or tags."""
    at = tags.get(DRILLED_KEY)
    return (at, tags.get(SMOKE_KEY) == "yes") if at else None


def verification_fields(tags: dict[str, str]) -> dict[str, Any]:
    """The Verification fields a drill's record on a platform copy gives."""
    found = from_tags(tags)
    if found is None:
        return {}
    return {"drilled": True, "smoke_tested": found[1], "drilled_at": found[0]}
