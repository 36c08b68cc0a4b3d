"""Classification and coverage: pure functions from plain data to verdicts.

Classification answers "what must come back, and how?"; coverage answers
"is there a copy we can trust?". Every verdict carries the reasons an
operator needs to act, in plain words.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from dr_console import humanize
from dr_console.model import (
    Asset,
    AssetClass,
    BackupCopy,
    Classification,
    Coverage,
    Snapshot,
    SourceProblem,
    Status,
    Strategy,
    is_good,
    recency,
    unreachable_source_id,
)
from dr_console.schema import Match, Rule, Site

CLASS_TAG = "dr:class"

# The cloud's own databases (see the seeds): when no site rule claims them,
# they are metadata.
OPENSTACK_SERVICE_DATABASES = frozenset({
    "keystone", "nova", "nova_api", "nova_cell0", "neutron", "glance", "cinder",
    "placement", "heat", "ceilometer", "gnocchi", "aodh", "octavia", "barbican",
    "designate", "manila", "ironic",
})
BOOT_INFRA_ROLES = frozenset({"dhcp", "tftp", "ntp", "ftp", "pxe"})

# What a host's offsite backup must hold: its /etc and its package
# selections (the platform-agnostic system state of the seeds).
HOST_COPY_KINDS = ("etc-archive", "package-list")
# Databases are what the two-strategies rule is about: a host's "export" is
# its system state (above), an image's is the image itself.
TWO_STRATEGY_KINDS = frozenset({"database", "db-instance"})


def classify(asset: Asset, site: Site) -> Classification:
    """First decision wins: the asset's own `dr:class` tag, then the site's
    rules in file order, then built-in knowledge, else unclassified."""
    tagged = asset.tags.get(CLASS_TAG)
    if tagged is not None:
        if tagged in {c.value for c in AssetClass.backup_classes()}:
            return Classification(AssetClass(tagged), f"tag {CLASS_TAG}={tagged} on the asset")
        return Classification(
            AssetClass.UNCLASSIFIED, f"tag {CLASS_TAG} has an unknown value {tagged!r}"
        )
    for rule in site.rules:
        if matches(rule.match, asset):
            return Classification(rule.asset_class, _rule_label(rule, site))
    if asset.kind == "database" and asset.name in OPENSTACK_SERVICE_DATABASES:
        return Classification(AssetClass.METADATA, "built-in: an OpenStack service database")
    roles = set(asset.attributes.get("roles", "").split(","))
    if asset.kind == "host" and roles & BOOT_INFRA_ROLES:
        return Classification(AssetClass.BOOT_INFRA, "built-in: host with boot-infra roles")
    return Classification(AssetClass.UNCLASSIFIED, "no rule matched")


def _rule_label(rule: Rule, site: Site) -> str:
    where = f"{site.path.name}:{rule.line}" if rule.line else site.path.name
    return f"site rule '{rule.name}' ({where})"


def matches(match: Match, asset: Asset) -> bool:
    """Every given criterion must hold; a list means any of its values."""
    if match.provider is not None and asset.provider not in match.provider:
        return False
    if match.kind is not None and asset.kind not in match.kind:
        return False
    if match.source is not None and asset.source not in match.source:
        return False
    if match.name is not None and not any(
        fnmatch.fnmatchcase(asset.name, pattern) for pattern in match.name
    ):
        return False
    if match.tags is not None:
        for key, value in match.tags.items():
            if key not in asset.tags or (value != "*" and asset.tags[key] != value):
                return False
    return True


def evaluate(
    site: Site,
    assets: Sequence[Asset],
    copies: Iterable[BackupCopy],
    problems: dict[str, str],
    source_problems: Sequence[SourceProblem],
    now: datetime,
) -> list[Coverage]:
    """The verdict for every asset, plus one UNKNOWN entry per source that
    could not be read (so an outage never hides as "nothing there")."""
    by_asset: dict[str, list[BackupCopy]] = {}
    for copy in copies:
        by_asset.setdefault(copy.asset_id, []).append(copy)

    failing_stores = {p.source for p in source_problems if p.provider == "store"}
    by_id = {asset.id: asset for asset in assets}
    coverages = [
        evaluate_asset(
            site, asset, by_asset.get(asset.id, []), problems.get(asset.id),
            _store_problem(site, asset, failing_stores, source_problems), now,
            classification=_root_disk_classification(asset, by_id, site),
        )
        for asset in assets
    ]
    seen_sources = {asset.source for asset in assets}
    for problem in source_problems:
        if problem.source in seen_sources:
            continue
        placeholder = Asset(
            id=unreachable_source_id(problem.source), name=problem.source, provider=problem.provider,
            kind="source", source=problem.source,
        )
        coverages.append(Coverage(
            asset=placeholder,
            classification=Classification(AssetClass.UNREACHABLE, "source could not be read"),
            status=Status.UNKNOWN,
            reasons=(f"{problem.provider} source '{problem.source}' unreachable: {problem.reason}",),
            copies=(), last_good=None, rpo_seconds=None,
        ))
    return coverages


# Which provider lists assets of a kind that store copies name, so an orphan
# is classified by the same rules as the asset it stands for.
_LISTED_BY = {"database": "mysql", "host": "host", "repo": "declared"}


def orphan_coverages(site: Site, orphans: Iterable[tuple[str, str | None, str, BackupCopy]],
                     now: datetime) -> list[Coverage]:
    """One row per asset that copies name but the inventory did not find
    (asset name, asset kind, store, copy): classified as that asset would be,
    its copies judged as usual, but no status of its own (it counts for
    nothing: it may be the very database the disaster took)."""
    groups: dict[tuple[str, str, str], list[BackupCopy]] = {}
    for name, kind, store, copy in orphans:
        groups.setdefault((name, kind or copy.kind, store), []).append(copy)
    out = []
    for (name, kind, store), copies in sorted(groups.items()):
        asset = Asset(id=f"orphan:{store}:{kind}:{name}", name=name,
                      provider=_LISTED_BY.get(kind, "store"), kind=kind, source=store)
        ordered = tuple(sorted(copies, key=recency, reverse=True))
        last_good = next((c for c in ordered if is_good(c)), None)
        newest = humanize.age((now - ordered[0].created_at).total_seconds())
        out.append(Coverage(
            asset=asset, classification=classify(asset, site), status=Status.UNKNOWN,
            reasons=(f"{len(ordered)} cop{'y' if len(ordered) == 1 else 'ies'} of a {kind} named "
                     f"{name!r} that the inventory did not find; newest {newest} old",),
            copies=ordered, last_good=last_good, rpo_seconds=None, orphan=True))
    return out


def carry_over(coverages: Sequence[Coverage], previous: Snapshot | None,
               source_problems: Sequence[SourceProblem], now: datetime) -> list[Coverage]:
    """An unreachable source keeps showing the assets it had when last read,
    as UNKNOWN: an outage must not make assets vanish from the inventory."""
    if previous is None or not source_problems:
        return list(coverages)
    out = list(coverages)
    for problem in source_problems:
        remembered = [c for c in previous.coverages
                      if c.asset.source == problem.source and c.asset.kind != "source"]
        placeholder = next((c for c in out if c.asset.id == unreachable_source_id(problem.source)), None)
        if not remembered or placeholder is None:
            continue
        out.remove(placeholder)
        seen = humanize.age((now - previous.generated_at).total_seconds())
        out.extend(
            replace(cov, status=Status.UNKNOWN,
                    reasons=(f"{problem.provider} source '{problem.source}' unreachable: "
                             f"{problem.reason}; as last seen {seen} ago", *cov.reasons))
            for cov in remembered
        )
    return out


def _root_disk_classification(asset: Asset, by_id: dict[str, Asset],
                               site: Site) -> Classification | None:
    """A root disk comes back the way its server does (a server rebuilt from
    automation brings a fresh root disk), unless the disk is tagged itself."""
    owner = by_id.get(asset.attributes.get("root_disk_of", ""))
    if owner is None or CLASS_TAG in asset.tags:
        return None
    decided = classify(owner, site)
    return Classification(decided.asset_class,
                          f"root disk of server '{owner.name}' ({decided.rule})")


def _store_problem(site: Site, asset: Asset, failing: set[str],
                   source_problems: Sequence[SourceProblem]) -> str | None:
    """If a store that may hold this asset's copies is unreachable, missing
    copies prove nothing: the verdict must be UNKNOWN, not CRITICAL."""
    if not failing:
        return None
    for pattern in site.copies:
        if pattern.store in failing and pattern.asset_kind in (None, asset.kind):
            reason = next(p.reason for p in source_problems if p.source == pattern.store)
            return f"backup store '{pattern.store}' unreachable: {reason}"
    return None


def evaluate_asset(
    site: Site,
    asset: Asset,
    copies: Sequence[BackupCopy],
    problem: str | None,
    store_problem: str | None,
    now: datetime,
    classification: Classification | None = None,
) -> Coverage:
    classification = classification or classify(asset, site)
    asset_class = classification.asset_class
    ordered = tuple(sorted(copies, key=recency, reverse=True))
    last_good = next((c for c in ordered if is_good(c)), None)
    rpo = site.rpo.for_class(asset_class)

    status, reasons = _judge(asset, asset_class, ordered, last_good, rpo, now)
    if store_problem and status in (Status.CRITICAL, Status.WARNING):
        status, reasons = Status.UNKNOWN, [store_problem, *reasons]
    if problem:
        status, reasons = Status.UNKNOWN, [problem, *reasons]
    return Coverage(
        asset=asset, classification=classification, status=status,
        reasons=tuple(reasons), copies=ordered, last_good=last_good, rpo_seconds=rpo,
    )


def _judge(
    asset: Asset,
    asset_class: AssetClass,
    copies: Sequence[BackupCopy],
    last_good: BackupCopy | None,
    rpo: int | None,
    now: datetime,
) -> tuple[Status, list[str]]:
    if asset_class is AssetClass.REPRODUCIBLE:
        return Status.OK, ["reproducible: redeployed from automation, no backup expected"]
    if asset_class is AssetClass.UNCLASSIFIED:
        return Status.WARNING, ["unclassified: no rule says whether it must come back "
                                "(a policy gap)"]
    assert rpo is not None  # every class that needs a backup has an RPO

    if not copies:
        return Status.CRITICAL, ["no copy found"]
    if last_good is None:
        newest = copies[0]
        return Status.CRITICAL, [
            f"no usable copy: all {len(copies)} failed; newest: {failure(newest)}"
        ]

    status = Status.OK
    reasons: list[str] = []
    good_age = _age(last_good, now)
    if good_age > rpo:
        status = Status.CRITICAL
        reasons.append(f"last good copy is {humanize.age(good_age)} old; "
                       f"RPO is {humanize.age(rpo)}")

    # Judged per kind of copy: a broken newest dump is news even when a
    # fresh snapshot exists, since the next disaster may take the platform.
    newest_by_kind: dict[str, BackupCopy] = {}
    for copy in copies:  # newest first
        newest_by_kind.setdefault(copy.kind, copy)
    for kind, newest in newest_by_kind.items():
        if is_good(newest) and not newest.verification.verified:
            status = max(status, Status.WARNING)
            reasons.append(f"newest {kind} has no manifest: integrity unverified "
                           "(its content is complete)")
        if is_good(newest):
            continue
        status = max(status, Status.WARNING)
        fallback = any(c.kind == kind and is_good(c) for c in copies)
        reasons.append(
            f"newest {kind} ({humanize.age(_age(newest, now))} old) is unusable: "
            f"{failure(newest)}; "
            + ("fell back to an older one" if fallback else f"no good {kind} at all")
        )

    if asset_class is AssetClass.METADATA and asset.kind in TWO_STRATEGY_KINDS:
        status, reasons = _two_strategies(copies, rpo, now, status, reasons)
    if asset.kind == "host":
        status, reasons = _host_state_kinds(copies, status, reasons)

    if status is Status.OK:
        reasons.append(f"last good copy {humanize.age(good_age)} old, "
                       f"inside RPO {humanize.age(rpo)}")
    return status, reasons


def _two_strategies(copies: Sequence[BackupCopy], rpo: int, now: datetime,
                    status: Status, reasons: list[str]) -> tuple[Status, list[str]]:
    """Metadata needs a fast snapshot AND a platform-agnostic offsite export:
    the snapshot is useless when the platform is gone."""
    wording = {
        Strategy.SNAPSHOT: "fast snapshot",
        Strategy.EXPORT: "platform-agnostic offsite export (SQL dump)",
    }
    for strategy in (Strategy.SNAPSHOT, Strategy.EXPORT):
        good = [c for c in copies if c.strategy is strategy and is_good(c)]
        if not good:
            status = max(status, Status.WARNING)
            reasons.append(f"only one of the two strategies: no good {wording[strategy]}")
        elif _age(good[0], now) > rpo:
            status = max(status, Status.WARNING)
            reasons.append(f"newest good {wording[strategy]} is "
                           f"{humanize.age(_age(good[0], now))} old; RPO is {humanize.age(rpo)}")
    return status, reasons


def _host_state_kinds(copies: Sequence[BackupCopy], status: Status,
                      reasons: list[str]) -> tuple[Status, list[str]]:
    for kind in HOST_COPY_KINDS:
        good = [c for c in copies if c.kind == kind and is_good(c)]
        if not good:
            status = max(status, Status.WARNING)
            reasons.append(f"no good {kind} copy (a rebuilt host needs both "
                           f"{' and '.join(HOST_COPY_KINDS)})")
    return status, reasons


def _age(copy: BackupCopy, now: datetime) -> float:
    return (now - copy.created_at).total_seconds()


def failure(copy: BackupCopy) -> str:
    """Why a copy is not good, in a few words."""
    check = copy.verification
    if check.detail:
        return check.detail
    if not check.present:
        return "missing"
    if check.size_ok is False:
        return "size differs from its manifest"
    if check.checksum_ok is False:
        return "checksum differs from its manifest"
    if check.complete is False:
        return "incomplete"
    return "not verified"
