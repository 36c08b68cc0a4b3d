"""The plain data of dr-console: assets, their backup copies, and what the
policy concluded about them. No I/O here; providers build these, the policy
evaluates them, the faces render them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum


class AssetClass(StrEnum):
    """Backup classes from the seed articles (see docs/design.md)."""

    BOOT_INFRA = "boot-infra"
    METADATA = "metadata"
    PAYLOAD = "payload"
    REPRODUCIBLE = "reproducible"
    UNCLASSIFIED = "unclassified"
    # Not a backup class: the row standing for a source that could not be
    # read, so an outage is never counted as a policy gap.
    UNREACHABLE = "unreachable"

    @classmethod
    def backup_classes(cls) -> tuple[AssetClass, ...]:
        """The classes a rule or a `dr:class` tag may give."""
        return tuple(c for c in cls if c is not cls.UNREACHABLE)


class Status(IntEnum):
    """Ordered by severity so that max() gives the worst. Values are the
    monitoring-plugin exit codes, except UNKNOWN which sorts above CRITICAL
    only for exit codes, not for display; see `worst`."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3

    @property
    def label(self) -> str:
        return self.name

    def __str__(self) -> str:
        return self.name


class Strategy(StrEnum):
    """The two backup strategies the seeds ask for metadata: a fast snapshot
    on the platform, and a platform-agnostic export kept offsite."""

    SNAPSHOT = "snapshot"
    EXPORT = "export"


@dataclass(frozen=True)
class Asset:
    """Something in the site that may need to come back after a disaster.

    `id` is unique across the whole site: "<source>:<kind>:<native id>".
    `source` is the name of the site-file entry that discovered it (a cloud,
    a MySQL server, a host, a store).
    """

    id: str
    name: str
    provider: str  # openstack | aws | mysql | host | store | declared
    kind: str  # server, volume, image, db-instance, bucket, host, database, repo, ...
    source: str
    tags: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)


def asset_id(source: str, kind: str, native: str) -> str:
    """The site-wide unique id of an asset: "<source>:<kind>:<native id>"."""
    return f"{source}:{kind}:{native}"


def unreachable_source_id(source: str) -> str:
    """The id of the placeholder row that stands for a source we could not read."""
    return f"{source}:source"


@dataclass(frozen=True)
class Verification:
    """What we know about a copy's integrity. None means "not checked"."""

    present: bool = True
    size_ok: bool | None = None
    checksum_ok: bool | None = None
    complete: bool | None = None
    has_manifest: bool | None = None
    platform_ok: bool | None = None  # the cloud reports it "available"
    drilled: bool | None = None  # restored in a drill: True passed, False its content failed
    smoke_tested: bool | None = None  # the restored service answered (a drill's last rung)
    detail: str = ""
    drilled_at: str | None = None  # when the last drill of this copy passed (ISO 8601)

    @property
    def verified(self) -> bool:
        """Integrity proven: size and checksum matched a manifest, or (for
        snapshots and cloud backups) the platform reports the copy usable."""
        if not self.present:
            return False
        return bool((self.size_ok and self.checksum_ok) or self.platform_ok)

    @property
    def usable(self) -> bool:
        """Could be restored from: present, nothing failed, not incomplete,
        and no drill found its content bad."""
        return (
            self.present
            and self.size_ok is not False
            and self.checksum_ok is not False
            and self.complete is not False
            and self.drilled is not False
        )


@dataclass(frozen=True)
class BackupCopy:
    """One copy of an asset: a snapshot, a cloud backup, a dump in a store."""

    id: str
    asset_id: str
    kind: str  # volume-snapshot, volume-backup, ebs-snapshot, db-snapshot, sql-dump,
    #           etc-archive, package-list, git-bundle, image, bucket-mirror
    strategy: Strategy
    location: str  # where an operator finds it: s3://bucket/key, cinder backup id, ...
    created_at: datetime
    size: int | None = None
    verification: Verification = field(default_factory=Verification)


def recency(copy: BackupCopy) -> tuple[datetime, bool]:
    """Sort key, newest last: on a tie (Cinder stamps whole seconds, and a
    snapshot and a backup taken together share one) the export counts as
    newer, since it survives the platform."""
    return copy.created_at, copy.strategy is Strategy.EXPORT


def is_good(copy: BackupCopy) -> bool:
    """A copy we can restore from: nothing failed, and either its integrity
    is proven or, lacking a manifest, its content shows it complete."""
    check = copy.verification
    if not check.usable:
        return False
    return check.verified or (check.has_manifest is False and check.complete is True)


@dataclass(frozen=True)
class Classification:
    asset_class: AssetClass
    rule: str  # which rule decided, e.g. "site rule 'service-dbs' (site.yaml:41)"


@dataclass(frozen=True)
class Coverage:
    """The policy's verdict on one asset."""

    asset: Asset
    classification: Classification
    status: Status
    reasons: tuple[str, ...]
    copies: tuple[BackupCopy, ...]
    last_good: BackupCopy | None
    rpo_seconds: int | None
    # Copies of an asset that does not exist now (a dump of a dropped
    # database, a snapshot of a deleted volume): listed, never judged.
    orphan: bool = False


@dataclass(frozen=True)
class SourceProblem:
    """A provider that could not be read: its assets are UNKNOWN, not lost."""

    source: str
    provider: str
    reason: str


@dataclass(frozen=True)
class Snapshot:
    """Everything one inventory run found, evaluated. Cached as JSON."""

    site: str
    generated_at: datetime
    coverages: tuple[Coverage, ...]
    problems: tuple[SourceProblem, ...] = ()
    provider_seconds: dict[str, float] = field(default_factory=dict)
    wall_seconds: float = 0.0
    # Orphan copies, grouped by the asset they name; not in the counts.
    orphans: tuple[Coverage, ...] = ()

    def summary(self) -> dict[str, int]:
        counts = {s.name.lower(): 0 for s in Status}
        for cov in self.coverages:
            counts[cov.status.name.lower()] += 1
        return counts

    @property
    def overall(self) -> Status:
        """Exit code semantics: CRITICAL beats WARNING; UNKNOWN only when
        nothing is known or everything is unknown."""
        if not self.coverages:
            return Status.UNKNOWN
        statuses = {c.status for c in self.coverages}
        if Status.CRITICAL in statuses:
            return Status.CRITICAL
        if statuses == {Status.UNKNOWN}:
            return Status.UNKNOWN
        if Status.WARNING in statuses or Status.UNKNOWN in statuses:
            return Status.WARNING
        return Status.OK
