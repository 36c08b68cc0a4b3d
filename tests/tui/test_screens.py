"""Pilot tests for the asset, help and command-log screens, sorting, the
command palette, and read-only mode."""

from __future__ import annotations

import pytest
from pilot_helpers import AppFactory, plain, settle, wait_for
from textual.command import CommandPalette
from textual.widgets import Input, Static, TextArea

from dr_console import commandlog
from dr_console.model import Snapshot
from dr_console.tui.app import DrConsoleApp
from dr_console.tui.keys import screen_keys
from dr_console.tui.screens.asset import AssetScreen
from dr_console.tui.screens.commandlog import CommandLogScreen
from dr_console.tui.screens.help import HelpScreen
from dr_console.tui.screens.inventory import InventoryScreen
from dr_console.tui.widgets.header import SiteHeader
from dr_console.tui.widgets.inventory_table import InventoryTable

SIZE = (120, 36)
NOVA = "galera-ctl:database:nova"


def names(app: DrConsoleApp) -> list[str]:
    table = app.screen.query_one(InventoryTable)
    return [table.cell_text(key, "name") for key in table.asset_ids]


def asset_text(app: DrConsoleApp) -> str:
    return plain(app.screen.query_one("#asset-body", Static).content)


def footer_actions(app: DrConsoleApp) -> set[str]:
    return {active.binding.action for active in app.screen.active_bindings.values()}


async def open_asset(pilot, asset_id: str) -> None:  # type: ignore[no-untyped-def]
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, InventoryScreen)
    assert screen.select_asset(asset_id)
    await pilot.pause()
    pilot.app.open_asset(asset_id)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, AssetScreen))
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


# -- sort -------------------------------------------------------------------


async def test_s_cycles_the_sort_status_class_name(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        count = app.screen.query_one("#match-count", Static)
        assert "sort: status" in str(count.content)
        assert names(app)[0] == "nova"

        await pilot.press("s")
        await pilot.pause()
        assert "sort: class" in str(count.content)
        # Grouped in restore order: boot infra first, worst first within it.
        assert names(app)[:3] == ["boot-infra.git", "ntp-01", "pxe-01"]
        assert names(app)[3] == "nova"  # metadata next, CRITICAL first
        assert names(app)[-2:] == ["legacy-ftp-vol", "tmp-import"]  # unclassified last

        await pilot.press("s")
        await pilot.pause()
        assert "sort: name" in str(count.content)
        assert names(app) == sorted(names(app), key=str.casefold)

        await pilot.press("s")
        await pilot.pause()
        assert "sort: status" in str(count.content)
        assert names(app)[0] == "nova"


async def test_sort_keeps_the_highlighted_asset_and_the_filter(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, InventoryScreen)
        screen.query_one("#filter", Input).value = "class:payload"
        await pilot.pause()
        screen.select_asset("minio-dr:bucket:media-assets")
        await pilot.press("s", "s")
        await settle(pilot)
        assert names(app) == ["analytics-scratch", "cust-data-0042", "media-assets", "orders-db-data"]
        assert screen.query_one(InventoryTable).highlighted_asset_id == "minio-dr:bucket:media-assets"


async def test_orphans_and_unreachable_sources_have_their_own_rows(sample: Snapshot) -> None:
    from dataclasses import replace

    from sampledata import SAMPLE_NOW

    from dr_console.model import AssetClass, Classification

    nova = next(c for c in sample.coverages if c.asset.name == "nova")
    orphan = replace(nova, asset=replace(nova.asset, id="orphan:offsite:database:glance",
                                         name="glance"), orphan=True)
    dead = next(c for c in sample.coverages if c.asset.name == "analytics-scratch")
    placeholder = replace(dead, asset=replace(dead.asset, id="aws-us:source", name="aws-us",
                                              kind="source"),
                          classification=Classification(AssetClass.UNREACHABLE, "source could not be read"))
    data = replace(sample, coverages=(*sample.coverages, placeholder), orphans=(orphan,))
    app = DrConsoleApp("lab-eu1", lambda: data, lambda: data, clock=lambda: SAMPLE_NOW)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "glance" not in names(app)  # an orphan is not an asset: not listed by default
        header = plain(app.screen.query_one(SiteHeader).render())
        assert "1 orphan (/status:orphan)" in header
        screen = app.screen
        assert isinstance(screen, InventoryScreen)
        screen.query_one("#filter", Input).value = "class:unclassified"
        await settle(pilot)
        assert "aws-us" not in names(app)  # an outage is not a policy gap
        screen.query_one("#filter", Input).value = "class:unreachable"
        await settle(pilot)
        assert names(app) == ["aws-us"]
        screen.query_one("#filter", Input).value = "status:orphan"
        await settle(pilot)
        assert names(app) == ["glance"]
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, AssetScreen))
        body = plain(app.screen.query_one("#asset-body", Static).content)
        assert "no longer in the inventory" not in body and "dr-console run metadata-db --db glance" in body


