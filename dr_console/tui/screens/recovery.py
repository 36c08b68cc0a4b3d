"""`P`: the whole site's recovery, in order — boot infrastructure, then the
metadata databases (keystone first), then the payload — one row per item
with its copy, its last drill and its last real run, so an operator in an
incident walks down the list and sees where the recovery stands.

Enter opens the item's asset screen; with --write, `R` starts the item's
runbook right here (the same runbook screen and typed confirmation as from
the asset screen), and says which earlier items have not come back yet —
a warning, not a lock: the operator may know the boot hosts are fine.
Reads the snapshot and the journal only, so it is offered in read-only
mode too (without `R`)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, cast

from rich.console import Group
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from dr_console.humanize import age
from dr_console.runview import elapsed_text, outcome_style
from dr_console.tui.messages import RecoveryPlanLoaded
from dr_console.tui.widgets.header import SiteHeader

if TYPE_CHECKING:
    from dr_console.model import Snapshot
    from dr_console.runbooks.plan import PlanItem
    from dr_console.tui.app import DrConsoleApp

PHASE_SHORT = {"boot infrastructure": "1 boot", "metadata databases": "2 metadata", "payload": "3 payload"}
STATUS_STYLES = {"OK": "green", "WARNING": "yellow", "CRITICAL": "bold red", "UNKNOWN": "magenta"}
VERDICT_STYLES = {"passed": "green", "failed": "bold red"}


def _since(iso: str | None, now: datetime) -> str:
    if iso is None:
        return "never"
    return f"{age((now - datetime.fromisoformat(iso)).total_seconds())} ago"


def drill_cell(item: PlanItem, now: datetime) -> Text:
    drill = item.last_drill
    if drill is None:
        return Text("never", style="dim")
    text = Text(drill.verdict, style=VERDICT_STYLES.get(drill.verdict, "yellow"))
    text.append(f" {_since(drill.at, now)}")
    if drill.rto_seconds is not None:
        text.append(f" ({elapsed_text(drill.rto_seconds)})")
    return text


def run_cell(item: PlanItem, now: datetime) -> Text:
    run = item.last_run
    if run is None:
        return Text("not run", style="dim")
    text = Text(run.outcome, style=outcome_style(run.outcome))
    text.append(f" {_since(run.at, now)}")
    return text


def pending_before(items: list[PlanItem], item: PlanItem) -> list[str]:
    """Items this one waits for (its earlier phases, keystone for a metadata
    database) whose last run did not succeed."""
    earlier = [i for i in items if i.order < item.order
               and (i.phase in item.depends_on or i.name in item.depends_on)]
    return [i.name for i in earlier if i.last_run is None or i.last_run.outcome != "succeeded"]


def summary_line(items: list[PlanItem]) -> str:
    from dr_console.runbooks.plan import expected_rto

    if not items:
        return " nothing to recover: no boot-infra host, metadata database or payload in the inventory"
    total, undrilled = expected_rto(items)
    done = sum(1 for i in items if i.last_run is not None and i.last_run.outcome == "succeeded")
    drilled = len(items) - undrilled
    rto = f"drilled RTO {age(total)} for {drilled}" if drilled else "none drilled"
    never = f", {undrilled} never drilled" if undrilled and len(items) > undrilled else ""
    return f" {len(items)} items in order · {done} restored · {rto}{never} · enter opens one"


def item_detail(item: PlanItem, now: datetime, *, write: bool) -> Group:
    lines = [Text.assemble((f"{item.order}. {item.name}", "bold"), f" ({item.kind}, {item.asset_class}) · ",
                           (item.status, STATUS_STYLES.get(item.status, "")))]
    if item.copy is not None:
        lines.append(Text(f"copy: {item.copy}, {_since(item.copy_created_at, now)}"))
    if item.depends_on:
        lines.append(Text(f"waits for: {', '.join(item.depends_on)}", style="dim"))
    lines.append(Text.assemble(("$ ", "dim"), (item.command, "bold")))
    lines.extend(Text(note, style="yellow") for note in item.notes)
    if item.runbook is not None:
        hint = "R runs it (enter opens the asset)" if write else "read-only: --write to run it here"
        lines.append(Text(hint, style="dim italic"))
    return Group(*lines)


class RecoveryScreen(Screen[None]):
    HELP_TITLE = "Recovery plan"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("enter", "open_item", "Open"),
        Binding("y", "copy_command", "Copy cmd"),
        # Changes the world: offered only with --write (see check_action).
        Binding("R", "run_item", "Run it"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.items: list[PlanItem] = []

    @property
    def dr_app(self) -> DrConsoleApp:
        return cast("DrConsoleApp", self.app)

    def compose(self) -> ComposeResult:
        yield SiteHeader(id="site-header")
        yield Static(" reading the inventory and the journal…", id="recovery-title")
        yield DataTable(id="recovery-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="recovery-detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        app = self.dr_app
        table = self.query_one(DataTable)
        # Where the recovery stands comes first: at 80 columns the right
        # edge falls off, and the phase is also the order of the rows.
        table.add_columns("#", "asset", "status", "last run", "last drill", "copy", "phase")
        table.focus()
        self.watch(app, "snapshot", self._snapshot_changed, init=False)
        self.watch(app, "refreshing", self._render_header, init=False)
        self.watch(app, "load_error", self._render_header, init=False)
        self._render_header()
        self._snapshot_changed()

    def on_screen_resume(self) -> None:
        # Back from an item's runbook: its run is in the journal now.
        if self.items:
            self._snapshot_changed()

    def _render_header(self) -> None:
        self.query_one(SiteHeader).show_app_state(self.dr_app)

    def _snapshot_changed(self) -> None:
        self._render_header()
        snapshot = self.dr_app.snapshot
        if snapshot is None:
            self.query_one("#recovery-title", Static).update(" waiting for the inventory…")
            return
        self._load(snapshot)

    @work(thread=True, exclusive=True, group="recovery", exit_on_error=False)
    def _load(self, snapshot: Snapshot) -> None:
        # The journal and the drills' reports are files: read off the event loop.
        from dr_console.runbooks.journal import iter_runs
        from dr_console.runbooks.plan import recovery_plan

        try:
            self.post_message(RecoveryPlanLoaded(recovery_plan(snapshot, list(iter_runs()))))
        except Exception as exc:  # an unreadable state dir: say so, keep what is shown
            self.post_message(RecoveryPlanLoaded([], f"{type(exc).__name__}: {exc}"))

    @on(RecoveryPlanLoaded)
    def _loaded(self, message: RecoveryPlanLoaded) -> None:
        title = self.query_one("#recovery-title", Static)
        if message.error:
            title.update(f" journal unreadable: {message.error}")
            return
        table = self.query_one(DataTable)
        # Keep the operator's place across a refresh.
        current = self._highlighted()
        self.items = message.items
        now = self.dr_app.clock()
        table.clear()
        for item in self.items:
            copy = "none" if item.copy_created_at is None else _since(item.copy_created_at, now)
            status = Text(item.status, style=STATUS_STYLES.get(item.status, ""))
            table.add_row(str(item.order), item.name, status,
                          run_cell(item, now), drill_cell(item, now), copy,
                          PHASE_SHORT.get(item.phase, item.phase), key=item.asset_id)
        if current is not None and current.asset_id in {i.asset_id for i in self.items}:
            table.move_cursor(row=table.get_row_index(current.asset_id))
        title.update(summary_line(self.items))
        self._show_detail()

    def _highlighted(self) -> PlanItem | None:
        table = self.query_one(DataTable)
        if not self.items or table.cursor_row >= len(self.items):
            return None
        return self.items[table.cursor_row]

    @on(DataTable.RowHighlighted)
    def _show_detail(self) -> None:
        item = self._highlighted()
        self.refresh_bindings()  # R depends on the item (one without a runbook has none)
        detail = self.query_one("#recovery-detail", Static)
        if item is None:
            detail.update("")
            return
        detail.update(item_detail(item, self.dr_app.clock(), write=self.dr_app.write))

    @on(DataTable.RowSelected)
    def _selected(self) -> None:
        self.action_open_item()

    def action_open_item(self) -> None:
        item = self._highlighted()
        if item is not None:
            self.dr_app.open_asset(item.asset_id)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "run_item":
            item = self._highlighted()
            return self.dr_app.write and item is not None and item.runbook is not None
        return True

    def action_run_item(self) -> None:
        from dr_console.remedies import Remedy

        item = self._highlighted()
        if item is None or item.runbook is None or not self.dr_app.write:
            return
        waiting = pending_before(self.items, item)
        if waiting:
            self.notify(f"not restored yet, and {item.name} waits for them: {', '.join(waiting)}",
                        title="Earlier items", severity="warning", timeout=10)
        self.dr_app.start_runbook(Remedy(f"restore {item.name}", item.command, runbook=item.runbook,
                                         params=dict(item.params)))

    def action_copy_command(self) -> None:
        item = self._highlighted()
        if item is None:
            return
        self.app.copy_to_clipboard(item.command)
        self.notify(item.command, title="Copied to the clipboard", timeout=4)
