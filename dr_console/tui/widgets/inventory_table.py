"""The inventory: one row per asset, in the order the screen chose.

Built on textual-fastdatatable, not Textual's DataTable: tests/bench/
bench_tui.py measured the built-in table at seconds to first paint and per
filter keystroke with 20,000 assets. Rows here are rendered on demand (only
the visible ones are ever built), and a new list of rows is a new table
swapped in (the library's way: its tables are immutable).

Column widths are computed here rather than left to DataTable's auto-width:
the reason column takes whatever the others leave, so the table does not
need a horizontal scrollbar (which costs a row at 80x24 and hides the
reason), and when room is short the columns the detail pane repeats (kind,
provider) give way before the ones an operator triages by (last good copy,
reason)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, Literal

from rich.cells import cell_len
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widget import Widget
from textual_fastdatatable import DataTable as FastDataTable
from textual_fastdatatable import DataTableBackend

from dr_console.model import Coverage, Status
from dr_console.present import class_text, last_good_text, row_status_text, status_text

# (column key, label)
COLUMNS: tuple[tuple[str, str], ...] = (
    ("status", "Status"),
    ("class", "Class"),
    ("name", "Name"),
    ("kind", "Kind"),
    ("source", "Provider/source"),
    ("last_good", "Last good"),
    ("reason", "Reason"),
)
_LABELS = dict(COLUMNS)
FULL = tuple(key for key, _ in COLUMNS)
# Kind and provider/source are the first to go: the detail pane shows them.
COMPACT = tuple(key for key in FULL if key not in {"kind", "source"})
# Long generated names (UUIDs, ARNs) must not squeeze out the reason.
_MAX_WIDTH = {"name": 28, "source": 24, "kind": 14, "last_good": 12}
# When the reason is short of room, these give way first, down to a floor.
_SHRINK = (("source", 12), ("kind", 8), ("name", 20))
_WANT_REASON = 24  # below this, try the compact column set
_MIN_REASON = 12


def layout_columns(
    natural: dict[str, int], width: int, cell_padding: int
) -> tuple[tuple[str, ...], dict[str, int]]:
    """Which columns to show and how wide, for `width` cells of table.

    `natural` is each column's content width (label included). The reason
    column takes the rest; the full set is used when, after shrinking the
    columns in `_SHRINK`, the reason still gets `_WANT_REASON` cells."""
    for keys in (FULL, COMPACT):
        widths = {k: min(natural[k], _MAX_WIDTH.get(k, natural[k])) for k in keys if k != "reason"}
        available = width - 2 * cell_padding * len(keys)
        reason = available - sum(widths.values())
        for key, at_least in _SHRINK:
            if reason >= _WANT_REASON:
                break
            floor = max(at_least, len(_LABELS[key]))  # never cut a header
            if key in widths and widths[key] > floor:
                give = min(widths[key] - floor, _WANT_REASON - reason)
                widths[key] -= give
                reason += give
        if reason >= _WANT_REASON or keys is COMPACT:
            widths["reason"] = max(_MIN_REASON, reason)
            return keys, widths
    raise AssertionError("unreachable")


def row_cells(coverage: Coverage, now: datetime) -> dict[str, Text]:
    # Every cell is a Text, never a str: DataTable parses str cells as Rich
    # markup, and an asset named "[red]x" or "db[1]" must show as written.
    asset = coverage.asset
    return {
        "status": row_status_text(coverage),
        "class": class_text(coverage.classification.asset_class),
        "name": Text(asset.name, style="bold"),
        "kind": Text(asset.kind),
        "source": Text(f"{asset.provider}/{asset.source}"),
        "last_good": last_good_text(coverage, now),
        "reason": Text(coverage.reasons[0] if coverage.reasons else ""),
    }


def reason_cell(coverage: Coverage, width: int) -> Text:
    """The first reason, and how many more there are: the count is kept even
    when the reason is cut, so no one thinks there is only one."""
    first = Text(coverage.reasons[0] if coverage.reasons else "")
    more = len(coverage.reasons) - 1
    if more <= 0:
        return _fit(first, width)
    suffix = Text(f" (+{more})", style="dim")
    return Text.assemble(_fit(first, max(1, width - suffix.cell_len)), suffix)


def _fit(text: Text, width: int) -> Text:
    if text.cell_len <= width:
        return text
    fitted = text.copy()
    fitted.truncate(width, overflow="ellipsis")
    return fitted


def _cells(text: str) -> int:
    return len(text) if text.isascii() else cell_len(text)


def natural_widths(coverages: Sequence[Coverage], now: datetime) -> dict[str, int]:
    """Each column's content width (label included), without building a
    single cell: string lengths, so 20,000 rows cost a few milliseconds."""
    widths = {key: cell_len(label) for key, label in COLUMNS}
    widths["status"] = max(widths["status"], *(status_text(s).cell_len for s in Status))
    present = {cov.classification.asset_class for cov in coverages}
    if present:
        widths["class"] = max(widths["class"], *(class_text(c).cell_len for c in present))
    if not coverages:
        return widths
    assets = [cov.asset for cov in coverages]
    widths["name"] = max(widths["name"], max(_cells(a.name) for a in assets))
    widths["kind"] = max(widths["kind"], max(len(a.kind) for a in assets))
    widths["source"] = max(widths["source"], max(len(a.provider) + 1 + len(a.source) for a in assets))
    # Ages are short and few: a sample of the rows is enough.
    step = max(1, len(coverages) // 256)
    widths["last_good"] = max(widths["last_good"],
                              max(last_good_text(c, now).cell_len for c in coverages[::step]))
    # The reason takes whatever the others leave (layout_columns): no need to measure it.
    return widths


class _CoverageRows(DataTableBackend[list[Coverage]]):
    """A read-only backend over the coverages: a row's cells are built the
    first time it is drawn, so first paint costs the screenful, not the list."""

    def __init__(
        self, coverages: list[Coverage], keys: Sequence[str], widths: Mapping[str, int], now: datetime
    ) -> None:
        self._render_markup: bool | None = None
        self.data = coverages
        self._keys = tuple(keys)
        self._widths = dict(widths)
        self._now = now
        self._rows: dict[int, list[Text]] = {}

    @classmethod
    def from_pydict(cls, data: Mapping[str, Sequence[Any]], max_rows: int | None = None,
                    column_names: Sequence[str] | None = None) -> _CoverageRows:
        raise NotImplementedError("built from coverages only")

    @property
    def source_data(self) -> list[Coverage]:
        return self.data

    @property
    def source_row_count(self) -> int:
        return len(self.data)

    @property
    def row_count(self) -> int:
        return len(self.data)

    @property
    def columns(self) -> Sequence[str]:
        return self._keys

    @property
    def column_content_widths(self) -> Sequence[int]:
        return [self._widths[key] for key in self._keys]

    def get_row_at(self, index: int) -> Sequence[Any]:
        row = self._rows.get(index)
        if row is None:
            cov = self.data[index]
            cells = row_cells(cov, self._now)
            cells["reason"] = reason_cell(cov, self._widths["reason"])
            row = [_fit(cells[key], self._widths[key]) for key in self._keys]
            self._rows[index] = row
        return row

    def get_column_at(self, index: int) -> Sequence[Any]:
        return [self.get_row_at(i)[index] for i in range(len(self.data))]

    def get_cell_at(self, row_index: int, column_index: int) -> Any:
        return self.get_row_at(row_index)[column_index]

    def append_column(self, label: str, default: Any | None = None) -> int:
        raise NotImplementedError("read-only")

    def append_rows(self, records: Iterable[Iterable[Any]]) -> list[int]:
        raise NotImplementedError("read-only")

    def drop_row(self, row_index: int) -> None:
        raise NotImplementedError("read-only")

    def update_cell(self, row_index: int, column_index: int, value: Any) -> None:
        raise NotImplementedError("read-only")

    def sort(self, by: list[tuple[str, Literal["ascending", "descending"]]] | str) -> None:
        raise NotImplementedError("sorted by the screen")


class _Rows(FastDataTable):
    """One generation of rows; replaced, never mutated."""

    HELP_NAME = "inventory table"
    # The library's enter binding is hidden; this one says what it does.
    # Tab moves the focus (to the preview pane), not the cursor, as everywhere else.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Details"),
        Binding("tab", "app.focus_next", "Focus Next", show=False),
        Binding("shift+tab", "app.focus_previous", "Focus Previous", show=False),
    ]

    def __init__(self, backend: _CoverageRows, keys: Sequence[str], widths: Mapping[str, int],
                 start_row: int) -> None:
        super().__init__(
            backend=backend,
            column_labels=[Text(_LABELS[key]) for key in keys],
            column_widths=[widths[key] for key in keys],
            cursor_type="row",
            zebra_stripes=True,
            show_row_labels=False,
            render_markup=False,
            classes="inventory-rows",
        )
        self._start_row = start_row

    def on_mount(self) -> None:
        if self._start_row and self.row_count:
            self.move_cursor(row=min(self._start_row, self.row_count - 1))


class InventoryTable(Widget):
    """The rows of the inventory, keyed by asset id, so the highlighted asset
    survives a refresh, a new filter, a new sort or a resize while it is
    still in the list. Posts `AssetHighlighted` / `AssetSelected`."""

    DEFAULT_CSS = """
    InventoryTable { height: 1fr; }
    InventoryTable > .inventory-rows { height: 1fr; }
    """

    class AssetHighlighted(Message):
        def __init__(self, asset_id: str | None) -> None:
            super().__init__()
            self.asset_id = asset_id

    class AssetSelected(Message):
        def __init__(self, asset_id: str) -> None:
            super().__init__()
            self.asset_id = asset_id

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._coverages: list[Coverage] = []
        self._ids: list[str] = []
        self._index: dict[str, int] = {}
        self._now: datetime | None = None
        self._built_for_width = -1
        self._table: _Rows | None = None
        # The cursor's asset, kept here rather than read back from the table,
        # which is replaced on every update.
        self._highlighted: str | None = None
        self.generation = 0  # bumps on every swap: benchmarks and tests wait on it
        self._universe: Sequence[Coverage] | None = None
        self._measured: tuple[Sequence[Coverage], dict[str, int]] | None = None
        self.column_keys = ()

    def compose(self) -> ComposeResult:
        return iter(())

    # -- what the screen and the tests ask ---------------------------------

    @property
    def row_count(self) -> int:
        return len(self._ids)

    @property
    def asset_ids(self) -> list[str]:
        return list(self._ids)

    @property
    def rows_table(self) -> FastDataTable | None:
        return self._table

    @property
    def highlighted_asset_id(self) -> str | None:
        if not self._ids:
            return None
        return self._highlighted if self._highlighted in self._index else self._ids[0]

    def __contains__(self, asset_id: object) -> bool:
        return asset_id in self._index

    def cell_text(self, asset_id: str, column: str) -> str:
        """What a cell says, for tests and for copying."""
        cov = self._coverages[self._index[asset_id]]
        return row_cells(cov, self._now or datetime.now().astimezone())[column].plain

    def show(self, coverages: Iterable[Coverage], now: datetime,
             *, universe: Sequence[Coverage] | None = None) -> None:
        """Replace all rows; keep the cursor on the same asset if still there.

        `universe`: all the rows these were filtered from. Columns are then
        as wide as the universe needs, measured once per universe, so they do
        not jump about (nor cost a pass over the rows) at each keystroke."""
        self._universe = universe
        self._coverages = list(coverages)
        self._ids = [cov.asset.id for cov in self._coverages]
        self._index = {asset_id: n for n, asset_id in enumerate(self._ids)}
        self._now = now
        self._rebuild()

    def _natural_widths(self) -> dict[str, int]:
        assert self._now is not None
        universe = self._universe
        if universe is None:
            return natural_widths(self._coverages, self._now)
        if self._measured is None or self._measured[0] is not universe:
            self._measured = (universe, natural_widths(universe, self._now))
        return self._measured[1]

    def update_ages(self, now: datetime) -> None:
        """Re-render with a new 'now' (ages moved on); the cursor stays put."""
        self._now = now
        self._rebuild()

    def select(self, asset_id: str) -> bool:
        """Move the cursor to an asset shown in the table."""
        if asset_id not in self._index:
            return False
        self._highlighted = asset_id
        if self._table is not None:
            if self._table.is_mounted:
                self._table.move_cursor(row=self._index[asset_id], animate=False)
            else:  # still being swapped in: it starts there
                self._table._start_row = self._index[asset_id]
        return True

    def focus(self, scroll_visible: bool = True) -> InventoryTable:
        # The rows are what takes the keys; this wrapper only swaps them.
        if self._table is not None and self._table.is_mounted:
            self._table.focus(scroll_visible)
        else:
            self._wants_focus = True
        return self

    _wants_focus = False

    @property
    def rows_have_focus(self) -> bool:
        return self._table is not None and self._table.has_focus

    # -- building ------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        # Widths depend on our own width (layout can change it, not only the
        # terminal): rebuild when it changes.
        if event.size.width != self._built_for_width and self._now is not None:
            self.call_after_refresh(self._rebuild)

    def _rebuild(self) -> None:
        if self._now is None or not self.is_attached:
            return
        natural = self._natural_widths()
        # Keep room for the vertical scrollbar so the reason never hides under it.
        room = self.size.width - int(self.styles.scrollbar_size_vertical or 2)
        keys, widths = layout_columns(natural, room, 1)
        keep = self.highlighted_asset_id
        start = self._index.get(keep, 0) if keep is not None else 0
        backend = _CoverageRows(self._coverages, keys, widths, self._now)
        new = _Rows(backend, keys, widths, start)
        focused = self.screen.focused
        # The rows keep the focus across a swap if they had it (or nobody
        # had it); an operator typing a filter keeps the Input.
        take_focus = self._wants_focus or focused is None or isinstance(focused, _Rows)
        self._wants_focus = False
        self._table = new
        self.column_keys: tuple[str, ...] = tuple(keys)
        self._built_for_width = self.size.width
        self.generation += 1
        self._highlighted = keep
        self.call_next(self._swap, new, take_focus)
        self.post_message(self.AssetHighlighted(self.highlighted_asset_id))

    async def _swap(self, new: _Rows, take_focus: bool) -> None:
        """Mount the new rows, move the focus to them, then drop the old
        ones: in that order the focus never falls to another widget."""
        if new is not self._table:
            return  # a newer generation came while this one waited
        await self.mount(new)
        focused = self.screen.focused
        if take_focus and (focused is None or isinstance(focused, _Rows)):
            self.screen.set_focus(new, scroll_visible=False)
        stale = [child for child in self.children if child is not new]
        if stale:
            await self.remove_children(stale)

    # -- the rows' messages, translated to assets ------------------------------

    @on(FastDataTable.RowHighlighted)
    def _row_highlighted(self, event: FastDataTable.RowHighlighted) -> None:
        event.stop()
        if event.data_table is not self._table or not 0 <= event.cursor_row < len(self._ids):
            return
        asset_id = self._ids[event.cursor_row]
        if asset_id != self._highlighted:
            self._highlighted = asset_id
            self.post_message(self.AssetHighlighted(asset_id))

    @on(FastDataTable.RowSelected)
    def _row_selected(self, event: FastDataTable.RowSelected) -> None:
        event.stop()
        if event.data_table is self._table and 0 <= event.cursor_row < len(self._ids):
            self._highlighted = self._ids[event.cursor_row]
            self.post_message(self.AssetSelected(self._highlighted))


__all__ = ["COLUMNS", "InventoryTable", "layout_columns", "natural_widths", "row_cells"]
