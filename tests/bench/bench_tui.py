"""TUI benchmarks, each figure beside its baseline in one run.

1. 20,000 assets: time to first paint of the inventory table, and filter
   keystroke latency (key press -> table repainted with the new rows), for
   Textual's DataTable (the widget we had: rows added one by one) against
   textual-fastdatatable (what the console uses: rows rendered on demand).
   Both sit in the same small harness app (an Input and the table, the same
   precomputed filter index), so only the table differs; the real console is
   measured too.
2. Start-up to interactive from the cache: the whole `dr-console --site …
   tui` process under a pty, until the first frame shows the site name and
   until it shows the cached inventory; baseline: `python -c "import
   textual"` as a whole process.

Run: `python tests/bench/bench_tui.py` (part 2 needs a site: the lab's by
default, `--site` otherwise; `--skip-startup` runs part 1 only).
Not collected by pytest (no test_ prefix).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import events, on
from textual.app import App, ComposeResult
from textual.coordinate import Coordinate
from textual.widget import Widget
from textual.widgets import DataTable, Input

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' sample data

from sampledata import SAMPLE_NOW, sample_snapshot

from dr_console.model import Coverage, Snapshot
from dr_console.present import filter_index, index_coverages, parse_filter, sorted_coverages
from dr_console.tui.widgets import inventory_table
from dr_console.tui.widgets.inventory_table import (
    COLUMNS,
    InventoryTable,
    _fit,
    layout_columns,
    reason_cell,
    row_cells,
)

REPO = Path(__file__).resolve().parents[2]
ASSETS = 20_000
QUERY = "nova-1"  # typed one key at a time, then erased: narrows, then widens


def big_snapshot(n: int = ASSETS) -> Snapshot:
    """The sample's assets, repeated with unique ids and names."""
    base = sample_snapshot()
    covs: list[Coverage] = []
    i = 0
    while len(covs) < n:
        for cov in base.coverages:
            asset = replace(cov.asset, id=f"{cov.asset.id}-{i}", name=f"{cov.asset.name}-{i}")
            covs.append(replace(cov, asset=asset))
            i += 1
            if len(covs) == n:
                break
    return replace(base, coverages=tuple(covs))


# ---------------------------------------------------------------------------
# The baseline: the DataTable-based inventory table the console had before.


class LegacyTable(DataTable[Text]):
    def __init__(self) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True)
        self._coverages: list[Coverage] = []
        self._now: datetime | None = None

    def show(self, coverages: Iterable[Coverage], now: datetime) -> None:
        self._coverages = list(coverages)
        self._now = now
        self._rebuild()

    def on_resize(self, event: events.Resize) -> None:
        if self._now is not None:
            self.call_after_refresh(self._rebuild)

    def _rebuild(self) -> None:
        if self._now is None:
            return
        rows = [(cov, row_cells(cov, self._now)) for cov in self._coverages]
        natural = {key: max([len(label), *(cells[key].cell_len for _, cells in rows)])
                   for key, label in COLUMNS}
        keys, widths = layout_columns(natural, self.size.width - 2, self.cell_padding)
        self.clear(columns=True)
        for key in keys:
            self.add_column(dict(COLUMNS)[key], key=key, width=widths[key])
        for cov, cells in rows:
            cells["reason"] = reason_cell(cov, widths["reason"])
            self.add_row(*(_fit(cells[key], widths[key]) for key in keys), key=cov.asset.id)
        if self.row_count:
            self.move_cursor(row=0)

    def first_name(self) -> str | None:
        if not self.row_count:
            return None
        return str(self.get_cell_at(Coordinate(0, 2)))


# Paint probes: the time of the latest render of a line of table rows.
PAINTED: dict[str, float] = {}


