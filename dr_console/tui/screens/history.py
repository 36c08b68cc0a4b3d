"""`H`: past runs and drills from the journal, newest first; enter opens one
with its steps' durations and outcomes and its log replayed. Reads files
only, so it is offered in read-only mode too."""

from __future__ import annotations

from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, cast

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, RichLog, Static

from dr_console.runview import (
    Line,
    StepTiming,
    elapsed_text,
    outcome_text,
    replay_lines,
    runbook_label,
    step_timings,
)
from dr_console.tui.messages import HistoryLoaded
from dr_console.tui.widgets.header import SiteHeader

if TYPE_CHECKING:
    from dr_console.runbooks.journal import RunRecord
    from dr_console.tui.app import DrConsoleApp

EMPTY = "no runs yet: runbooks started here or with `dr-console run` are journaled and listed here"
STATE_STYLES = {"done": "green", "failed": "bold red", "skipped": "dim", "not reached": "dim"}


def render_timings(timings: list[StepTiming]) -> Table:
    table = Table(box=None, padding=(0, 1), expand=True)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("step", overflow="fold")
    table.add_column("outcome", no_wrap=True, min_width=12)
    table.add_column("took", justify="right", no_wrap=True, min_width=6)
    table.add_column("note", ratio=1, overflow="fold")
    for index, step in enumerate(timings, 1):
        table.add_row(str(index), step.title, Text(step.state, style=STATE_STYLES.get(step.state, "")),
                      elapsed_text(step.seconds), step.note)
    return table


class HistoryScreen(Screen[None]):
    HELP_TITLE = "History"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("enter", "open_run", "Open run"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[RunRecord] = []

    @property
    def dr_app(self) -> DrConsoleApp:
        return cast("DrConsoleApp", self.app)

    def compose(self) -> ComposeResult:
        yield SiteHeader(id="site-header")
        yield Static(" reading the journal…", id="history-title")
        yield DataTable(id="history-table", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(SiteHeader).show_app_state(self.dr_app)
        table = self.query_one(DataTable)
        # What an operator scans for first comes first: at 80 columns the
        # run id falls off the right edge, and the run screen shows it.
        table.add_columns("started", "outcome", "took", "runbook", "target", "operator", "run")
        table.focus()
        self._load()

    @work(thread=True, exclusive=True, group="history", exit_on_error=False)
    def _load(self) -> None:
        from dr_console.run_history import runs_newest_first

        try:
            self.post_message(HistoryLoaded(runs_newest_first()))
        except Exception as exc:  # an unreadable state dir: say so, show nothing
            self.post_message(HistoryLoaded([], f"{type(exc).__name__}: {exc}"))

    def _tz(self) -> tzinfo | None:
        return self.dr_app.clock().tzinfo

    @on(HistoryLoaded)
    def _loaded(self, message: HistoryLoaded) -> None:
        self.runs = message.runs
        table = self.query_one(DataTable)
        table.clear()
        tz = self._tz()
        for run in self.runs:
            table.add_row(run.started.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z"),
                          outcome_text(run.outcome), elapsed_text(run.duration),
                          runbook_label(run.runbook, run.kind),
                          run.target, run.operator, run.run_id, key=run.run_id)
        title = self.query_one("#history-title", Static)
        if message.error:
            title.update(f" journal unreadable: {message.error}")
        elif not self.runs:
            title.update(f" {EMPTY}")
        else:
            title.update(f" {len(self.runs)} runs, newest first · enter opens one")

    @on(DataTable.RowSelected)
    def _selected(self) -> None:
        self.action_open_run()

    def action_open_run(self) -> None:
        table = self.query_one(DataTable)
        if not self.runs or table.cursor_row >= len(self.runs):
            return
        self.app.push_screen(RunScreen(self.runs[table.cursor_row]))


class RunScreen(Screen[None]):
    """One past run: its steps with durations and outcomes, then its log."""

    HELP_TITLE = "Run"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
    ]

    def __init__(self, run: RunRecord) -> None:
        super().__init__()
        self.run = run

    @property
    def dr_app(self) -> DrConsoleApp:
        return cast("DrConsoleApp", self.app)

    def compose(self) -> ComposeResult:
        yield SiteHeader(id="site-header")
        yield Static(id="run-title")
        yield Static(id="run-steps")
        yield RichLog(id="run-log", wrap=True, markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(SiteHeader).show_app_state(self.dr_app)
        run = self.run
        # Outcome first: at 80 columns the end of the line is cut off.
        title = Text(" ")
        title.append_text(outcome_text(run.outcome))
        label = runbook_label(run.runbook, run.kind)
        title.append(f" · {elapsed_text(run.duration)} · {label} on {run.target} · "
                     f"{run.operator}@{run.host} · {run.run_id}")
        self.query_one("#run-title", Static).update(title)
        self.query_one(RichLog).focus()
        self._load(run.path)

    @work(thread=True, exclusive=True, group="history", exit_on_error=False)
    def _load(self, path: Path) -> None:
        from dr_console.runbooks.journal import read_records

        try:
            records = read_records(path)
        except OSError as exc:
            self.app.call_from_thread(self._show, [], [("--:--:--", Line("error", f"unreadable: {exc}"))])
            return
        # Rendering is quick; only the read blocked. Times in the operator's zone.
        self.app.call_from_thread(self._show, step_timings(records),
                                  replay_lines(records, self.dr_app.clock().tzinfo))

    def _show(self, timings: list[StepTiming], lines: list[tuple[str, Line]]) -> None:
        self.query_one("#run-steps", Static).update(render_timings(timings))
        log = self.query_one(RichLog)
        for when, line in lines:
            log.write(Text.assemble((f"{when} ", "dim"), line.styled()))
