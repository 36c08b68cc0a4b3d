"""The inventory: one row per asset, worst first.

Column widths are computed here rather than left to DataTable's auto-width:
the reason column takes whatever the others leave, so the table does not
need a horizontal scrollbar (which costs a row at 80x24 and hides the
reason), and when room is short the columns the detail pane repeats (kind,
provider) give way before the ones an operator triages by (last good copy,
reason)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.widgets import DataTable

from dr_console.model import Coverage
from dr_console.present import class_text, last_good_text, status_text

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
        "status": status_text(coverage.status),
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


class InventoryTable(DataTable[Text]):
    """Rows are keyed by asset id, so the highlighted asset survives a
    refresh, a new filter or a resize when it is still in the list."""

    # DataTable's own enter binding is hidden; this one says what it does.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Details"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._coverages: list[Coverage] = []
        self._now: datetime | None = None
        self._built_for_width = -1

    @property
    def highlighted_asset_id(self) -> str | None:
        if self.row_count == 0:
            return None
        row_key = self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key
        return row_key.value

    def show(self, coverages: Iterable[Coverage], now: datetime) -> None:
        """Replace all rows; keep the cursor on the same asset if still there.

        Rebuilding is O(rows); fine for hundreds of assets. For tens of
        thousands, swap in textual-fastdatatable (see STYLE.md)."""
        self._coverages = list(coverages)
        self._now = now
        self._rebuild()

    def on_resize(self, event: events.Resize) -> None:
        # Widths depend on our own width (layout can change it, not only the
        # terminal): rebuild when it changes.
        if event.size.width != self._built_for_width and self._now is not None:
            self.call_after_refresh(self._rebuild)

    def _rebuild(self) -> None:
        if self._now is None:
            return
        keep = self.highlighted_asset_id
        rows = [(cov, row_cells(cov, self._now)) for cov in self._coverages]
        natural = {
            key: max([len(label), *(cells[key].cell_len for _, cells in rows)])
            for key, label in COLUMNS
        }
        # Keep room for the vertical scrollbar so the reason never hides under it.
        room = self.size.width - int(self.styles.scrollbar_size_vertical)
        keys, widths = layout_columns(natural, room, self.cell_padding)

        self.clear(columns=True)
        for key in keys:
            self.add_column(_LABELS[key], key=key, width=widths[key])
        for cov, cells in rows:
            cells["reason"] = reason_cell(cov, widths["reason"])
            self.add_row(*(_fit(cells[key], widths[key]) for key in keys), key=cov.asset.id)
        self._built_for_width = self.size.width

        if keep is not None and keep in self.rows:
            self.move_cursor(row=self.get_row_index(keep), animate=False, scroll=True)
        elif self.row_count:
            self.move_cursor(row=0, animate=False, scroll=True)

    def update_ages(self, now: datetime) -> None:
        """Re-render with a new 'now' (ages moved on); the cursor stays put."""
        self._now = now
        self._rebuild()
