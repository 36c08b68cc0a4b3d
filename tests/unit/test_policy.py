"""The classification and coverage policy, on plain data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dr_console.model import (
    Asset,
    AssetClass,
    BackupCopy,
    Snapshot,
    SourceProblem,
    Status,
    Strategy,
    Verification,
    is_good,
)
from dr_console.policy import carry_over, classify, evaluate, evaluate_asset
from dr_console.schema import Site

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

GOOD_DUMP = Verification(size_ok=True, checksum_ok=True, complete=True, has_manifest=True)
CORRUPT = Verification(size_ok=True, checksum_ok=False, has_manifest=True,
                       detail="sha256 mismatch")
TRUNCATED = Verification(size_ok=False, complete=False, has_manifest=True,
                         detail="truncated: gzip stream ends early")
PLAIN_COMPLETE = Verification(complete=True, has_manifest=False)
PLATFORM_OK = Verification(platform_ok=True)


def make_site(**extra: object) -> Site:
    data = {
        "site": "test",
        "rules": [
            {"name": "service-dbs", "class": "metadata",
             "match": {"provider": "mysql", "name": ["keystone", "nova*"]}},
            {"name": "app-dbs", "class": "payload", "match": {"provider": "mysql"}},
            {"name": "volumes", "class": "payload", "match": {"kind": "volume"}},
            {"name": "web", "class": "reproducible", "match": {"kind": "server", "name": "web-*"}},
            {"name": "tagged-gold", "class": "metadata",
             "match": {"kind": "image", "tags": {"tier": "gold"}}},
        ],
        "rpo": {"boot-infra": "7d", "metadata": "24h", "payload": "12h"},
    }
    data.update(extra)
    return Site.model_validate(data).model_copy(update={"path": Path("site.yaml")})


def asset(name: str, kind: str = "database", provider: str = "mysql", **tags: str) -> Asset:
    return Asset(id=f"src:{kind}:{name}", name=name, provider=provider, kind=kind,
                 source="src", tags=dict(tags))


def copy(a: Asset, hours_ago: float, verification: Verification = GOOD_DUMP,
         strategy: Strategy = Strategy.EXPORT, kind: str = "sql-dump") -> BackupCopy:
    return BackupCopy(
        id=f"{a.id}@{hours_ago}{strategy}", asset_id=a.id, kind=kind, strategy=strategy,
        location=f"s3://b/{a.name}-{hours_ago}", created_at=NOW - timedelta(hours=hours_ago),
        verification=verification,
    )


# --- classification ------------------------------------------------------------


def test_tag_wins_over_site_rules() -> None:
    site = make_site()
    result = classify(asset("web-1", kind="server", provider="openstack",
                            **{"dr:class": "payload"}), site)
    assert result.asset_class is AssetClass.PAYLOAD
    assert "tag dr:class=payload" in result.rule


def test_first_matching_site_rule_decides_and_is_named() -> None:
    site = make_site()
    result = classify(asset("nova_api"), site)
    assert result.asset_class is AssetClass.METADATA
    assert result.rule == "site rule 'service-dbs' (site.yaml)"
    assert classify(asset("shop"), site).asset_class is AssetClass.PAYLOAD


def test_tag_match_and_glob_names() -> None:
    site = make_site()
    gold = asset("appliance", kind="image", provider="openstack", tier="gold")
    plain = asset("cirros", kind="image", provider="openstack")
    assert classify(gold, site).asset_class is AssetClass.METADATA
    assert classify(plain, site).asset_class is AssetClass.UNCLASSIFIED
    assert classify(plain, site).rule == "no rule matched"


def test_builtin_knows_openstack_service_databases() -> None:
    site = make_site(rules=[])
    result = classify(asset("placement"), site)
    assert result.asset_class is AssetClass.METADATA
    assert result.rule.startswith("built-in")


def test_unknown_tag_value_is_unclassified_with_reason() -> None:
    result = classify(asset("x", **{"dr:class": "precious"}), make_site())
    assert result.asset_class is AssetClass.UNCLASSIFIED
    assert "'precious'" in result.rule


# --- coverage ------------------------------------------------------------------


def test_payload_with_fresh_verified_copy_is_ok() -> None:
    a = asset("shop")
    cov = evaluate_asset(make_site(), a, [copy(a, 2)], None, None, NOW)
    assert cov.status is Status.OK
    assert cov.last_good is not None and cov.last_good.created_at == NOW - timedelta(hours=2)


def test_no_copy_is_critical() -> None:
    a = asset("scratch", kind="volume", provider="openstack")
    cov = evaluate_asset(make_site(), a, [], None, None, NOW)
    assert cov.status is Status.CRITICAL
    assert cov.reasons == ("no copy found",)
    assert cov.last_good is None


def test_last_good_older_than_rpo_is_critical_with_ages() -> None:
    a = asset("shop")
    cov = evaluate_asset(make_site(), a, [copy(a, 30)], None, None, NOW)
    assert cov.status is Status.CRITICAL
    assert "last good copy is 1d 6h old; RPO is 12h" in cov.reasons[0]


@pytest.mark.parametrize("order", [0, 1])
def test_a_snapshot_and_a_backup_of_the_same_second_the_backup_is_the_last_good(order: int) -> None:
    # Cinder stamps whole seconds: taken together, they tie. The backup
    # survives the platform, so it counts as the newer, whatever the listing order.
    a = asset("app-data", kind="volume", provider="openstack")
    backup = copy(a, 2, PLATFORM_OK, Strategy.EXPORT, kind="volume-backup")
    snap = copy(a, 2, PLATFORM_OK, Strategy.SNAPSHOT, kind="volume-snapshot")
    listed = [snap, backup] if order == 0 else [backup, snap]
    cov = evaluate_asset(make_site(), a, listed, None, None, NOW)
    assert cov.last_good is backup
    assert cov.copies[0] is backup


def test_corrupt_newest_falls_back_to_older_good_copy_with_warning() -> None:
    a = asset("shop")
    cov = evaluate_asset(make_site(), a, [copy(a, 1, CORRUPT), copy(a, 6)], None, None, NOW)
    assert cov.status is Status.WARNING
    assert cov.last_good is not None
    assert cov.last_good.created_at == NOW - timedelta(hours=6)
    assert any("sha256 mismatch" in r and "fell back" in r for r in cov.reasons)


def test_all_copies_bad_is_critical_and_names_the_failure() -> None:
    a = asset("shop")
    cov = evaluate_asset(make_site(), a, [copy(a, 1, TRUNCATED), copy(a, 2, CORRUPT)],
                         None, None, NOW)
    assert cov.status is Status.CRITICAL
    assert "all 2 failed" in cov.reasons[0]
    assert "truncated" in cov.reasons[0]


def test_plain_dump_without_manifest_is_usable_but_unverified() -> None:
    a = asset("shop")
    cov = evaluate_asset(make_site(), a, [copy(a, 1, PLAIN_COMPLETE)], None, None, NOW)
    assert cov.last_good is not None
    assert cov.status is Status.WARNING
    assert any("no manifest" in r for r in cov.reasons)


def test_plain_dump_that_is_incomplete_is_not_good() -> None:
    a = asset("shop")
    incomplete = Verification(complete=False, has_manifest=False, detail="no trailer")
    assert not is_good(copy(a, 1, incomplete))


def test_metadata_needs_both_strategies() -> None:
    a = asset("nova")
    only_snapshot = evaluate_asset(
        make_site(), a, [copy(a, 1, PLATFORM_OK, Strategy.SNAPSHOT, "volume-snapshot")],
        None, None, NOW)
    assert only_snapshot.status is Status.WARNING
    assert any("no good platform-agnostic offsite export" in r for r in only_snapshot.reasons)

    both = evaluate_asset(
        make_site(), a,
        [copy(a, 1, PLATFORM_OK, Strategy.SNAPSHOT, "volume-snapshot"), copy(a, 2)],
        None, None, NOW)
    assert both.status is Status.OK


def test_reproducible_needs_no_copy_and_unclassified_warns() -> None:
    site = make_site()
    web = asset("web-1", kind="server", provider="openstack")
    odd = asset("mystery", kind="server", provider="openstack")
    assert evaluate_asset(site, web, [], None, None, NOW).status is Status.OK
    cov = evaluate_asset(site, odd, [], None, None, NOW)
    assert cov.status is Status.WARNING
    assert "policy gap" in cov.reasons[0]


def test_boot_infra_host_needs_etc_and_package_list() -> None:
    site = make_site()
    host = asset("boot1", kind="host", provider="host", **{"dr:class": "boot-infra"})
    only_etc = [copy(host, 1, kind="etc-archive")]
    cov = evaluate_asset(site, host, only_etc, None, None, NOW)
    assert cov.status is Status.WARNING
    assert any("no good package-list" in r for r in cov.reasons)
    both = [*only_etc, copy(host, 1, kind="package-list")]
    assert evaluate_asset(site, host, both, None, None, NOW).status is Status.OK


def test_asset_problem_makes_it_unknown_and_keeps_reason_first() -> None:
    host = asset("boot1", kind="host", provider="host", **{"dr:class": "boot-infra"})
    cov = evaluate_asset(make_site(), host, [], "host key CHANGED: refused", None, NOW)
    assert cov.status is Status.UNKNOWN
    assert cov.reasons[0] == "host key CHANGED: refused"


def test_unreachable_source_shows_as_unknown_entry() -> None:
    problem = SourceProblem("lab-openstack", "openstack", "connection refused")
    covs = evaluate(make_site(), [], [], {}, [problem], NOW)
    assert len(covs) == 1
    assert covs[0].status is Status.UNKNOWN
    assert "connection refused" in covs[0].reasons[0]
    # Its own kind of row: an outage, not a policy gap.
    assert covs[0].classification.asset_class is AssetClass.UNREACHABLE


def test_a_tag_cannot_make_an_asset_unreachable() -> None:
    tagged = asset("shop", **{"dr:class": "unreachable"})
    assert classify(tagged, make_site()).asset_class is AssetClass.UNCLASSIFIED


def test_orphan_copies_are_grouped_per_missing_asset_and_classified_as_it_would_be() -> None:
    from dr_console.policy import orphan_coverages

    site = make_site(rules=[{"name": "dbs", "class": "metadata", "match": {"kind": "database"}}])
    old, new = (copy(asset("keystone"), hours) for hours in (30, 2))
    covs = orphan_coverages(site, [("keystone", "database", "offsite", old),
                                   ("keystone", "database", "offsite", new)], NOW)
    (cov,) = covs
    assert cov.orphan and cov.asset.name == "keystone" and cov.asset.kind == "database"
    assert cov.classification.asset_class is AssetClass.METADATA
    assert cov.copies == (new, old) and cov.last_good == new
    assert "2 copies of a database named 'keystone' that the inventory did not find" in cov.reasons[0]


def test_unreachable_store_turns_missing_copies_into_unknown_not_critical() -> None:
    site = make_site(
        stores=[{"name": "offsite", "bucket": "b"}],
        copies=[{"store": "offsite", "pattern": "mysql/{asset}.sql.gz", "kind": "sql-dump",
                 "asset_kind": "database"}],
    )
    a = asset("shop")
    problem = SourceProblem("offsite", "store", "timed out")
    covs = evaluate(site, [a], [], {}, [problem], NOW)
    assert covs[0].status is Status.UNKNOWN
    assert "backup store 'offsite' unreachable: timed out" in covs[0].reasons[0]


@pytest.mark.parametrize("hours, expected", [(11, Status.OK), (13, Status.CRITICAL)])
def test_rpo_boundary(hours: float, expected: Status) -> None:
    a = asset("shop")
    assert evaluate_asset(make_site(), a, [copy(a, hours)], None, None, NOW).status is expected


def test_root_disk_comes_back_with_its_server() -> None:
    site = make_site()
    web = asset("web-a", kind="server", provider="aws")
    root = Asset(id="src:volume:vol-1", name="vol-1", provider="aws", kind="volume",
                 source="src", attributes={"root_disk_of": web.id})
    data = Asset(id="src:volume:vol-2", name="vol-2", provider="aws", kind="volume",
                 source="src")
    covs = {c.asset.name: c for c in evaluate(site, [web, root, data], [], {}, [], NOW)}
    assert covs["vol-1"].classification.asset_class is AssetClass.REPRODUCIBLE
    assert "root disk of server 'web-a'" in covs["vol-1"].classification.rule
    assert covs["vol-1"].status is Status.OK
    assert covs["vol-2"].classification.asset_class is AssetClass.PAYLOAD
    assert covs["vol-2"].status is Status.CRITICAL


def test_metadata_host_needs_system_state_not_two_strategies() -> None:
    host = asset("db1", kind="host", provider="host", **{"dr:class": "metadata"})
    copies = [copy(host, 1, kind="etc-archive"), copy(host, 1, kind="package-list")]
    cov = evaluate_asset(make_site(), host, copies, None, None, NOW)
    assert cov.status is Status.OK, cov.reasons
    cov = evaluate_asset(make_site(), host, copies[:1], None, None, NOW)
    assert cov.status is Status.WARNING
    assert any("no good package-list" in r for r in cov.reasons)


def test_unreachable_source_keeps_its_last_seen_assets_as_unknown() -> None:
    site = make_site()
    volume = Asset(id="east:volume:v1", name="v1", provider="openstack", kind="volume",
                   source="east")
    earlier = NOW - timedelta(hours=1)
    before = evaluate(site, [volume], [copy(volume, 3, PLATFORM_OK, Strategy.SNAPSHOT)], {}, [],
                      earlier)
    previous = Snapshot(site="test", generated_at=earlier, coverages=tuple(before))
    problem = SourceProblem("east", "openstack", "connection refused")
    now_covs = carry_over(evaluate(site, [], [], {}, [problem], NOW), previous, [problem], NOW)
    assert [c.asset.id for c in now_covs] == ["east:volume:v1"]
    assert now_covs[0].status is Status.UNKNOWN
    assert now_covs[0].reasons[0] == ("openstack source 'east' unreachable: connection refused; "
                                      "as last seen 1h ago")
    assert now_covs[0].last_good is not None


def test_broken_newest_dump_warns_even_when_a_newer_snapshot_is_good() -> None:
    a = asset("cinder")
    copies = [
        copy(a, 0.5, PLATFORM_OK, Strategy.SNAPSHOT, "volume-snapshot"),
        copy(a, 1, CORRUPT),
        copy(a, 6),
    ]
    cov = evaluate_asset(make_site(), a, copies, None, None, NOW)
    assert cov.status is Status.WARNING
    assert cov.reasons == ("newest sql-dump (1h old) is unusable: sha256 mismatch; "
                           "fell back to an older one",)
    assert cov.last_good is not None and cov.last_good.kind == "volume-snapshot"


def test_no_good_copy_of_a_kind_says_so() -> None:
    a = asset("shop")
    copies = [copy(a, 0.5, PLATFORM_OK, Strategy.SNAPSHOT, "volume-snapshot"),
              copy(a, 1, TRUNCATED)]
    cov = evaluate_asset(make_site(), a, copies, None, None, NOW)
    assert cov.status is Status.WARNING
    assert "no good sql-dump at all" in cov.reasons[0]


def test_unverified_newest_dump_warns_even_beside_a_verified_snapshot() -> None:
    a = asset("shop")
    copies = [copy(a, 0.5, PLATFORM_OK, Strategy.SNAPSHOT, "volume-snapshot"),
              copy(a, 2, PLAIN_COMPLETE)]
    cov = evaluate_asset(make_site(), a, copies, None, None, NOW)
    assert cov.status is Status.WARNING
    assert cov.reasons == ("newest sql-dump has no manifest: integrity unverified "
                           "(its content is complete)",)
