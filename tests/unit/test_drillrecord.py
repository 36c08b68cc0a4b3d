"""What a drill's record does to its copy: passed makes it drilled (and
smoke-tested when the service answered); a failed content check makes it not
good, with the reason, so the last good copy is an older one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dr_console import drillrecord
from dr_console.model import Asset, BackupCopy, Status, Strategy, Verification, is_good
from dr_console.policy import evaluate_asset
from dr_console.schema import Site

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
PLATFORM_OK = Verification(platform_ok=True, size_ok=True)


def test_a_passed_drill_in_tags_marks_the_copy_drilled_and_keeps_it_good() -> None:
    record = drillrecord.DrillRecord("r1", "2026-12-01T10:00:00+00:00", "cinder backup b1",
                                     smoke_tested=True)
    check = drillrecord.apply(PLATFORM_OK, drillrecord.from_tags(record.as_tags()))
    assert check.drilled is True and check.smoke_tested is True
    assert check.drilled_at == "2026-12-01T10:00:00+00:00"
    assert is_good(BackupCopy("c", "a", "volume-backup", Strategy.SNAPSHOT, "x", NOW, verification=check))


def test_tags_written_before_verdicts_existed_read_as_passed() -> None:
    old = {"dr:drilled": "2026-11-30T10:00:00+00:00", "dr:drill-run": "r0", "dr:smoke-tested": "no"}
    record = drillrecord.from_tags(old)
    assert record is not None and record.passed and not record.smoke_tested


def test_a_failed_drill_makes_the_copy_unusable_with_the_reason() -> None:
    record = drillrecord.failed("r2", "cinder backup b2", "e2fsck -fn finds the filesystem clean: "
                                "superblock corrupt " + "x" * 400)
    tags = record.as_tags()
    assert tags["dr:drill-verdict"] == "failed" and len(tags["dr:drill-failure"]) <= 250
    check = drillrecord.apply(PLATFORM_OK, drillrecord.from_tags(tags))
    assert check.drilled is False and not check.usable
    assert check.detail.startswith("failed its drill (r2): e2fsck -fn")
    # A store's drill.json says the same.
    again = drillrecord.DrillRecord.from_json(record.to_json())
    assert drillrecord.apply(PLATFORM_OK, again).drilled is False


def test_no_record_changes_nothing() -> None:
    assert drillrecord.apply(PLATFORM_OK, None) is PLATFORM_OK
    assert drillrecord.from_tags({"other": "x"}) is None


def test_an_unknown_record_format_is_refused() -> None:
    with pytest.raises(drillrecord.DrillRecordError):
        drillrecord.DrillRecord.from_json('{"format": "someone-else/v9"}')


def test_the_inventory_falls_back_past_a_copy_that_failed_its_drill() -> None:
    site = Site.model_validate({"site": "t", "rules": [
        {"name": "volumes", "class": "payload", "match": {"kind": ["volume"]}}]})
    volume = Asset("c:volume:v1", "app-home", "openstack", "volume", "c")
    failed = drillrecord.apply(PLATFORM_OK, drillrecord.failed("r3", "b2", "fsck: corrupt"))
    newest = BackupCopy("b2", volume.id, "volume-backup", Strategy.SNAPSHOT, "cinder backup b2",
                        NOW - timedelta(hours=1), verification=failed)
    older = BackupCopy("b1", volume.id, "volume-backup", Strategy.SNAPSHOT, "cinder backup b1",
                       NOW - timedelta(hours=5), verification=PLATFORM_OK)
    coverage = evaluate_asset(site, volume, [newest, older], None, None, NOW)
    assert coverage.last_good is older
    assert coverage.status is Status.WARNING
    assert any("failed its drill (r3): fsck: corrupt" in r and "fell back to an older one" in r
               for r in coverage.reasons)