def _probe(cls: type[Widget], name: str) -> None:
    original: Callable[..., Any] = cls.render_line  # type: ignore[attr-defined]

    def render_line(self: Any, y: int) -> Any:
        strip = original(self, y)
        if self.row_count:
            PAINTED[name] = time.perf_counter()
        return strip

    cls.render_line = render_line  # type: ignore[attr-defined, method-assign]


_probe(LegacyTable, "datatable")
_probe(inventory_table._Rows, "fastdatatable")


class Harness(App[None]):
    """An Input and a table, filtered from the same precomputed index."""

    CSS = "Input { height: 1; border: none; padding: 0; } #t { height: 1fr; }"
    BINDINGS: ClassVar = []

    def __init__(self, kind: str, snapshot: Snapshot) -> None:
        super().__init__()
        self.kind = kind
        self.all = sorted_coverages(snapshot.coverages)
        self.index = index_coverages(self.all)
        self.shown_at = 0.0

    def compose(self) -> ComposeResult:
        yield Input(id="q")
        yield LegacyTable() if self.kind == "datatable" else InventoryTable()

    def table(self) -> Any:
        return self.query_one(LegacyTable if self.kind == "datatable" else InventoryTable)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def show_all(self) -> None:
        self.shown_at = time.perf_counter()
        if self.kind == "datatable":
            self.table().show(self.all, SAMPLE_NOW)
        else:
            self.table().show(self.all, SAMPLE_NOW, universe=self.all)

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        visible = filter_index(self.index, parse_filter(event.value))
        if self.kind == "datatable":
            self.table().show([item.coverage for item in visible], SAMPLE_NOW)
        else:
            self.table().show([item.coverage for item in visible], SAMPLE_NOW, universe=self.all)


async def _wait_painted(name: str, after: float, timeout: float = 120.0) -> float:
    deadline = time.perf_counter() + timeout
    while PAINTED.get(name, 0.0) <= after:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{name}: no paint within {timeout}s")
        await asyncio.sleep(0.0005)
    return PAINTED[name] - after


async def measure_table(kind: str, snapshot: Snapshot) -> tuple[float, list[float]]:
    app = Harness(kind, snapshot)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        app.show_all()
        first_paint = await _wait_painted(kind, app.shown_at)
        await pilot.pause(0.2)  # let a resize-triggered rebuild settle
        latencies: list[float] = []
        keys = [*QUERY, *["backspace"] * len(QUERY)]
        for key in keys:
            await pilot.pause(0.05)
            before = time.perf_counter()
            await pilot.press(key)
            latencies.append(await _wait_painted(kind, before))
    return first_paint, latencies


async def measure_console(snapshot: Snapshot) -> tuple[float, list[float]]:
    """The real console's inventory screen: load to painted rows, then keys."""
    from dr_console.tui.app import DrConsoleApp

    loaded_at: list[float] = []

    def load() -> Snapshot:
        loaded_at.append(time.perf_counter())
        return snapshot

    app = DrConsoleApp("bench", load, lambda: snapshot, clock=lambda: SAMPLE_NOW)
    PAINTED.pop("fastdatatable", None)
    async with app.run_test(size=(120, 36)) as pilot:
        while not loaded_at:
            await asyncio.sleep(0.001)
        first = await _wait_painted("fastdatatable", loaded_at[0])
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        await pilot.press("slash")
        latencies: list[float] = []
        for key in [*QUERY, *["backspace"] * len(QUERY)]:
            await pilot.pause(0.05)
            before = time.perf_counter()
            await pilot.press(key)
            latencies.append(await _wait_painted("fastdatatable", before))
    return first, latencies


# ---------------------------------------------------------------------------
# Start-up under a pty.


