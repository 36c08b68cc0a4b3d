"""The pure parts of the inventory: binding copies to assets, and the
concurrent collector's handling of failing and slow providers."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dr_console.errors import ProviderError
from dr_console.inventory import bind, collect
from dr_console.model import Asset, BackupCopy, Strategy, Verification
from dr_console.providers import Discovery, UnboundCopy
from dr_console.schema import Site

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def site(**extra: object) -> Site:
    data: dict[str, object] = {
        "site": "t",
        "clouds": [{"name": "os1", "type": "openstack", "cloud": "c"}],
        "stores": [{"name": "offsite", "bucket": "b"}],
    }
    data.update(extra)
    return Site.model_validate(data)


def asset(source: str, kind: str, name: str, provider: str = "openstack",
          native: str | None = None, **attributes: str) -> Asset:
    return Asset(id=f"{source}:{kind}:{native or name}", name=name, provider=provider,
                 kind=kind, source=source, attributes=attributes)


def copy(copy_id: str, asset_id: str = "", kind: str = "sql-dump",
         strategy: Strategy = Strategy.EXPORT) -> BackupCopy:
    return BackupCopy(id=copy_id, asset_id=asset_id, kind=kind, strategy=strategy,
                      location=f"s3://b/{copy_id}", created_at=NOW,
                      verification=Verification(platform_ok=True))


def test_unbound_copy_binds_to_asset_of_that_name_and_kind() -> None:
    db = asset("mysql1", "database", "nova", provider="mysql")
    server = asset("os1", "server", "nova", native="uuid-1")
    found = [
        Discovery("mysql1", "mysql", assets=[db]),
        Discovery("os1", "openstack", assets=[server]),
        Discovery("offsite", "store",
                  unbound=[UnboundCopy("nova", "database", copy("offsite:sql-dump:k1"))]),
    ]
    out = bind(site(), found)
    assert [(c.id, c.asset_id) for c in out.copies] == [("offsite:sql-dump:k1", db.id)]
    assert out.orphans == []


def test_copy_without_kind_binds_to_every_asset_of_that_name_with_unique_ids() -> None:
    a = asset("mysql1", "database", "shop", provider="mysql")
    b = asset("mysql2", "database", "shop", provider="mysql")
    found = [Discovery("m", "mysql", assets=[a, b]),
             Discovery("offsite", "store", unbound=[UnboundCopy("shop", None, copy("k"))])]
    out = bind(site(), found)
    assert sorted(c.asset_id for c in out.copies) == sorted([a.id, b.id])
    assert len({c.id for c in out.copies}) == 2


def test_copy_of_missing_asset_is_kept_as_orphan() -> None:
    orphan = UnboundCopy("gone_db", "database", copy("offsite:sql-dump:gone"))
    wrong_kind = UnboundCopy("nova", "host", copy("offsite:etc-archive:nova"))
    found = [Discovery("m", "mysql", assets=[asset("m", "database", "nova", provider="mysql")]),
             Discovery("offsite", "store", unbound=[orphan, wrong_kind])]
    out = bind(site(), found)
    assert out.copies == []
    assert out.orphans == [orphan, wrong_kind]


def test_direct_copies_and_problems_pass_through() -> None:
    vol = asset("os1", "volume", "data", native="v1")
    snap = copy("os1:volume-snapshot:s1", vol.id, "volume-snapshot", Strategy.SNAPSHOT)
    host = asset("boot1", "host", "boot1", provider="host")
    found = [Discovery("os1", "openstack", assets=[vol], copies=[snap]),
             Discovery("boot1", "host", assets=[host], problems={host.id: "key refused"})]
    out = bind(site(), found)
    assert out.copies == [snap]
    assert out.problems == {host.id: "key refused"}
    assert [a.id for a in out.assets] == [vol.id, host.id]


SNAPSHOT_SITE = {
    "mysql": [{"name": "metadata-db", "user": "u",
               "snapshot_volume": {"cloud": "os1", "volume": "metadata-db-data"}}],
}


def test_snapshot_volume_copies_bind_to_each_database_of_the_server() -> None:
    vol = asset("os1", "volume", "metadata-db-data", native="v1", volume_id="v1")
    other = asset("os1", "volume", "scratch", native="v2", volume_id="v2")
    snap = copy("os1:volume-snapshot:s1", vol.id, "volume-snapshot", Strategy.SNAPSHOT)
    backup = copy("os1:volume-backup:b1", vol.id, "volume-backup", Strategy.EXPORT)
    unrelated = copy("os1:volume-snapshot:s2", other.id, "volume-snapshot", Strategy.SNAPSHOT)
    nova = asset("metadata-db", "database", "nova", provider="mysql")
    keystone = asset("metadata-db", "database", "keystone", provider="mysql")
    elsewhere = asset("other-db", "database", "shop", provider="mysql")
    found = [
        Discovery("os1", "openstack", assets=[vol, other], copies=[snap, backup, unrelated]),
        Discovery("metadata-db", "mysql", assets=[nova, keystone]),
        Discovery("other-db", "mysql", assets=[elsewhere]),
    ]
    out = bind(site(**SNAPSHOT_SITE), found)

    for db in (nova, keystone):
        mine = [c for c in out.copies if c.asset_id == db.id]
        assert sorted(c.id for c in mine) == [f"{backup.id}@{db.id}", f"{snap.id}@{db.id}"]
        # A whole-volume copy is the fast-snapshot strategy for the database,
        # even when Cinder kept it as a backup.
        assert {c.strategy for c in mine} == {Strategy.SNAPSHOT}
        assert {c.location for c in mine} == {snap.location, backup.location}
    assert not [c for c in out.copies if c.asset_id == elsewhere.id]
    # The volume keeps its own copies, untouched.
    assert [c for c in out.copies if c.asset_id == vol.id] == [snap, backup]


def test_snapshot_volume_by_id_and_ambiguous_name() -> None:
    by_id = {"mysql": [{"name": "metadata-db", "user": "u",
                        "snapshot_volume": {"cloud": "os1", "volume": "v1"}}]}
    vol = asset("os1", "volume", "data", native="v1", volume_id="v1")
    snap = copy("os1:volume-snapshot:s1", vol.id, "volume-snapshot", Strategy.SNAPSHOT)
    nova = asset("metadata-db", "database", "nova", provider="mysql")
    out = bind(site(**by_id), [Discovery("os1", "openstack", assets=[vol], copies=[snap]),
                               Discovery("metadata-db", "mysql", assets=[nova])])
    assert [c.asset_id for c in out.copies].count(nova.id) == 1

    twin = asset("os1", "volume", "metadata-db-data", native="v9", volume_id="v9")
    first = asset("os1", "volume", "metadata-db-data", native="v1", volume_id="v1")
    out = bind(site(**SNAPSHOT_SITE),
               [Discovery("os1", "openstack", assets=[first, twin], copies=[snap]),
                Discovery("metadata-db", "mysql", assets=[nova])])
    assert not [c for c in out.copies if c.asset_id == nova.id]
    assert out.notes and "2 volumes named 'metadata-db-data'" in out.notes[0]


def test_snapshot_volume_in_another_cloud_is_not_used() -> None:
    vol = asset("os2", "volume", "metadata-db-data", native="v1")
    snap = copy("os2:volume-snapshot:s1", vol.id, "volume-snapshot", Strategy.SNAPSHOT)
    nova = asset("metadata-db", "database", "nova", provider="mysql")
    out = bind(site(**SNAPSHOT_SITE), [Discovery("os2", "openstack", assets=[vol], copies=[snap]),
                                       Discovery("metadata-db", "mysql", assets=[nova])])
    assert out.copies == [snap]


# --------------------------------------------------------------------------
# collect(): failures and the deadline


class Fake:
    def __init__(self, source: str, *, delay: float = 0.0, error: BaseException | None = None,
                 provider: str = "fake") -> None:
        self.source = source
        self.provider = provider
        self.delay = delay
        self.error = error
        self.release = threading.Event()

    def discover(self) -> Discovery:
        if self.delay:
            self.release.wait(self.delay)
        if self.error is not None:
            raise self.error
        return Discovery(self.source, self.provider,
                         assets=[asset(self.source, "thing", self.source, provider="fake")])


def test_collect_turns_failures_into_source_problems_and_keeps_the_rest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    providers = [Fake("ok1"), Fake("broken", error=ProviderError("store x: connection refused")),
                 Fake("buggy", error=KeyError("oops")), Fake("ok2")]
    out = collect(providers, deadline=5)
    assert [d.source for d in out.discoveries] == ["ok1", "ok2"]
    reasons = {p.source: p.reason for p in out.source_problems}
    assert reasons["broken"] == "store x: connection refused"
    assert reasons["buggy"] == (f"internal error reading this source; details in "
                                f"{tmp_path / 'dr-console' / 'crash.log'}")
    assert "KeyError: 'oops'" in (tmp_path / "dr-console" / "crash.log").read_text()
    assert set(out.provider_seconds) == {"ok1", "broken", "buggy", "ok2"}


def test_collect_does_not_wait_past_its_deadline() -> None:
    slow = Fake("slow", delay=30)
    start = time.perf_counter()
    try:
        out = collect([slow, Fake("fast")], deadline=0.5)
    finally:
        slow.release.set()
    took = time.perf_counter() - start
    assert took < 2.0
    assert [d.source for d in out.discoveries] == ["fast"]
    assert out.source_problems[0].source == "slow"
    assert "no answer within 0.5s" in out.source_problems[0].reason
    assert out.provider_seconds["slow"] == pytest.approx(0.5)
    assert out.wall_seconds < 2.0


def test_collect_runs_providers_concurrently() -> None:
    providers = [Fake(f"p{i}", delay=0.3) for i in range(5)]
    out = collect(providers, deadline=10)
    assert len(out.discoveries) == 5
    # Five 0.3 s providers in parallel: well under their 1.5 s sum.
    assert out.wall_seconds < 1.0
    assert sum(out.provider_seconds.values()) >= 1.4


def test_collect_with_no_providers() -> None:
    out = collect([], deadline=1)
    assert out.discoveries == [] and out.source_problems == []
