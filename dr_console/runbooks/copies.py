"""How every runbook chooses the copy it restores from.

The rules, the same for each runbook:

1. Never decide from a snapshot that is older than the freshness limit, or
   in which a source this asset's copies come from (a store holding its
   kind of copy, or the asset's own source: its database server, its
   cloud) could not be read: gather anew first, and say so in the log.
2. A conclusion of "no usable copy" (or "this asset is not in the
   inventory") drawn from the cache is confirmed against the sources at
   that moment: listing one asset's copies is cheap, and a copy may have
   arrived since.
3. When there really is none, say what was found, each copy with why it
   cannot be used, and the exact `--copy` values that could still be
   forced (an unverified copy, never a corrupt one).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from dr_console import humanize, snapshots
from dr_console.model import BackupCopy, Coverage, Snapshot, asset_id, is_good, recency
from dr_console.policy import failure
from dr_console.runbooks.engine import StepFailed
from dr_console.schema import Site

Log = Callable[[str], None]


@dataclass(frozen=True)
class AssetRef:
    """The asset a runbook restores, as the inventory names it."""

    source: str  # the site-file entry that lists it: a mysql server, a cloud, a host
    kind: str  # database, volume, host, repo…
    name: str
    native: str = ""  # the id in its source; the name when empty

    @property
    def id(self) -> str:
        return asset_id(self.source, self.kind, self.native or self.name)


@dataclass(frozen=True)
class Found:
    """The copies of the wanted kinds, newest first, and where the verdict
    came from (for the log and the messages)."""

    copies: tuple[BackupCopy, ...]
    origin: str  # "the cached inventory", "a new inventory", "the sources just now"

    @property
    def good(self) -> list[BackupCopy]:
        return [c for c in self.copies if is_good(c)]


class NoUsableCopy(StepFailed):
    """Nothing the runbook may restore from; the message lists what was found."""


def _relevant_sources(site: Site, ref: AssetRef, kinds: Collection[str]) -> set[str]:
    stores = {p.store for p in site.copies
              if p.kind in kinds and p.asset_kind in (None, ref.kind)}
    return {ref.source, *stores}


def distrust(snapshot: Snapshot | None, site: Site, ref: AssetRef, kinds: Collection[str],
             now: datetime | None = None) -> str | None:
    """Why this snapshot must not decide the copy, or None if it may."""
    if snapshot is None:
        return "no cached inventory"
    if not snapshots.is_fresh(snapshot, now=now):
        age = humanize.age(snapshots.age_seconds(snapshot, now))
        return f"the cached inventory is {age} old"
    relevant = _relevant_sources(site, ref, kinds)
    down = [p for p in snapshot.problems if p.source in relevant]
    if down:
        names = ", ".join(f"{p.provider} {p.source}" for p in down)
        return f"the cached inventory was made while {names} could not be read"
    return None


def _copies_in(coverages: Sequence[Coverage], ref: AssetRef,
               kinds: Collection[str]) -> tuple[BackupCopy, ...] | None:
    """The asset's copies of these kinds, newest first; None if the asset
    is not there at all."""
    coverage = next((c for c in coverages if c.asset.id == ref.id), None)
    if coverage is None:
        return None
    return tuple(c for c in coverage.copies if c.kind in kinds)


def _ask_sources(site: Site, ref: AssetRef, kinds: Collection[str], *,
                 everything: bool) -> tuple[Snapshot, tuple[BackupCopy, ...]]:
    """Gather now: every source (`everything`, and the result is cached for
    the next reader), or only the asset's source and the stores holding its
    kinds of copy, listing just this asset's keys."""
    from dr_console.inventory import providers_for, run
    from dr_console.providers.store import StoreProvider
    from dr_console.verifycache import VerifyCache

    if everything:
        inventory = run(site)
        snapshots.save(inventory.snapshot, site.path)
    else:
        relevant = _relevant_sources(site, ref, kinds)
        cache = VerifyCache()
        providers = [
            StoreProvider(p.store, site.copies, cache=cache, asset=ref.name)
            if isinstance(p, StoreProvider) else p
            for p in providers_for(site, verify_cache=cache) if p.source in relevant]
        inventory = run(site, providers=providers)
    found = _copies_in(inventory.snapshot.coverages, ref, kinds)
    if found is None:
        # The asset itself is gone (that may be the disaster): its copies
        # are orphans, found by name.
        orphans = [o.copy for o in inventory.binding.orphans
                   if o.asset_name == ref.name and o.copy.kind in kinds
                   and o.asset_kind in (None, ref.kind)]
        found = tuple(sorted(orphans, key=recency, reverse=True))
    return inventory.snapshot, found