# -- asset screen -------------------------------------------------------------


async def test_asset_screen_shows_ladder_rule_rpo_and_runbooks(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_asset(pilot, NOVA)
        text = asset_text(app)
        assert "site rule 'service-dbs' (site.yaml:41): name in list" in text
        assert "RPO        24h" in text
        assert "last good  4d ago (sql-dump, 2024-11-19 09:03 UTC)  older than RPO" in text
        # Every copy with its ladder; the failed checksum shows as ✗.
        assert "✓ present → ✗ size+checksum → ✓ complete → ? drilled → ? smoke-tested" in text
        assert "✓ present → ✓ size+checksum → ✓ complete → ? drilled → ? smoke-tested" in text
        assert "sha256 differs from manifest" in text
        # The runbook that applies, its command, and its plan.
        assert "restore metadata database" in text
        assert "$ dr-console run metadata-db --db nova --server galera-ctl" in text
        assert "1. Choose the copy" in text
        assert "4. Swap it in as nova  ⚠ destructive: type 'nova' to confirm" in text
        assert "read-only: start dr-console with --write" in text


async def test_asset_screen_ladder_for_a_drilled_platform_backup(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_asset(pilot, "os-prod:volume:0042")
        text = asset_text(app)
        assert "✓ present → ✓ platform ok → ? complete → ✓ drilled → ? smoke-tested" in text
        assert "reattach payload volume" in text
        assert "$ dr-console run payload-volume --volume 0042 --cloud os-prod" in text
        assert "plan: runbook 'payload-volume' is not written yet" in text


@pytest.mark.parametrize(
    ("asset_id", "title", "command"),
    [
        ("boot-hosts:host:pxe-01", "bootstrap boot infrastructure",
         "dr-console run boot-infra --host pxe-01"),
        ("os-prod:server:a1b2", "redeploy from automation", "none: rebuild it with the pipeline"),
        ("os-prod:volume:77aa", "classify it first", "dr-console inventory --class unclassified"),
    ],
)
async def test_runbooks_by_class(make_app: AppFactory, asset_id: str, title: str, command: str) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_asset(pilot, asset_id)
        text = asset_text(app)
        assert title in text
        assert command in text


async def test_y_copies_the_command_through_osc52(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_asset(pilot, NOVA)
        await pilot.press("y")
        await pilot.pause()
        assert app.clipboard == "dr-console run metadata-db --db nova --server galera-ctl"


async def test_asset_screen_follows_a_refresh_that_drops_the_asset(
    make_app: AppFactory, sample: Snapshot, newer_snapshot: Snapshot
) -> None:
    results = iter([sample, newer_snapshot])
    app = make_app(refresh=lambda: next(results))
    async with app.run_test(size=SIZE) as pilot:
        await open_asset(pilot, "os-prod:volume:0042")
        await pilot.press("r")
        await settle(pilot)
        assert "is no longer in the inventory" in asset_text(app)
        assert any("Refreshed" in (n.title or "") for n in app._notifications)


# -- read-only ----------------------------------------------------------------


async def test_read_only_never_offers_a_write_action(make_app: AppFactory) -> None:
    app = make_app()
    started: list[str] = []
    app.start_runbook = lambda remedy: started.append(remedy.title)  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await open_asset(pilot, NOVA)
        assert "READ-ONLY" in plain(app.screen.query_one(SiteHeader).content)
        assert "run_runbook" not in footer_actions(app)
        assert all(k.action != "run_runbook" for k in screen_keys(app.screen))
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Runbook" not in titles
        # Not by key, not by action name either.
        await pilot.press("R")
        await app.screen.run_action("run_runbook")
        await pilot.pause()
        assert started == []


async def test_write_mode_offers_the_runbook(make_app: AppFactory) -> None:
    app = make_app(write=True)
    started: list[str] = []
    app.start_runbook = lambda remedy: started.append(remedy.title)  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await open_asset(pilot, NOVA)
        assert "WRITE" in plain(app.screen.query_one(SiteHeader).content)
        assert "run_runbook" in footer_actions(app)
        assert "Runbook" in [c.title for c in app.get_system_commands(app.screen)]
        assert "read-only" not in asset_text(app)
        await pilot.press("R")
        await pilot.pause()
        assert started == ["restore metadata database"]


async def test_write_mode_has_nothing_to_run_for_a_reproducible_asset(make_app: AppFactory) -> None:
    app = make_app(write=True)
    async with app.run_test(size=SIZE) as pilot:
        await open_asset(pilot, "os-prod:server:a1b2")
        assert "run_runbook" not in footer_actions(app)


# -- help and palette ---------------------------------------------------------


async def test_help_lists_every_binding_of_the_screen(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        described = {k.description for k in help_screen.keys}
        for binding in [*InventoryScreen.BINDINGS, *DrConsoleApp.BINDINGS]:
            if binding.key == "enter":  # type: ignore[union-attr]
                continue  # the focused table's enter ("Details") wins, as it does for the key
            assert binding.description in described, binding  # type: ignore[union-attr]
        # The focused table's own keys are there too (generated, not written).
        assert "Details" in described
        text = plain(help_screen.query_one("#help-body", Static).content)
        assert "Command log" in text and "Sort" in text
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, InventoryScreen)


async def test_help_on_the_asset_screen_lists_its_keys(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_asset(pilot, NOVA)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        described = {k.description for k in app.screen.keys}
        assert {"Back", "Copy cmd", "Refresh", "Help"} <= described
        assert "Runbook" not in described  # read-only


async def test_palette_lists_every_action(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for expected in ("Filter", "Sort", "Refresh", "Command log", "Help", "Quit", "Details"):
            assert expected in titles


async def test_palette_runs_an_action(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"command log")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandLogScreen))


# -- command log ----------------------------------------------------------------


async def test_command_log_shows_entries_newest_last_and_live(
    make_app: AppFactory, recorded_commands: None
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("L")
        await pilot.pause()
        assert isinstance(app.screen, CommandLogScreen)
        lines = app.screen.query_one(TextArea).text.splitlines()
        assert lines[0].endswith("GET /v3")
        assert lines[-1].endswith("ec2 DescribeSnapshots POST /")
        assert "ssh      backup@10.0.1.2:22" in "\n".join(lines)
        # A command run while the screen is open appears at the end.
        commandlog.record("sql", "10.0.0.11:3306", "SHOW DATABASES")
        await wait_for(pilot, lambda: app.screen.query_one(TextArea).text.endswith("SHOW DATABASES"))
        await pilot.press("y")
        await pilot.pause()
        assert app.clipboard.endswith("SHOW DATABASES")
        assert app.clipboard.count("\n") == len(lines)


async def test_command_log_never_shows_a_secret(make_app: AppFactory, recorded_commands: None) -> None:
    secret = "Hunter2-s3cr3t"
    commandlog.record("ssh", "root@db:22", f"mysql -u root -p{secret} -e 'select 1'")
    commandlog.record("api", "keystone:5000", f"POST /v3/auth/tokens password={secret}")
    commandlog.record("api", "keystone:5000", f"GET /v3 X-Auth-Token: {secret}")
    commandlog.sql("db:3306", f"CREATE USER x IDENTIFIED BY '{secret}'")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("L")
        await pilot.pause()
        text = app.screen.query_one(TextArea).text
        assert "mysql -u root -p***" in text
        assert "CREATE USER" in text
        assert secret not in text
        await pilot.press("y")
        assert secret not in app.clipboard


async def test_no_color_is_respected(make_app: AppFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    from textual.filter import Monochrome, NoColor

    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.no_color
        assert any(isinstance(f, NoColor | Monochrome) for f in app._filters)


async def test_tab_leaves_the_table_for_the_preview(make_app: AppFactory) -> None:
    from dr_console.tui.widgets.detail import AssetDetail

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.screen.query_one(InventoryTable).rows_have_focus
        await pilot.press("tab")
        await pilot.pause()
        assert app.focused is app.screen.query_one(AssetDetail)