def process_time(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def startup_under_pty(argv: list[str], env: dict[str, str], site_name: str,
                      ready_text: str) -> tuple[float, float]:
    """(seconds to the first frame naming the site, seconds to the cached
    inventory on screen), for a whole process in an 80x24 pty."""
    import pexpect

    start = time.perf_counter()
    child = pexpect.spawn(argv[0], argv[1:], env=env, dimensions=(24, 80), encoding="utf-8",
                          codec_errors="replace", timeout=30)
    try:
        child.expect_exact(site_name)
        first_frame = time.perf_counter() - start
        child.expect_exact(ready_text)
        ready = time.perf_counter() - start
        child.send("q")
        child.expect(pexpect.EOF, timeout=15)
    finally:
        child.close(force=True)
    return first_frame, ready


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:9.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--site", type=Path,
                        default=Path(os.environ.get("DR_LAB_DIR", REPO / ".lab")) / "site.yaml")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--assets", type=int, default=ASSETS)
    parser.add_argument("--skip-startup", action="store_true")
    args = parser.parse_args()

    snapshot = big_snapshot(args.assets)
    print(f"{args.assets} assets, filter typed one key at a time: {QUERY!r} then erased\n")
    # The built-in table last: the millions of objects it leaves behind slow
    # the garbage collector for whatever runs after it.
    app_first, app_keys = asyncio.run(measure_console(snapshot))
    fast_first, fast_keys = asyncio.run(measure_table("fastdatatable", snapshot))
    dt_first, dt_keys = asyncio.run(measure_table("datatable", snapshot))

    print(f"{'measure':<44}{'fastdatatable':>14}{'DataTable':>14}{'ratio':>9}")
    rows = [
        ("first paint of the table", fast_first, dt_first),
        ("filter keystroke latency, median", statistics.median(fast_keys), statistics.median(dt_keys)),
        ("filter keystroke latency, worst", max(fast_keys), max(dt_keys)),
    ]
    for label, ours, theirs in rows:
        print(f"{label:<44}{fmt_ms(ours):>14}{fmt_ms(theirs):>14}{theirs / ours:>8.1f}x")
    print(f"\nthe console itself (inventory screen, {args.assets} assets):")
    print(f"  cache loaded -> rows painted            {fmt_ms(app_first)}")
    print(f"  filter keystroke latency median / worst {fmt_ms(statistics.median(app_keys))} /"
          f"{fmt_ms(max(app_keys))}")

    if args.skip_startup:
        return 0
    if not args.site.exists():
        print(f"\nstart-up: no site file at {args.site} (make lab-up, or --site)", file=sys.stderr)
        return 0
    from dr_console.config import load_site

    site = load_site(args.site)
    env = dict(os.environ, TERM="xterm-256color")
    clouds = args.site.parent / "clouds.yaml"
    if clouds.exists():
        env["OS_CLIENT_CONFIG_FILE"] = str(clouds)
    dr = str(Path(sys.executable).parent / "dr-console")
    # Fill the cache once: start-up is measured from it.
    subprocess.run([dr, "--site", str(args.site), "status", "--refresh"], env=env,
                   capture_output=True, check=False)
    firsts, readies, baselines = [], [], []
    for _ in range(args.runs):
        first, ready = startup_under_pty([dr, "--site", str(args.site), "tui"], env, site.site,
                                         "assets · sort")
        firsts.append(first)
        readies.append(ready)
        baselines.append(process_time([sys.executable, "-c", "import textual"], env))
    first, ready, base = (statistics.median(x) for x in (firsts, readies, baselines))
    print(f"\nstart-up, whole process under an 80x24 pty, median of {args.runs}:")
    print(f"{'measure':<44}{'dr-console':>14}{'baseline':>14}{'ratio':>9}")
    print(f"{'first frame (site name) vs import textual':<44}{fmt_ms(first):>14}{fmt_ms(base):>14}"
          f"{first / base:>8.1f}x")
    print(f"{'cached inventory on screen vs import textual':<44}{fmt_ms(ready):>14}{fmt_ms(base):>14}"
          f"{ready / base:>8.1f}x")
    print(f"  samples: first frame {[round(x, 3) for x in firsts]}, inventory "
          f"{[round(x, 3) for x in readies]}, import textual {[round(x, 3) for x in baselines]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
