"""Asked when a runbook opens on a target whose last run did not finish:
resume it (every step re-checks the world first) or start a new run."""

from __future__ import annotations

from typing import ClassVar, Literal

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from dr_console.runbooks.journal import RunRecord

Choice = Literal["resume", "new"]


class ResumeScreen(ModalScreen[Choice | None]):
    """Dismissed with "resume", "new", or None (escape: leave the runbook)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "choose('resume')", "Resume"),
        Binding("n", "choose('new')", "Start new"),
        Binding("escape", "choose('')", "Back"),
    ]

    def __init__(self, run: RunRecord) -> None:
        super().__init__()
        self.run = run

    def compose(self) -> ComposeResult:
        run = self.run
        done = sum(1 for s in run.steps.values() if s in ("done", "skipped"))
        started = run.started.astimezone().strftime("%Y-%m-%d %H:%M %Z")  # the operator's zone
        with Vertical(id="resume-box"):
            yield Static(Text(f"An unfinished run of {run.runbook} on {run.target}", style="bold"))
            yield Static(Text(f"run {run.run_id}: {run.outcome}, started "
                              f"{started} by {run.operator}@{run.host}; "
                              f"{done} of its steps done. Resuming re-checks every step, so nothing "
                              "finished is done twice."))
            with Horizontal(id="resume-buttons"):
                yield Button(f"Resume run {run.run_id}", id="resume-yes", variant="primary")
                yield Button("Start new", id="resume-new")

    def on_mount(self) -> None:
        self.query_one("#resume-yes", Button).focus()

    @on(Button.Pressed, "#resume-yes")
    def _resume(self) -> None:
        self.dismiss("resume")

    @on(Button.Pressed, "#resume-new")
    def _new(self) -> None:
        self.dismiss("new")

    def action_choose(self, choice: str) -> None:
        self.dismiss("resume" if choice == "resume" else "new" if choice == "new" else None)
