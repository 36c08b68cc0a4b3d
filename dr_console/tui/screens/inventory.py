"""The first screen: what we have, and is there a copy we can trust.

It renders the app's state (snapshot, refreshing, error) and owns only what
is local to it: the filter text, the sort order and which row is
highlighted. Enter opens the asset screen; the pane beside or under the
table is its preview."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal
from textual.reactive import var
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from dr_console.model import Coverage, Snapshot
from dr_console.present import (
    SORT_MODES,
    Filter,
    Searchable,
    filter_index,
    index_coverages,
    narrows,
    next_sort_mode,
    parse_filter,
    sorted_coverages,
)
from dr_console.tui.widgets.detail import AssetDetail
from dr_console.tui.widgets.header import SiteHeader
from dr_console.tui.widgets.inventory_table import InventoryTable

if TYPE_CHECKING:
    from dr_console.tui.app import DrConsoleApp

# Ages are minutes-grained; re-rendering them twice a minute is plenty.
AGE_TICK_SECONDS = 30.0

FILTER_PLACEHOLDER = "name, kind, reason…  class:metadata  status:critical"


class InventoryScreen(Screen[None]):
    # Side by side from 150 columns; below that the table needs the whole
    # width and the preview goes under it (80x24 must stay usable).
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]] | None] = [
        (0, "-narrow"),
        (150, "-wide"),
    ]

    # The rows take focus themselves once mounted, not the first Input.
    AUTO_FOCUS = ""  # not None: None falls back to the app's "*"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_filter", "Filter"),
        Binding("s", "cycle_sort", "Sort"),
        Binding("enter", "open_asset", "Open", show=False),
        Binding("escape", "back", "Clear filter", show=False),
    ]

    sort_mode: var[str] = var(SORT_MODES[0], init=False)

    def __init__(self) -> None:
        super().__init__()
        self._shown: dict[str, Coverage] = {}
        # Per snapshot and sort order: the rows, and (once filtered) their text.
        self._sorted_for: tuple[Snapshot | None, str] | None = None
        self._all: list[Coverage] = []
        self._indexed: list[Searchable] | None = None
        # The last filter and its result: typing more letters only narrows it.
        self._last_filter: Filter | None = None
        self._visible: list[Searchable] = []
        self._filter_scheduled = False

    @property
    def dr_app(self) -> DrConsoleApp:
        return cast("DrConsoleApp", self.app)

    def compose(self) -> ComposeResult:
        yield SiteHeader(id="site-header")
        with Horizontal(id="filter-bar"):
            yield Static("filter /", id="filter-prompt")
            yield Input(placeholder=FILTER_PLACEHOLDER, id="filter", compact=True)
            yield Static(id="match-count")
        with Container(id="body"):
            yield InventoryTable(id="inventory")
            yield AssetDetail(id="detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        app = self.dr_app
        # The app owns the state; this screen follows it.
        self.watch(app, "snapshot", self._snapshot_changed, init=True)
        self.watch(app, "refreshing", self._render_header, init=False)
        self.watch(app, "load_error", self._render_header, init=False)
        self.set_interval(AGE_TICK_SECONDS, self._tick)
        self.query_one(InventoryTable).focus()

    # -- rendering ---------------------------------------------------------

    def _snapshot_changed(self) -> None:
        self._render_header()
        self._render_rows()

    def _render_header(self) -> None:
        self.query_one(SiteHeader).show_app_state(self.dr_app)

    def _rows_for(self, snapshot: Snapshot | None) -> list[Coverage]:
        """Every asset in the current sort order, once per snapshot and order."""
        if self._sorted_for is None or self._sorted_for[0] is not snapshot \
                or self._sorted_for[1] != self.sort_mode:
            rows = [*snapshot.coverages, *snapshot.orphans] if snapshot else []
            self._all = sorted_coverages(rows, self.sort_mode)
            self._sorted_for = (snapshot, self.sort_mode)
            self._indexed = None
            self._last_filter = None
        return self._all

    def _index(self) -> list[Searchable]:
        # Built at the first filter keystroke, not before the first paint:
        # 20,000 assets take ~0.1 s to index, and most visits never filter.
        if self._indexed is None:
            self._indexed = index_coverages(self._all)
        return self._indexed

    def _render_rows(self) -> None:
        snapshot = self.dr_app.snapshot
        everything = self._rows_for(snapshot)
        flt = parse_filter(self.query_one("#filter", Input).value)
        if flt:
            last = self._last_filter
            # Typing more of a word searches only what the shorter word matched.
            pool = self._visible if last and narrows(flt, last) else self._index()
            self._visible = filter_index(pool, flt)
            self._last_filter = flt
            visible = [item.coverage for item in self._visible]
        else:
            self._last_filter = None
            visible = [cov for cov in everything if not cov.orphan]
        self._shown = {cov.asset.id: cov for cov in visible}
        self.query_one(InventoryTable).show(visible, self.dr_app.clock(), universe=everything)
        total = sum(1 for cov in everything if not cov.orphan)
        count = f"{len(visible)} of {total}" if flt else f"{total} assets"
        self.query_one("#match-count", Static).update(
            f"{count} · sort: {self.sort_mode}" if snapshot else f"sort: {self.sort_mode}"
        )
        self._render_detail()

    def _render_detail(self, asset_id: str | None = None) -> None:
        detail = self.query_one(AssetDetail)
        asset_id = asset_id or self.query_one(InventoryTable).highlighted_asset_id
        if asset_id is not None and asset_id in self._shown:
            detail.show(self._shown[asset_id], self.dr_app.clock())
            return
        if self.dr_app.snapshot is None:
            empty = "no data yet — the inventory appears here as soon as it is read"
        elif self.dr_app.snapshot.coverages:
            query = self.query_one("#filter", Input).value
            empty = f"no asset matches {query!r} — escape clears the filter"
        else:
            empty = "the inventory is empty: no provider returned any asset"
        detail.show(None, self.dr_app.clock(), empty=empty)

    def _tick(self) -> None:
        now = self.dr_app.clock()
        self._render_header()
        self.query_one(InventoryTable).update_ages(now)
        self._render_detail()

    def watch_sort_mode(self) -> None:
        self._render_rows()

    # -- API for the app and for screens to come ---------------------------

    def select_asset(self, asset_id: str) -> bool:
        """Highlight an asset (clearing the filter if it hides it). False if
        the snapshot has no such asset."""
        table = self.query_one(InventoryTable)
        if asset_id not in table:
            snapshot = self.dr_app.snapshot
            if snapshot is None or all(c.asset.id != asset_id for c in snapshot.coverages):
                return False
            self.query_one("#filter", Input).value = ""
            self._render_rows()
        table.select(asset_id)
        self._render_detail(asset_id)
        return True

    # -- events --------------------------------------------------------------

    @on(Input.Changed, "#filter")
    def _filter_changed(self) -> None:
        # Keys that arrive together (a paste, a fast typist over SSH) are
        # filtered once, with the last value: the callback runs after the
        # queued key events.
        if not self._filter_scheduled:
            self._filter_scheduled = True
            self.call_later(self._apply_filter)

    def _apply_filter(self) -> None:
        self._filter_scheduled = False
        self._render_rows()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        # Enter means "done typing": go back to the rows.
        self.query_one(InventoryTable).focus()

    @on(InventoryTable.AssetHighlighted)
    def _asset_highlighted(self, message: InventoryTable.AssetHighlighted) -> None:
        self._render_detail(message.asset_id)

    @on(InventoryTable.AssetSelected)
    def _asset_selected(self, message: InventoryTable.AssetSelected) -> None:
        self.dr_app.open_asset(message.asset_id)

    # -- actions -------------------------------------------------------------

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_cycle_sort(self) -> None:
        """status (worst first) → class (restore order) → name."""
        self.sort_mode = next_sort_mode(self.sort_mode)

    def action_open_asset(self) -> None:
        asset_id = self.query_one(InventoryTable).highlighted_asset_id
        if asset_id is not None:
            self.dr_app.open_asset(asset_id)

    def action_back(self) -> None:
        """Clear the filter and go back to the rows."""
        self.query_one("#filter", Input).value = ""
        self.query_one(InventoryTable).focus()
