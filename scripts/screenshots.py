"""Write the README screenshots at 120x36: screenshots/inventory.svg (the
split view), detail.svg (the asset screen), runbooks.svg (its runbooks and
plan, in WRITE mode), runbook.svg (the runbook screen with that plan, shown
and never run), runbook-volume.svg (the payload-volume runbook's plan, on
a real site with a payload volume), history.svg (the journal's runs, maybe
none), recovery-plan.svg (the whole site in order, with each item's last run
and drill), sorted-by-class.svg, help.svg and command-log.svg.

    python scripts/screenshots.py                 # the sample data the tests use
    python scripts/screenshots.py --site site.yaml  # a real site (cache, then a gather)

The sample run uses a fixed clock, so the pictures only change when the UI
does. Screenshots never contain secrets: only what the screen shows."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot

from dr_console.tui.app import DrConsoleApp, build_for_site
from dr_console.tui.screens.inventory import InventoryScreen

SIZE = (120, 36)
ROOT = Path(__file__).resolve().parent.parent
# The sample's most telling asset: a failed latest dump, an older good one,
# and a runbook with a plan.
SAMPLE_DETAIL_ASSET = "galera-ctl:database:nova"


async def capture(
    app: DrConsoleApp, out_dir: Path, detail_asset: str | None, timeout: float
) -> list[Path]:
    written: list[Path] = []

    def shot(name: str) -> None:
        written.append(Path(app.save_screenshot(f"{name}.svg", path=str(out_dir))))

    async with app.run_test(size=SIZE) as pilot:
        # Wait for the refresh (a real site may take a while), but not forever:
        # a screenshot of "refreshing…" is still a true picture.
        try:
            await asyncio.wait_for(app.workers.wait_for_complete(), timeout)
        except TimeoutError:
            print(f"refresh still running after {timeout:.0f}s; capturing as is", file=sys.stderr)
        await pilot.pause()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, InventoryScreen)
        if detail_asset is None:
            detail_asset = _telling_asset(app)
        if detail_asset is not None:
            screen.select_asset(detail_asset)
            await pilot.pause()
        shot("inventory")

        await pilot.press("s")
        await pilot.pause()
        shot("sorted-by-class")
        await pilot.press("s", "s")  # back to status order
        await pilot.pause()

        await pilot.press("question_mark")
        await pilot.pause()
        shot("help")
        await pilot.press("escape")
        await pilot.pause()

        if detail_asset is not None:
            app.open_asset(detail_asset)
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            shot("detail")
            await pilot.press("end")
            await pilot.pause()
            shot("runbooks")
            await pilot.press("escape")
            await pilot.pause()
            await _runbook_shot(app, pilot, _runbook_asset(app) or detail_asset, shot, timeout)
            volume = _payload_volume(app)
            if volume is not None:
                await _runbook_shot(app, pilot, volume, shot, timeout, name="runbook-volume")

        app.action_history()
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        shot("history")
        await pilot.press("escape")
        await pilot.pause()

        await pilot.press("P")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        shot("recovery-plan")
        await pilot.press("escape")
        await pilot.pause()

        await pilot.press("L")
        await pilot.pause()
        shot("command-log")
    return written


async def _runbook_shot(
    app: DrConsoleApp, pilot: Pilot[None], asset_id: str, shot: Callable[[str], None], timeout: float,
    name: str = "runbook",
) -> None:
    """The runbook screen with its plan built. Only keys that cannot start a
    run are pressed here (n, escape): never enter or g."""
    from dr_console.remedies import remedies
    from dr_console.tui.screens.resume import ResumeScreen
    from dr_console.tui.screens.runbook import RunbookScreen

    snapshot = app.snapshot
    coverage = next((c for c in snapshot.coverages if c.asset.id == asset_id), None) if snapshot else None
    remedy = next((r for r in remedies(coverage) if r.runbook), None) if coverage else None
    if remedy is None:
        print(f"no runbook for {asset_id}: no runbook.svg", file=sys.stderr)
        return
    app.start_runbook(remedy)
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, RunbookScreen)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while screen.phase == "loading" and loop.time() < deadline:
        await pilot.pause(0.05)
    if isinstance(app.screen, ResumeScreen):
        await pilot.press("n")  # "start new": it only chooses; nothing runs
        await pilot.pause()
    assert screen.phase in ("ready", "broken"), screen.phase  # never running
    shot(name)
    await pilot.press("escape")
    await pilot.pause()


def _runbook_asset(app: DrConsoleApp) -> str | None:
    """The lab's `nova` database when there is one: the README's example."""
    snapshot = app.snapshot
    if snapshot is None:
        return None
    return next((c.asset.id for c in snapshot.coverages
                 if c.asset.name == "nova" and c.asset.kind == "database"), None)


def _payload_volume(app: DrConsoleApp) -> str | None:
    """The lab's `app-data` volume when there is one: a payload-volume runbook."""
    snapshot = app.snapshot
    if snapshot is None:
        return None
    return next((c.asset.id for c in snapshot.coverages
                 if c.asset.name == "app-data" and c.asset.kind == "volume"), None)


def _telling_asset(app: DrConsoleApp) -> str | None:
    """On a real site: the worst metadata database (it has a runbook and a
    plan to show), else the first row."""
    snapshot = app.snapshot
    if snapshot is None or not snapshot.coverages:
        return None
    from dr_console.present import sorted_coverages

    ordered = sorted_coverages(snapshot.coverages)
    for cov in ordered:
        if cov.classification.asset_class.value == "metadata" and cov.asset.kind == "database":
            return cov.asset.id
    return ordered[0].asset.id


def sample_app() -> DrConsoleApp:
    from dr_console import commandlog
    sys.path.insert(0, str(ROOT / "tests"))  # the sample data the tests render
    from sampledata import SAMPLE_NOW, SAMPLE_SITE, sample_commands, sample_plan, sample_snapshot

    snapshot = sample_snapshot()
    for at, kind, target, summary in sample_commands():
        commandlog.LOG.record(kind, target, summary, at=at)
    return DrConsoleApp(
        SAMPLE_SITE, lambda: snapshot, lambda: snapshot, clock=lambda: SAMPLE_NOW,
        write=True, load_plan=sample_plan,
    )


def site_app(site_path: Path, mode: str) -> DrConsoleApp:
    backend = build_for_site(site_path)
    # WRITE so the pictures show every key; nothing is run by taking them.
    return DrConsoleApp(backend.site_name, backend.load_cached, backend.refresh, mode=mode,
                        write=True, load_plan=backend.load_plan, build_runbook=backend.build_runbook)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, help="site file (default: the sample data)")
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    parser.add_argument("--mode", default="LIVE", choices=["LIVE", "DRILL"])
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for data")
    args = parser.parse_args(argv)

    make: Callable[[], DrConsoleApp]
    if args.site is None:
        make, detail_asset = sample_app, SAMPLE_DETAIL_ASSET
    else:
        make, detail_asset = (lambda: site_app(args.site, args.mode)), None

    args.out.mkdir(parents=True, exist_ok=True)
    written = asyncio.run(capture(make(), args.out, detail_asset, args.timeout))
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
