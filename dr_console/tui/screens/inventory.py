"""The first screen: what we have, and is there a copy we can trust.

It renders the app's state (snapshot, refreshing, error) and owns only what
is local to it: the filter text and which row is highlighted."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from dr_console.model import Coverage
from dr_console.present import filter_coverages, sorted_coverages
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
    # width and the detail goes under it (80x24 must stay usable).
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]] | None] = [
        (0, "-narrow"),
        (150, "-wide"),
    ]

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_filter", "Filter"),
        Binding("enter", "open_detail", "Details"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._shown: dict[str, Coverage] = {}

    @property
    def dr_app(self) -> DrConsoleApp:
        return cast("DrConsoleApp", self.app)

    @property
    def detail_open(self) -> bool:
        """Enter on a row gives the detail the whole body; escape comes back."""
        return self.has_class("-detail-open")

    def compose(self) -> ComposeResult:
        yield SiteHeader(id="site-header")
        with Horizontal(id="filter-bar"):
            yield Static("filter /", id="filter-prompt")
            yield Input(placeholder=FILTER_PLACEHOLDER, id="filter", compact=True)
            yield Static(id="match-count")
        with Container(id="body"):
            yield InventoryTable(id="inventory")
            yield AssetDetail(id="detail")
        yield Footer()

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
        app = self.dr_app
        self.query_one(SiteHeader).show(
            site=app.site_name,
            mode=app.mode,
            snapshot=app.snapshot,
            refreshing=app.refreshing,
            error=app.load_error,
            now=app.clock(),
        )

    def _render_rows(self) -> None:
        app = self.dr_app
        snapshot = app.snapshot
        table = self.query_one(InventoryTable)
        query = self.query_one("#filter", Input).value
        coverages = sorted_coverages(snapshot.coverages) if snapshot else []
        visible = filter_coverages(coverages, query)
        self._shown = {cov.asset.id: cov for cov in visible}
        table.show(visible, app.clock())
        total = len(coverages)
        count = f"{len(visible)} of {total}" if query.strip() else f"{total} assets"
        self.query_one("#match-count", Static).update(count if snapshot else "")
        self._render_detail()

    def _render_detail(self) -> None:
        table = self.query_one(InventoryTable)
        detail = self.query_one(AssetDetail)
        asset_id = table.highlighted_asset_id
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

    # -- API for the app and for screens to come ---------------------------

    def select_asset(self, asset_id: str) -> bool:
        """Highlight an asset (clearing the filter if it hides it). False if
        the snapshot has no such asset."""
        table = self.query_one(InventoryTable)
        if asset_id not in table.rows:
            snapshot = self.dr_app.snapshot
            if snapshot is None or all(c.asset.id != asset_id for c in snapshot.coverages):
                return False
            self.query_one("#filter", Input).value = ""
            self._render_rows()
        table.move_cursor(row=table.get_row_index(asset_id), animate=False, scroll=True)
        self._render_detail()
        return True

    # -- events --------------------------------------------------------------

    @on(Input.Changed, "#filter")
    def _filter_changed(self) -> None:
        self._render_rows()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        # Enter means "done typing": go back to the rows.
        self.query_one(InventoryTable).focus()

    @on(DataTable.RowHighlighted, "#inventory")
    def _row_highlighted(self) -> None:
        self._render_detail()

    @on(DataTable.RowSelected, "#inventory")
    def _row_selected(self) -> None:
        self.action_open_detail()

    # -- actions -------------------------------------------------------------

    def action_focus_filter(self) -> None:
        if self.detail_open:
            self.remove_class("-detail-open")
            self.refresh_bindings()
        self.query_one("#filter", Input).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Hide "Details" from the footer once they are open.
        return not (action == "open_detail" and self.detail_open)

    def action_open_detail(self) -> None:
        """The body for one asset: at 80x24 the pane under the table shows
        only its first lines. A CSS class rather than Textual's maximize, so
        the header (site, LIVE/DRILL, data age) stays in view."""
        if self.query_one(InventoryTable).highlighted_asset_id is None:
            return
        self.add_class("-detail-open")
        self.query_one(AssetDetail).focus()
        self.refresh_bindings()

    def action_back(self) -> None:
        """One step back: out of the detail, else clear the filter."""
        if self.detail_open:
            self.remove_class("-detail-open")
            self.refresh_bindings()
        else:
            self.query_one("#filter", Input).value = ""
        self.query_one(InventoryTable).focus()


