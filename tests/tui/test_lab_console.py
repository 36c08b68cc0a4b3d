"""The operator's whole path in the console, against the real lab, from the
keyboard, at 80x24: open with --write, find `nova`, see why it is metadata
and which copy is last good, run its restore, confirm by typing the name,
watch it finish, and find the run in history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pymysql
import pytest
from pilot_helpers import plain, settle, wait_for
from textual.widgets import Input, Static

from dr_console import commandlog
from dr_console.config import load_site
from dr_console.restore.checks import checksum_tables
from dr_console.runbooks.journal import iter_runs
from dr_console.schema import Site
from dr_console.tui.app import DrConsoleApp, build_for_site
from dr_console.tui.screens.asset import AssetScreen
from dr_console.tui.screens.confirm import ConfirmScreen
from dr_console.tui.screens.history import HistoryScreen
from dr_console.tui.screens.runbook import RunbookScreen
from dr_console.tui.widgets.inventory_table import InventoryTable

pytestmark = pytest.mark.lab

# nova-compute rewrites this table every few seconds: compared by name only.
VOLATILE = {"services"}


@pytest.fixture
def site_file(restore_site_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The lab's site file with the restore account; a private journal and cache."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return restore_site_file


def admin(site: Site) -> Any:
    server = site.mysql[0]
    user, secret = server.restore_credentials()
    return pymysql.connect(host=server.host, port=server.port, user=user,
                           password=secret.reveal() if secret else "", autocommit=True)


def kept_schemas(conn: Any) -> list[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA "
                    "WHERE SCHEMA_NAME LIKE 'nova\\_\\_pre\\_restore%' "
                    "OR SCHEMA_NAME LIKE 'nova\\_\\_staging%'")
        return sorted(row[0] for row in cur.fetchall())


async def test_operator_restores_nova_from_the_keyboard_at_80x24(site_file: Path) -> None:
    site = load_site(site_file)
    conn = admin(site)
    before = {t: c for t, c in checksum_tables(conn, "nova").items() if t not in VOLATILE}
    backend = build_for_site(site_file)
    app = DrConsoleApp(backend.site_name, backend.load_cached, backend.refresh, write=True,
                       load_plan=backend.load_plan, build_runbook=backend.build_runbook)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            # First screen, then the refresh worker brings the lab's inventory.
            await wait_for(pilot, lambda: app.snapshot is not None and not app.refreshing,
                           timeout=90)
            # Find nova: filter, walk down to it, open the asset screen.
            await pilot.press("slash", *"nova", "enter")
            await pilot.pause()
            table = app.screen.query_one(InventoryTable)
            for _ in range(10):
                if (table.highlighted_asset_id or "").endswith(":database:nova"):
                    break
                await pilot.press("down")
                await pilot.pause()
            assert (table.highlighted_asset_id or "").endswith(":database:nova")
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, AssetScreen))
            # Why it is metadata, and which copy is last good, on the screen.
            body = plain(app.screen.query_one("#asset-body", Static).content, width=80)
            coverage = next(c for c in app.snapshot.coverages if c.asset.name == "nova")
            assert coverage.classification.asset_class.value == "metadata"
            assert coverage.last_good is not None
            assert coverage.classification.rule.split(" (")[0] in body
            assert "last good" in body
            # Run its restore (R), then start the run.
            await pilot.press("R")
            await wait_for(pilot, lambda: isinstance(app.screen, RunbookScreen), timeout=30)
            screen = app.screen
            assert isinstance(screen, RunbookScreen)
            await wait_for(pilot, lambda: screen.phase != "loading", timeout=60)
            assert [s.title for s in screen.steps][3].startswith("Swap")
            await pilot.press("g")
            # The swap asks for the database's name; a wrong one is not enough.
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), timeout=120)
            modal = app.screen
            await pilot.press(*"nov")
            await pilot.press("enter")
            await pilot.pause()
            assert app.screen is modal
            await pilot.press("a")
            await wait_for(pilot, lambda: modal.query_one(Input).value == "nova")
            await pilot.press("enter")
            await wait_for(pilot, lambda: screen.phase == "finished", timeout=180)
            assert screen.outcome == "succeeded", screen.states
            # The result is in history.
            await pilot.press("escape")
            await pilot.press("H")
            await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))
            await settle(pilot)
        # The command log shows what the restore ran, by statement class.
        logged = {(e.kind, e.summary) for e in commandlog.entries()}
        assert {("sql", "CREATE DATABASE"), ("sql", "RENAME TABLE"), ("sql", "CHECKSUM TABLE")} <= logged
        assert not any(e.summary.startswith("INSERT") for e in commandlog.entries())
        [run] = [r for r in iter_runs() if r.runbook == "metadata-db"]
        assert run.outcome == "succeeded"
        after = {t: c for t, c in checksum_tables(conn, "nova").items() if t not in VOLATILE}
        assert set(after) == set(before)
    finally:
        with conn.cursor() as cur:
            for name in kept_schemas(conn):
                cur.execute(f"DROP DATABASE `{name}`")
        conn.close()
