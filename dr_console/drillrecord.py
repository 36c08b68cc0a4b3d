"""The record a drill leaves next to the copy it restored, so every
operator's inventory shows that copy as *drilled* (and *smoke-tested*) with
the drill's date, and a later real restore of the same copy can compare its
table checksums with the drill's.

A drill whose checks of the copy's *content* failed (a damaged filesystem,
missing files, row counts off) records that too: the copy is then not good,
so the inventory falls back to an older one and says why — the platform
still calls it "available", only the drill knew. A drill that failed for
any other reason (scratch server unreachable, quota) records nothing.

- a copy in a store (`s3://bucket/key`): the object `<key>.drill.json`;
- a Cinder backup or snapshot: its metadata (`dr:drilled`, `dr:drill-run`,
  `dr:smoke-tested`); an EBS snapshot: the same as tags.

Pure helpers here; the reading and writing is done by the store provider,
the cloud providers and the runbooks."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from dr_console.model import Verification

FORMAT = "dr-console/drill/v1"
SUFFIX = ".drill.json"
# Keys of the record on a platform copy (metadata or tags).
DRILLED_KEY = "dr:drilled"
RUN_KEY = "dr:drill-run"
SMOKE_KEY = "dr:smoke-tested"
VERDICT_KEY = "dr:drill-verdict"  # passed | failed (absent: passed, as before it existed)
FAILURE_KEY = "dr:drill-failure"
# Cinder metadata values hold 255 characters; EBS tag values 256.
_TAG_VALUE_MAX = 250


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
    passed: bool = True  # False: the copy's content failed a check (see `failure`)
    failure: str = ""

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
        tags = {DRILLED_KEY: self.at, RUN_KEY: self.run_id,
                SMOKE_KEY: "yes" if self.smoke_tested else "no",
                VERDICT_KEY: "passed" if self.passed else "failed"}
        if not self.passed:
            tags[FAILURE_KEY] = self.failure[:_TAG_VALUE_MAX]
        return tags

    def verification_fields(self) -> dict[str, Any]:
        """The Verification fields this record gives its copy."""
        if not self.passed:
            return {"drilled": False, "smoke_tested": None, "drilled_at": self.at}
        return {"drilled": True, "smoke_tested": self.smoke_tested, "drilled_at": self.at}

    def failure_detail(self) -> str:
        return f"failed its drill ({self.run_id}): {self.failure}" if not self.passed else ""


def failed(run_id: str, copy: str, failure: str, checks: dict[str, Any] | None = None) -> DrillRecord:
    """The record of a drill that proved the copy's content bad."""
    from datetime import UTC, datetime

    return DrillRecord(run_id=run_id, at=datetime.now(UTC).isoformat(timespec="seconds"), copy=copy,
                       smoke_tested=False, checks=dict(checks or {}), passed=False, failure=failure)


def record_key(object_key: str) -> str:
    return object_key + SUFFIX


def from_tags(tags: dict[str, str]) -> DrillRecord | None:
    """The drill recorded in a platform copy's metadata or tags, if any."""
    at = tags.get(DRILLED_KEY)
    if not at:
        return None
    passed = tags.get(VERDICT_KEY, "passed") != "failed"
    return DrillRecord(run_id=tags.get(RUN_KEY, "?"), at=at, copy="",
                       smoke_tested=tags.get(SMOKE_KEY) == "yes", passed=passed,
                       failure="" if passed else tags.get(FAILURE_KEY, "?"))


def apply(check: Verification, record: DrillRecord | None) -> Verification:
    """A copy's verification with what its last drill found added."""
    if record is None:
        return check
    detail = "; ".join(d for d in (check.detail, record.failure_detail()) if d)
    return replace(check, detail=detail, **record.verification_fields())
