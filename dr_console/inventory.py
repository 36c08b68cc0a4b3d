"""Gathers what every provider finds, concurrently, binds copies to their
assets, hands the result to the policy, and caches the snapshot.

The shell (`collect`) does the I/O: one thread per provider, each timed, a
global deadline so one dead backend never holds up the others. The core
(`bind`) is pure: it only moves copies onto assets."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from dr_console import humanize, snapshots
from dr_console.errors import ProviderError
from dr_console.model import Asset, BackupCopy, Snapshot, SourceProblem, Strategy
from dr_console.providers import Discovery, Provider, UnboundCopy
from dr_console.schema import OpenStackCloud, Site
from dr_console.verifycache import VerifyCache

log = logging.getLogger(__name__)

# Longer than any one provider's own timeouts allow for a few calls, and
# longer than the store's deep-check budget; a provider still running after
# this becomes a SourceProblem and the snapshot is built without it.
DEFAULT_DEADLINE = 60.0


# --------------------------------------------------------------------------
# Providers for a site


def providers_for(
    site: Site, *, verify_cache: VerifyCache | None = None, deep: bool = True,
    deep_budget: float | None = None,
) -> list[Provider]:
    """One provider per site entry (stores take the copy patterns naming them)."""
    from dr_console.providers.aws import AwsProvider
    from dr_console.providers.declared import DeclaredProvider
    from dr_console.providers.hosts import HostProvider
    from dr_console.providers.mysql import MySQLProvider
    from dr_console.providers.openstack import OpenStackProvider
    from dr_console.providers.store import DEEP_BUDGET_SECONDS, StoreProvider

    out: list[Provider] = []
    for cloud in site.clouds:
        if isinstance(cloud, OpenStackCloud):
            out.append(OpenStackProvider(cloud))
        else:
            out.append(AwsProvider(cloud, site.stores))
    cache = verify_cache if verify_cache is not None else (VerifyCache() if deep else None)
    budget = DEEP_BUDGET_SECONDS if deep_budget is None else deep_budget
    out.extend(StoreProvider(store, site.copies, cache=cache, deep=deep, deep_budget=budget)
               for store in site.stores)
    out.extend(MySQLProvider(server) for server in site.mysql)
    out.extend(HostProvider(host) for host in site.hosts)
    out.extend(DeclaredProvider(entry) for entry in site.declared)
    return out


# --------------------------------------------------------------------------
# The shell: run providers concurrently


@dataclass
class Collected:
    discoveries: list[Discovery]
    source_problems: list[SourceProblem]
    provider_seconds: dict[str, float]
    wall_seconds: float


def _timed(provider: Provider) -> tuple[Discovery | BaseException, float]:
    start = time.perf_counter()
    try:
        result: Discovery | BaseException = provider.discover()
    except BaseException as exc:  # reported as a SourceProblem, never raised
        result = exc
    return result, time.perf_counter() - start


def _problem_reason(exc: BaseException) -> str:
    if isinstance(exc, ProviderError):
        return str(exc)
    # A bug, not a backend failure: say so; the traceback goes to the crash log.
    from dr_console import crashlog

    return f"internal error reading this source; details in {crashlog.write(exc)}"


def collect(providers: Sequence[Provider], *, deadline: float = DEFAULT_DEADLINE) -> Collected:
    """Run every provider in its own thread; never wait past `deadline`."""
    start = time.perf_counter()
    discoveries: list[Discovery] = []
    problems: list[SourceProblem] = []
    seconds: dict[str, float] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, len(providers)),
                              thread_name_prefix="dr-provider")
    try:
        futures: dict[Future[tuple[Discovery | BaseException, float]], Provider] = {
            pool.submit(_timed, p): p for p in providers}
        _done, pending = wait(futures, timeout=deadline)
        for future in futures:  # in site-file order, for stable output
            provider = futures[future]
            if future in pending:
                seconds[provider.source] = round(deadline, 3)
                problems.append(SourceProblem(provider.source, provider.provider,
                                              f"no answer within {deadline:g}s"))
                continue
            result, took = future.result()
            seconds[provider.source] = round(took, 3)
            if isinstance(result, Discovery):
                discoveries.append(result)
            else:
                problems.append(SourceProblem(provider.source, provider.provider,
                                              _problem_reason(result)))
    finally:
        # Threads cannot be killed; a late one finishes on its own timeouts
        # while we go on without it.
        pool.shutdown(wait=False, cancel_futures=True)
    return Collected(discoveries, problems, seconds, round(time.perf_counter() - start, 3))


# --------------------------------------------------------------------------
# The core: binding copies to assets (pure)


@dataclass
class Binding:
    assets: list[Asset] = field(default_factory=list)
    copies: list[BackupCopy] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)
    # Copies whose asset does not exist (a dump for a database that is not
    # there, a snapshot of a deleted volume): kept aside, never dropped silently.
    orphans: list[UnboundCopy] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def bind(site: Site, discoveries: Iterable[Discovery]) -> Binding:
    out = Binding()
    unbound: list[UnboundCopy] = []
    for found in discoveries:
        out.assets.extend(found.assets)
        out.copies.extend(found.copies)
        out.problems.update(found.problems)
        unbound.extend(found.unbound)

    by_name: dict[str, list[Asset]] = {}
    for asset in out.assets:
        by_name.setdefault(asset.name, []).append(asset)

    for item in unbound:
        matches = [a for a in by_name.get(item.asset_name, [])
                   if item.asset_kind is None or a.kind == item.asset_kind]
        if not matches:
            out.orphans.append(item)
            continue
        for asset in matches:
            # The same name on two servers: the copy counts for each, with
            # an id per binding so ids stay unique.
            copy_id = item.copy.id if len(matches) == 1 else f"{item.copy.id}@{asset.id}"
            out.copies.append(replace(item.copy, id=copy_id, asset_id=asset.id))

    _bind_snapshot_volumes(site, out)
    return out


def _bind_snapshot_volumes(site: Site, out: Binding) -> None:
    """A MySQL server's data volume snapshots are the fast-snapshot strategy
    for every database on that server."""
    for server in site.mysql:
        ref = server.snapshot_volume
        if ref is None:
            continue
        volumes = [a for a in out.assets
                   if a.source == ref.cloud and a.kind == "volume"
                   and ref.volume in (a.name, a.attributes.get("volume_id"))]
        if len(volumes) != 1:
            if len(volumes) > 1:
                # Binding the wrong volume's snapshots would fake coverage.
                out.notes.append(f"mysql {server.name}: {len(volumes)} volumes named "
                                 f"{ref.volume!r} in {ref.cloud}; snapshots not bound")
            continue
        volume = volumes[0]
        volume_copies = [c for c in out.copies if c.asset_id == volume.id]
        databases = [a for a in out.assets
                     if a.provider == "mysql" and a.source == server.name and a.kind == "database"]
        for database in databases:
            for copy in volume_copies:
                out.copies.append(replace(copy, id=f"{copy.id}@{database.id}",
                                          asset_id=database.id, strategy=Strategy.SNAPSHOT))


# --------------------------------------------------------------------------
# Putting it together


@dataclass
class Inventory:
    """One run, with what the snapshot does not carry (orphans, notes)."""

    snapshot: Snapshot
    binding: Binding
    collected: Collected


def run(
    site: Site, *, now: datetime | None = None, timeout: float = DEFAULT_DEADLINE,
    providers: Sequence[Provider] | None = None, deep: bool = True,
) -> Inventory:
    from dr_console.policy import carry_over, evaluate, orphan_coverages

    if providers is None:
        providers = providers_for(site, deep=deep)
    collected = collect(providers, deadline=timeout)
    binding = bind(site, collected.discoveries)
    moment = now or datetime.now(UTC)
    coverages = evaluate(site, binding.assets, binding.copies, binding.problems,
                         collected.source_problems, moment)
    if collected.source_problems:
        coverages = carry_over(coverages, snapshots.load(site.path), collected.source_problems, moment)
    orphans = orphan_coverages(site, ((o.asset_name, o.asset_kind, o.copy.id.split(":", 1)[0], o.copy)
                                      for o in binding.orphans), moment)
    snapshot = Snapshot(
        site=site.site,
        generated_at=moment,
        coverages=tuple(coverages),
        problems=tuple(collected.source_problems),
        provider_seconds=dict(collected.provider_seconds),
        wall_seconds=collected.wall_seconds,
        orphans=tuple(orphans),
    )
    return Inventory(snapshot, binding, collected)


def gather(
    site: Site, *, now: datetime | None = None, timeout: float = DEFAULT_DEADLINE,
    providers: Sequence[Provider] | None = None, deep: bool = True,
) -> Snapshot:
    return run(site, now=now, timeout=timeout, providers=providers, deep=deep).snapshot


def current(site: Site, *, max_age: float | None = None, refresh: bool = False,
            log: Callable[[str], None] | None = None) -> Snapshot:
    """The snapshot to decide from: the cached one while it is fresh
    (`snapshots.MAX_AGE_SECONDS` unless `max_age` says otherwise), else a
    new gather, cached for the next reader."""
    limit = snapshots.MAX_AGE_SECONDS if max_age is None else max_age
    if not refresh:
        cached = snapshots.load(site.path)
        if cached is not None and snapshots.is_fresh(cached, limit):
            return cached
        if log is not None:
            why = "no cached inventory" if cached is None else \
                f"the cached inventory is {humanize.age(snapshots.age_seconds(cached))} old"
            log(f"{why}: asking every backend now")
    snapshot = gather(site)
    snapshots.save(snapshot, site.path)
    return snapshot
