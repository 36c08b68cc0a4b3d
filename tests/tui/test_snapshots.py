"""SVG snapshot tests at the sizes operators actually have: 80x24 (a bare
SSH session) and 120x36, plus a wide terminal for the side-by-side layout.

The clock and the data are fixed (tests/sampledata.py), so every age in
the pictures is stable. Update with `pytest tests/tui --snapshot-update` and
look at the SVGs before committing them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from pilot_helpers import AppFactory, enter_filter, settle
from textual.pilot import Pilot

from dr_console.errors import ProviderError
from dr_console.model import Snapshot
from dr_console.tui.screens.inventory import InventoryScreen

SnapCompare = Callable[..., bool]
SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 36), id="120x36")]


async def _settled(pilot: Pilot[None]) -> None:
    await settle(pilot)


def _select(asset_id: str) -> Callable[[Pilot[None]], object]:
    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, InventoryScreen)
        assert screen.select_asset(asset_id)
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_inventory(snap_compare: SnapCompare, make_app: AppFactory, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=_settled)


@pytest.mark.parametrize("size", SIZES)
def test_highlighted_asset_in_the_split_view(
    snap_compare: SnapCompare, make_app: AppFactory, size: tuple[int, int]
) -> None:
    assert snap_compare(
        make_app(), terminal_size=size, run_before=_select("minio-dr:bucket:media-assets")
    )


@pytest.mark.parametrize("size", SIZES)
def test_asset_screen(snap_compare: SnapCompare, make_app: AppFactory, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await _select("galera-ctl:database:nova")(pilot)
        await pilot.press("enter")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_asset_screen_scrolled_to_the_runbooks_in_write_mode(
    snap_compare: SnapCompare, make_app: AppFactory, size: tuple[int, int]
) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await _select("galera-ctl:database:nova")(pilot)
        await pilot.press("enter")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("end")
        await pilot.pause()

    assert snap_compare(make_app(write=True), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_sorted_by_class(snap_compare: SnapCompare, make_app: AppFactory, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=_settled, press=["s"])


@pytest.mark.parametrize("size", SIZES)
def test_help_screen(snap_compare: SnapCompare, make_app: AppFactory, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=_settled, press=["question_mark"])


@pytest.mark.parametrize("size", SIZES)
def test_command_log(
    snap_compare: SnapCompare, make_app: AppFactory, recorded_commands: None, size: tuple[int, int]
) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=_settled, press=["L"])


@pytest.mark.parametrize("size", SIZES)
def test_filtered_by_class(
    snap_compare: SnapCompare, make_app: AppFactory, size: tuple[int, int]
) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await enter_filter(pilot, "class:metadata")
        # enter hands focus back to the table: no blinking input cursor.
        await pilot.press("enter")

    assert snap_compare(make_app(mode="DRILL"), terminal_size=size, run_before=run_before)


def test_wide_terminal_puts_the_detail_beside_the_table(
    snap_compare: SnapCompare, make_app: AppFactory
) -> None:
    assert snap_compare(
        make_app(), terminal_size=(180, 40), run_before=_select("galera-ctl:database:keystone")
    )


@pytest.fixture
def held() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def test_no_data_yet(
    snap_compare: SnapCompare, make_app: AppFactory, sample: Snapshot, held: threading.Event
) -> None:
    def never_in_time() -> Snapshot:
        held.wait(30)
        return sample

    async def run_before(pilot: Pilot[None]) -> None:
        await pilot.pause()

    app = make_app(load_cached=lambda: None, refresh=never_in_time)
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_refresh_failed_keeps_the_old_data(
    snap_compare: SnapCompare, make_app: AppFactory
) -> None:
    def broken() -> Snapshot:
        raise ProviderError("cloud 'os-prod': keystone unreachable (connection refused)")

    assert snap_compare(make_app(refresh=broken), terminal_size=(120, 36), run_before=_settled)
