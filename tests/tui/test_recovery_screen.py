"""The recovery plan screen (`P`): the whole site in order, where each item
stands (last drill, last real run), enter opens the item. Journals and a
drill's evidence report are written into a private XDG_STATE_HOME, as the
engine would leave them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pilot_helpers import AppFactory, plain, settle, wait_for
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from dr_console.tui.screens.asset import AssetScreen
from dr_console.tui.screens.recovery import RecoveryScreen

SnapCompare = Callable[..., bool]
SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 36), id="120x36")]


# Journals and locks in a private XDG_STATE_HOME (the fixture is in conftest.py).
pytestmark = pytest.mark.usefixtures("private_state")


def _run(state: Path, run_id: str, params: dict[str, Any], start: str, outcome: str | None,
         kind: str = "restore") -> None:
    folder = state / "dr-console" / "runs"
    folder.mkdir(parents=True, exist_ok=True)
    records = [{"type": "header", "ts": start, "run_id": run_id, "runbook": "metadata-db",
                "params": params, "target": f"mysql:galera-ctl/{params['db']}", "site_file": "site.yaml",
                "operator": "oncall", "host": "bastion-1", "pid": 1, "version": "0", "kind": kind}]
    if outcome is not None:
        records.append({"type": "event", "event": "RunFinished", "outcome": outcome, "seconds": 60,
                        "ts": start})
    with (folder / f"{run_id}.jsonl").open("w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in records)


def _history(state: Path) -> None:
    """keystone drilled (passed, 3m20s) and restored; nova's restore failed."""
    _run(state, "20241122T091500Z-drl001", {"db": "keystone"}, "2024-11-22T09:15:00+00:00",
         "succeeded", kind="drill")
    report = {"started": "2024-11-22T09:15:00+00:00", "verdict": "passed",
              "rto": {"measured_seconds": 200.0, "target_seconds": 900}}
    (state / "dr-console" / "runs" / "20241122T091500Z-drl001.evidence.json").write_text(json.dumps(report))
    _run(state, "20241123T110200Z-ks0001", {"db": "keystone"}, "2024-11-23T11:02:00+00:00", "succeeded")
    _run(state, "20241123T113000Z-nv0001", {"db": "nova"}, "2024-11-23T11:30:00+00:00", "failed")


async def _open(pilot: Pilot[None]) -> RecoveryScreen:
    await settle(pilot)
    await pilot.press("P")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, RecoveryScreen))
    screen = pilot.app.screen
    assert isinstance(screen, RecoveryScreen)
    await wait_for(pilot, lambda: screen.query_one(DataTable).row_count > 0)
    await pilot.pause()
    return screen


async def test_the_plan_lists_the_site_in_recovery_order_with_where_each_item_stands(
        make_app: AppFactory, private_state: Path) -> None:
    _history(private_state)
    app = make_app()  # read-only: the plan is offered anyway
    async with app.run_test(size=(140, 40)) as pilot:
        screen = await _open(pilot)
        table = screen.query_one(DataTable)
        rows = [[plain(c).strip() for c in table.get_row_at(i)] for i in range(table.row_count)]
        names = [r[1] for r in rows]
        # Boot hosts, then keystone before the other metadata databases, then payload.
        assert names[:2] == ["ntp-01", "pxe-01"]
        assert names[2:5] == ["keystone", "nova", "gnocchi"]
        assert [r[6] for r in rows] == sorted(r[6] for r in rows)  # phases never go backwards
        by_name = {r[1]: r for r in rows}
        assert by_name["keystone"][4] == "passed 1d 2h ago (3m)"
        assert by_name["keystone"][3].startswith("succeeded")
        assert by_name["nova"][4] == "never" and by_name["nova"][3].startswith("failed")
        title = plain(screen.query_one("#recovery-title", Static).content)
        assert f"{len(rows)} items in order" in title and "1 restored" in title
        assert "drilled RTO 3m for 1" in title
        await pilot.press("down", "down", "down")  # nova
        detail = plain(screen.query_one("#recovery-detail", Static).content)
        assert "4. nova" in detail and "waits for: boot infrastructure, keystone" in detail
        assert "dr-console run metadata-db --db nova" in detail
        assert "read-only" in detail
        assert "run_item" not in {b.binding.action for b in screen.active_bindings.values()}
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, AssetScreen))
        assert app.screen.asset_id == "galera-ctl:database:nova"  # type: ignore[attr-defined]


async def test_a_refresh_keeps_the_highlighted_item(make_app: AppFactory, private_state: Path) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await _open(pilot)
        await pilot.press("down", "down")
        highlighted = screen.items[screen.query_one(DataTable).cursor_row].name
        await pilot.press("r")
        await settle(pilot)
        await wait_for(pilot, lambda: not app.refreshing)
        await settle(pilot)
        assert screen.items[screen.query_one(DataTable).cursor_row].name == highlighted


@pytest.mark.parametrize("size", SIZES)
def test_recovery_screen(
    snap_compare: SnapCompare, make_app: AppFactory, private_state: Path, size: tuple[int, int]
) -> None:
    _history(private_state)

    async def run_before(pilot: Pilot[None]) -> None:
        await _open(pilot)
        await pilot.press("down", "down")

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


async def test_with_write_r_runs_the_item_and_names_what_it_waits_for(
        make_app: AppFactory, private_state: Path) -> None:
    from dr_console.tui.screens.runbook import RunbookScreen

    _history(private_state)
    app = make_app(write=True)
    async with app.run_test(size=(140, 40)) as pilot:
        await _open(pilot)
        await pilot.press("down", "down", "down")  # nova: the boot hosts were never restored
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, RunbookScreen))
        runbook_screen = app.screen
        assert isinstance(runbook_screen, RunbookScreen)
        assert runbook_screen.remedy.runbook == "metadata-db"
        assert runbook_screen.remedy.params["db"] == "nova"
        warned = [n.message for n in app._notifications if "waits for them" in n.message]
        assert warned and "ntp-01" in warned[0] and "pxe-01" in warned[0]
        assert "keystone" not in warned[0]  # its last run succeeded
