"""Write the README screenshots: screenshots/inventory.svg and
screenshots/detail.svg, at 120x36.

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

from dr_console.tui.app import DrConsoleApp, build_for_site
from dr_console.tui.screens.inventory import InventoryScreen

SIZE = (120, 36)
ROOT = Path(__file__).resolve().parent.parent
# The sample's most telling asset: an incomplete latest copy, an older good one.
SAMPLE_DETAIL_ASSET = "minio-dr:bucket:media-assets"


async def capture(
    app: DrConsoleApp, out_dir: Path, detail_asset: str | None, timeout: float
) -> list[Path]:
    written: list[Path] = []
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

        written.append(Path(app.save_screenshot("inventory.svg", path=str(out_dir))))

        if detail_asset is not None:
            screen.select_asset(detail_asset)
        await pilot.press("enter")
        await pilot.pause()
        written.append(Path(app.save_screenshot("detail.svg", path=str(out_dir))))
    return written


def sample_app() -> DrConsoleApp:
    from dr_console.tui.sample import SAMPLE_NOW, SAMPLE_SITE, sample_snapshot

    snapshot = sample_snapshot()
    return DrConsoleApp(
        SAMPLE_SITE, lambda: snapshot, lambda: snapshot, clock=lambda: SAMPLE_NOW
    )


def site_app(site_path: Path, mode: str) -> DrConsoleApp:
    site_name, load_cached, refresh = build_for_site(site_path)
    return DrConsoleApp(site_name, load_cached, refresh, mode=mode)


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
