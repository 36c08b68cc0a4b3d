"""Pilot tests: what an operator does, and what the screen must then say."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from pilot_helpers import AppFactory, enter_filter, plain, settle, wait_for
from textual.widgets import Input, Static

from dr_console.errors import ProviderError
from dr_console.model import Snapshot
from dr_console.tui.app import DrConsoleApp
from dr_console.tui.screens.asset import AssetScreen
from dr_console.tui.screens.inventory import InventoryScreen
from dr_console.tui.widgets.detail import AssetDetail
from dr_console.tui.widgets.header import SiteHeader
from dr_console.tui.widgets.inventory_table import InventoryTable

SIZE = (120, 36)


def table(app: DrConsoleApp) -> InventoryTable:
    return app.screen.query_one(InventoryTable)


def header_text(app: DrConsoleApp) -> str:
    return plain(app.screen.query_one(SiteHeader).content)


def detail_text(app: DrConsoleApp) -> str:
    body = app.screen.query_one(AssetDetail).query_one("#detail-body", Static)
    return plain(body.content)


def row_names(app: DrConsoleApp) -> list[str]:
    t = table(app)
    return [t.cell_text(key, "name") for key in t.asset_ids]


# -- first screen, cache and refresh -----------------------------------------


async def test_cache_is_shown_while_the_refresh_is_still_running(
    make_app: AppFactory, sample: Snapshot, gate: threading.Event
) -> None:
    def slow_refresh() -> Snapshot:
        gate.wait(10)
        return sample

    app = make_app(refresh=slow_refresh)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: table(app).row_count == len(sample.coverages))
        assert app.refreshing
        text = header_text(app)
        assert "data from 12:03:41, 2 min ago" in text
        assert "refreshing…" in text
        gate.set()
        await settle(pilot)
        assert not app.refreshing
        assert "refreshing" not in header_text(app)


async def test_header_shows_site_mode_and_counts(make_app: AppFactory) -> None:
    app = make_app(mode="drill")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = header_text(app)
        assert "lab-eu1" in text
        assert "DRILL" in text
        for expected in ("6 OK", "5 WARNING", "2 CRITICAL", "2 UNKNOWN"):
            assert expected in text


def test_unknown_mode_is_refused(make_app: AppFactory) -> None:
    with pytest.raises(ValueError, match="LIVE, DRILL"):
        make_app(mode="prod")


async def test_no_cache_says_so_until_the_first_refresh(
    make_app: AppFactory, sample: Snapshot, gate: threading.Event
) -> None:
    def slow_refresh() -> Snapshot:
        gate.wait(10)
        return sample

    app = make_app(load_cached=lambda: None, refresh=slow_refresh)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert table(app).row_count == 0
        assert "no data yet — refreshing…" in header_text(app)
        assert "no data yet" in detail_text(app)
        gate.set()
        await settle(pilot)
        assert table(app).row_count == len(sample.coverages)
        assert "no data yet" not in header_text(app)


async def test_refresh_replaces_the_data(
    make_app: AppFactory, sample: Snapshot, newer_snapshot: Snapshot
) -> None:
    results: Iterator[Snapshot] = iter([sample, newer_snapshot])
    app = make_app(refresh=lambda: next(results))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert table(app).row_count == len(sample.coverages)
        await pilot.press("r")
        await settle(pilot)
        assert app.snapshot is newer_snapshot
        assert sorted(row_names(app)) == ["billing-db", "gnocchi", "keystone", "nova"]
        assert "data from 12:04:41, 1 min ago" in header_text(app)


async def test_failed_refresh_keeps_old_data_and_shows_the_error(
    make_app: AppFactory, sample: Snapshot
) -> None:
    def broken() -> Snapshot:
        raise ProviderError("cloud 'os-prod' unreachable: connection refused")

    app = make_app(refresh=broken)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.snapshot is sample
        assert table(app).row_count == len(sample.coverages)
        assert not app.refreshing
        text = header_text(app)
        assert "refresh failed, showing older data" in text
        assert "cloud 'os-prod' unreachable: connection refused" in text
        toasts = [str(n.message) for n in app._notifications]
        assert any("cloud 'os-prod' unreachable" in t for t in toasts)


async def test_a_later_successful_refresh_clears_the_error(
    make_app: AppFactory, sample: Snapshot
) -> None:
    calls = {"n": 0}

    def flaky() -> Snapshot:
        calls["n"] += 1
        if calls["n"] == 1:
            raise TimeoutError("timed out")
        return sample

    app = make_app(refresh=flaky)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.load_error == "TimeoutError: timed out"
        await pilot.press("r")
        await settle(pilot)
        assert app.load_error is None
        assert "refresh failed" not in header_text(app)


async def test_r_while_refreshing_does_not_start_a_second_gather(
    make_app: AppFactory, sample: Snapshot, gate: threading.Event
) -> None:
    calls = {"n": 0}

    def slow_refresh() -> Snapshot:
        calls["n"] += 1
        gate.wait(10)
        return sample

    app = make_app(refresh=slow_refresh)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: calls["n"] == 1)
        await pilot.press("r")
        await pilot.pause()
        gate.set()
        await settle(pilot)
        assert calls["n"] == 1


async def test_unreadable_cache_warns_and_the_refresh_still_lands(
    make_app: AppFactory, sample: Snapshot
) -> None:
    def corrupt() -> Snapshot | None:
        raise ValueError("cache.json: Expecting value: line 1 column 1")

    app = make_app(load_cached=corrupt)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.snapshot is sample
        assert any("Cached data unreadable" in str(n.message) for n in app._notifications)


async def test_a_slow_cache_never_overwrites_fresher_data(
    make_app: AppFactory, sample: Snapshot, newer_snapshot: Snapshot
) -> None:
    released = threading.Event()

    def slow_cache() -> Snapshot | None:
        released.wait(10)
        return sample  # older than what the refresh returns

    app = make_app(load_cached=slow_cache, refresh=lambda: newer_snapshot)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.snapshot is newer_snapshot)
        released.set()
        await settle(pilot)
        assert app.snapshot is newer_snapshot


async def test_quit_does_not_wait_for_a_hung_backend(
    make_app: AppFactory, gate: threading.Event
) -> None:
    def hung() -> Snapshot:
        gate.wait(30)
        raise AssertionError("never returns in time")

    app = make_app(refresh=hung)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.refreshing
        await pilot.press("q")
    # Reaching here at all means the worker let go of the blocked call.
    assert app.return_code == 0


# -- rows, filter, detail ------------------------------------------------------


async def test_rows_are_worst_first_then_class_then_name(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert row_names(app)[:5] == [
            "nova",  # CRITICAL metadata
            "orders-db-data",  # CRITICAL payload
            "billing-db",  # UNKNOWN metadata
            "analytics-scratch",  # UNKNOWN payload
            "boot-infra.git",  # WARNING boot-infra
        ]
        assert row_names(app)[-2:] == ["ci-runner-7", "web-01"]  # OK reproducible


async def test_typing_in_the_filter_narrows_the_rows(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        assert app.focused is app.screen.query_one("#filter", Input)
        await pilot.press(*"mirror")
        await pilot.pause()
        assert row_names(app) == ["media-assets"]  # matched by its reason
        assert "media-assets" in detail_text(app)


async def test_class_prefix_filter(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await enter_filter(pilot, "class:metadata")
        assert sorted(row_names(app)) == ["billing-db", "gnocchi", "keystone", "nova"]


async def test_prefixes_combine_and_status_is_case_insensitive(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await enter_filter(pilot, "STATUS:Unknown class:pay")
        assert row_names(app) == ["analytics-scratch"]


async def test_no_match_explains_itself_and_escape_clears(
    make_app: AppFactory, sample: Snapshot
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await enter_filter(pilot, "zzz")
        assert table(app).row_count == 0
        assert "no asset matches 'zzz'" in detail_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.query_one("#filter", Input).value == ""
        assert table(app).row_count == len(sample.coverages)
        assert table(app).rows_have_focus


async def test_keys_typed_in_the_filter_are_text_not_commands(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", "q", "r")
        await pilot.pause()
        assert app.is_running
        assert app.screen.query_one("#filter", Input).value == "qr"
        assert not app.refreshing


async def test_highlighting_a_row_updates_the_detail(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "galera-ctl:database:nova" in detail_text(app)
        await pilot.press("down")
        await pilot.pause()
        text = detail_text(app)
        assert "aws-eu:volume:vol-0abc" in text
        assert "site rule 'db-data' (site.yaml:76): name matches *-db-data" in text
        assert "RPO        12h" in text
        assert "last good  none" in text
        assert "no good copy: the only snapshot is in state error" in text
        assert "RPO 12h exceeded" in text  # every reason, not only the first
        assert "ebs snap-0f1e2d3c4b5a69788 (eu-west-1)" in text
        assert "snapshot state: error" in text


async def test_detail_lists_every_copy_and_marks_the_last_good(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, InventoryScreen)
        assert screen.select_asset("minio-dr:bucket:media-assets")
        await pilot.pause()
        text = detail_text(app)
        assert "copies (2)" in text
        assert "★ bucket-mirror (last good) · export · 2024-11-22 06:03 UTC (30h ago)" in text
        assert "✗ bucket-mirror · export · 2024-11-23 06:03 UTC (6h ago)" in text

        # Newest first: the failed latest copy, then the older good one.
        assert text.index("✗ bucket-mirror") < text.index("★ bucket-mirror")
        assert "media-assets/2024-11-23/  76.0 GiB" in text
        assert "✓ present → ? size+checksum → ✗ complete → ? drilled → ? smoke-tested" in text
        assert "1 204 of 98 312 objects missing" in text
        assert "older than RPO" in text


async def test_highlight_survives_a_refresh(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, InventoryScreen)
        screen.select_asset("os-prod:volume:0042")
        await pilot.press("r")
        await settle(pilot)
        assert table(app).highlighted_asset_id == "os-prod:volume:0042"


async def test_narrow_terminal_keeps_last_good_and_reason_columns(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert table(app).column_keys == ("status", "class", "name", "last_good", "reason")
        # No horizontal scrolling needed to read a row.
        rows = table(app).rows_table
        assert rows is not None
        assert rows.virtual_size.width <= rows.size.width


async def test_enter_opens_the_asset_screen_and_escape_comes_back(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        inventory = app.screen
        assert isinstance(inventory, InventoryScreen)
        await pilot.press("down", "enter")
        await pilot.pause()
        assert isinstance(app.screen, AssetScreen)
        assert app.screen.asset_id == "aws-eu:volume:vol-0abc"
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is inventory
        assert table(app).rows_have_focus
        assert table(app).highlighted_asset_id == "aws-eu:volume:vol-0abc"