def find(site: Site, ref: AssetRef, kinds: Collection[str], log: Log, *,
         refresh: bool = False) -> Found:
    """The asset's copies of `kinds`, decided by the rules above."""
    snapshot = None if refresh else snapshots.load(site.path)
    why = "a copy disappeared since the last inventory" if refresh \
        else distrust(snapshot, site, ref, kinds)
    if why is not None:
        log(f"{why}: gathering the inventory anew before choosing a copy")
        fresh, copies = _ask_sources(site, ref, kinds, everything=True)
        _raise_if_unreadable(fresh, site, ref, kinds)
        return Found(copies, "a new inventory")
    assert snapshot is not None
    cached = _copies_in(snapshot.coverages, ref, kinds)
    if cached is not None and any(is_good(c) for c in cached):
        return Found(cached, "the cached inventory")
    what = f"{ref.name} is not in the cached inventory" if cached is None \
        else f"no usable {' or '.join(sorted(kinds))} of {ref.name} in the cached inventory"
    log(f"{what}: asking its sources now")
    fresh, copies = _ask_sources(site, ref, kinds, everything=False)
    _raise_if_unreadable(fresh, site, ref, kinds)
    return Found(copies, "the sources just now")


def _raise_if_unreadable(snapshot: Snapshot, site: Site, ref: AssetRef,
                         kinds: Collection[str]) -> None:
    relevant = _relevant_sources(site, ref, kinds)
    down = [p for p in snapshot.problems if p.source in relevant]
    if down:
        reasons = "; ".join(f"{p.provider} {p.source}: {p.reason}" for p in down)
        raise StepFailed(f"cannot choose a copy of {ref.name} now: {reasons}. Retry when it "
                         "answers, or name a copy yourself with --copy")


def choose(site: Site, ref: AssetRef, kinds: Collection[str], log: Log, *,
           exclude: Collection[str] = (), refresh: bool = False) -> BackupCopy:
    """The newest good copy of `kinds` (not one of `exclude`); NoUsableCopy
    when there is none, listing what there is."""
    found = find(site, ref, kinds, log, refresh=refresh)
    good = [c for c in found.good if c.location not in exclude]
    if good:
        best = max(good, key=recency)
        log(f"last good copy ({found.origin}): {best.location}, made {when_text(best.created_at)}")
        return best
    raise NoUsableCopy(no_usable_copy_message(ref, kinds, found, exclude))


def when_text(moment: datetime, now: datetime | None = None) -> str:
    """'2026-11-30 14:00 UTC (5h 2m ago)'."""
    age = ((now or datetime.now(UTC)) - moment).total_seconds()
    return f"{moment.astimezone(UTC).strftime('%Y-%m-%d %H:%M UTC')} ({humanize.age(age)} ago)"


def why_unusable(copy: BackupCopy) -> str:
    check = copy.verification
    if check.usable and check.has_manifest is False and check.complete is None:
        return "no manifest, and its content was not checked yet"
    if check.usable and check.has_manifest and check.checksum_ok is None:
        return "not checked against its manifest yet"
    return failure(copy)


def no_usable_copy_message(ref: AssetRef, kinds: Collection[str], found: Found,
                           exclude: Collection[str] = ()) -> str:
    wanted = " or ".join(sorted(kinds))
    copies = [c for c in found.copies if c.location not in exclude]
    if not copies:
        gone = f" ({len(exclude)} chosen before is gone)" if exclude else ""
        return f"no {wanted} of {ref.name} at all in {found.origin}{gone}: make a backup first"
    lines = [f"no usable {wanted} of {ref.name} in {found.origin}; found {len(copies)}:"]
    forceable = []
    for copy in copies:
        lines.append(f"  {copy.location} — made {when_text(copy.created_at)}: {why_unusable(copy)}")
        if copy.verification.usable:
            forceable.append(copy.location)
    if forceable:
        lines.append("to restore one anyway (it is checked while it streams, and an unverified "
                     "copy asks for your typed confirmation):")
        lines += [f"  --copy {location}" for location in forceable]
    else:
        lines.append("none of them can be restored")
    return "\n".join(lines)


def cached_choice(site: Site, ref: AssetRef, kinds: Collection[str]) -> str | None:
    """The copy the cached inventory would choose, for showing a plan
    (reading the cache touches nothing; the real choice is the first step's)."""
    snapshot = snapshots.load(site.path)
    copies = _copies_in(snapshot.coverages, ref, kinds) if snapshot is not None else None
    good = [c for c in copies or () if is_good(c)]
    return max(good, key=recency).location if good else None
