"""The pure presentation functions: no app, no event loop."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from dr_console.model import AssetClass, Snapshot, Status
from dr_console.present import (
    age_text,
    class_text,
    clock_time,
    duration_text,
    filter_coverages,
    filter_index,
    parse_filter,
    size_text,
    sorted_coverages,
    status_text,
)
from dr_console.tui.widgets.inventory_table import COMPACT, FULL, layout_columns

NOW = datetime(2024, 11, 23, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(seconds=5), "5s ago"),
        (timedelta(minutes=2, seconds=30), "2 min ago"),
        (timedelta(hours=5, minutes=59), "5h ago"),
        (timedelta(hours=47), "47h ago"),
        (timedelta(days=4, hours=3), "4d ago"),
        (timedelta(seconds=-30), "0s ago"),  # small skew: not worth a word
        (timedelta(minutes=-10), "in the future (clock skew?)"),
    ],
)
def test_age_text(delta: timedelta, expected: str) -> None:
    assert age_text(NOW - delta, NOW) == expected


def test_naive_times_are_taken_as_utc() -> None:
    naive = datetime(2024, 11, 23, 11, 0, 0)
    assert age_text(naive, NOW) == "1h ago"


def test_clock_time_is_in_the_clock_timezone() -> None:
    cet = timezone(timedelta(hours=1))
    assert clock_time(NOW, NOW.astimezone(cet)) == "13:00:00"


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(None, "none set"), (90 * 60, "90m"), (86400, "24h"), (7 * 86400, "7d"), (45, "45s")],
)
def test_duration_text(seconds: int | None, expected: str) -> None:
    assert duration_text(seconds) == expected


@pytest.mark.parametrize(
    ("size", "expected"),
    [(None, "size unknown"), (512, "512 B"), (18_733_120, "17.9 MiB"), (2**41, "2.0 TiB")],
)
def test_size_text(size: int | None, expected: str) -> None:
    assert size_text(size) == expected


def test_status_and_class_texts_read_without_colour() -> None:
    assert status_text(Status.CRITICAL).plain == "✗ CRITICAL"
    assert status_text(Status.UNKNOWN).plain == "? UNKNOWN"
    assert class_text(AssetClass.UNCLASSIFIED).plain == "! unclassified"
    assert class_text(AssetClass.METADATA).plain == "metadata"
    assert class_text(AssetClass.UNREACHABLE).plain == "source unreachable"


def test_orphan_rows_show_only_when_the_filter_asks_for_them(sample: Snapshot) -> None:
    from dr_console.present import index_coverages, row_status_text

    nova = next(c for c in sample.coverages if c.asset.name == "nova")
    orphan = replace(nova, asset=replace(nova.asset, id="orphan:offsite:database:nova"), orphan=True)
    rows = [*sample.coverages, orphan]
    for query in ("", "nova", "class:metadata"):
        assert orphan not in filter_coverages(rows, query), query
        assert orphan not in [i.coverage for i in filter_index(index_coverages(rows), parse_filter(query))]
    assert filter_coverages(rows, "status:orphan") == [orphan]
    assert filter_coverages(rows, "status:orph nova") == [orphan]
    assert [i.coverage for i in filter_index(index_coverages(rows), parse_filter("status:orphan"))] \
        == [orphan]
    assert row_status_text(orphan).plain == "◌ ORPHAN"


def test_sort_is_worst_first_then_restore_order_then_name(sample: Snapshot) -> None:
    ordered = sorted_coverages(sample.coverages)
    statuses = [c.status for c in ordered]
    assert statuses == sorted(
        statuses, key=[Status.CRITICAL, Status.UNKNOWN, Status.WARNING, Status.OK].index
    )
    oks = [c.asset.name for c in ordered if c.status is Status.OK]
    assert oks == ["ntp-01", "pxe-01", "keystone", "cust-data-0042", "ci-runner-7", "web-01"]


def test_filter_terms(sample: Snapshot) -> None:
    covs = sorted_coverages(sample.coverages)

    def names(query: str) -> list[str]:
        return [c.asset.name for c in filter_coverages(covs, query)]

    assert names("") == [c.asset.name for c in covs]
    assert names("NOVA") == ["nova"]
    assert names("status:crit") == ["nova", "orders-db-data"]
    assert names("class:boot") == ["boot-infra.git", "ntp-01", "pxe-01"]
    assert names("kind:bucket provider:store") == ["media-assets", "tmp-import"]
    assert names("reason:checksum") == ["nova"]
    assert names("class:") == names("")  # still typing
    # An id has colons: an unknown prefix is plain text, not a field.
    assert names("os-prod:volume:0042") == ["cust-data-0042"]
    assert names("nosuchthing") == []


def test_parse_filter_keeps_unknown_prefixes_as_text() -> None:
    assert parse_filter("class:Metadata os:x").terms == (("class", "metadata"), (None, "os:x"))


def test_layout_prefers_all_columns_when_the_reason_still_fits() -> None:
    natural = {"status": 10, "class": 14, "name": 17, "kind": 11, "source": 18,
               "last_good": 9, "reason": 60}
    keys, widths = layout_columns(natural, 118, 1)
    assert keys == FULL
    assert sum(widths.values()) + 2 * len(keys) <= 118
    keys, widths = layout_columns(natural, 78, 1)
    assert keys == COMPACT
    assert sum(widths.values()) + 2 * len(keys) <= 78


def test_layout_shrinks_long_sources_before_dropping_them() -> None:
    natural = {"status": 10, "class": 12, "name": 22, "kind": 8, "source": 23,
               "last_good": 10, "reason": 60}
    keys, widths = layout_columns(natural, 118, 1)
    assert keys == FULL
    assert widths["reason"] >= 24
    assert 15 <= widths["source"] < 23  # cut, but never below its header


def test_an_empty_snapshot_renders(sample: Snapshot) -> None:
    empty = replace(sample, coverages=())
    assert filter_coverages(sorted_coverages(empty.coverages), "nova") == []


# -- sort modes and the precomputed filter index --------------------------------


def test_sort_modes_cycle() -> None:
    from dr_console.present import SORT_MODES, next_sort_mode

    assert SORT_MODES == ("status", "class", "name")
    assert [next_sort_mode(m) for m in SORT_MODES] == ["class", "name", "status"]
    assert next_sort_mode("bogus") == "status"


@pytest.mark.parametrize(
    "query",
    ["", "nova", "class:metadata", "STATUS:unknown class:pay", "mirror", "os-prod:volume", "zzz",
     "class:", "reason:rpo", "id:galera"],
)
def test_the_index_filters_like_matches(sample: Snapshot, query: str) -> None:
    from dr_console.present import filter_index, index_coverages, parse_filter

    covs = sorted_coverages(sample.coverages)
    expected = [c.asset.id for c in filter_coverages(covs, query)]
    got = [i.coverage.asset.id for i in filter_index(index_coverages(covs), parse_filter(query))]
    assert got == expected


@pytest.mark.parametrize(
    ("new", "old", "narrower"),
    [
        ("nov", "no", True),
        ("nova x", "nova", True),
        ("class:meta", "class:m", True),
        ("class:", "class", False),  # the word became an empty field filter: matches all
        ("no", "nov", False),
        ("status:crit", "crit", False),  # a field term does not narrow free text
    ],
)
def test_narrows(new: str, old: str, narrower: bool) -> None:
    from dr_console.present import narrows, parse_filter

    assert narrows(parse_filter(new), parse_filter(old)) is narrower
