"""One asset, all of it: every copy with its verification ladder, the rule
that classified it, its RPO and age, and the runbooks that would bring it
back, each with the command an operator could type instead and, when the
engine knows the runbook, its plan step by step."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from dr_console.model import Coverage
from dr_console.remedies import Plan, Remedy, remedies
from dr_console.tui.messages import PlanLoaded
from dr_console.tui.widgets.detail import render_detail
from dr_console.tui.widgets.header import SiteHeader

if TYPE_CHECKING:
    from dr_console.tui.app import DrConsoleApp

LOADING = Plan(unavailable="loading the plan…")


def _indented(text: Text, left: int) -> Padding:
    # Padding rather than leading spaces: a long command wraps under itself,
    # not back at the left edge.
    return Padding(text, (0, 0, 0, left))


def _command(command: str, style: str) -> Text:
    return Text.assemble(("$ ", "dim"), (command, style))


def render_remedy(remedy: Remedy, plan: Plan | None, *, write: bool) -> RenderableType:
    title = Text.assemble(("▸ ", "bold"), (remedy.title, "bold"))
    if remedy.runbook:
        title.append(f"  (runbook {remedy.runbook})", style="dim")
    parts: list[RenderableType] = [title, _indented(_command(remedy.command, "bold cyan"), 2)]
    if remedy.note:
        parts.append(_indented(Text(remedy.note, style="italic"), 2))
    if remedy.writes and remedy.runbook and not write:
        parts.append(_indented(Text("read-only: start dr-console with --write to run it from here",
                                    style="dim"), 2))
    if plan is not None and plan.unavailable:
        parts.append(_indented(Text(f"plan: {plan.unavailable}", style="dim"), 2))
    elif plan is not None:
        parts.append(_indented(Text("plan:"), 2))
        for n, step in enumerate(plan.steps, 1):
            line = Text(f"{n}. {step.title}")
            if step.destructive:
                line.append(f"  ⚠ destructive: type {step.target!r} to confirm", style="bold yellow")
            parts.append(_indented(line, 3))
            if step.command:
                parts.append(_indented(_command(step.command, "cyan"), 6))
    return Group(*parts)


def render_asset(
    remedy_list: list[Remedy], plans: dict[str, Plan], *, write: bool, detail: RenderableType,
) -> RenderableType:
    parts: list[RenderableType] = [detail, Text()]
    parts.append(Text("runbooks", style="bold"))
    for remedy in remedy_list:
        plan = plans.get(remedy.runbook) if remedy.runbook else None
        parts.append(render_remedy(remedy, plan, write=write))
    return Group(*parts)


class AssetScreen(Screen[None]):
    """Pushed by enter on an inventory row; escape goes back to it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("y", "copy_command", "Copy cmd"),
        # Changes the world: offered only with --write (see check_action).
        Binding("R", "run_runbook", "Runbook"),
    ]

    def __init__(self, asset_id: str) -> None:
        super().__init__()
        self.asset_id = asset_id
        self._plans: dict[str, Plan] = {}

    @property
    def dr_app(self) -> DrConsoleApp:
        return cast("DrConsoleApp", self.app)

    @property
    def coverage(self) -> Coverage | None:
        snapshot = self.dr_app.snapshot
        if snapshot is None:
            return None
        return next((c for c in (*snapshot.coverages, *snapshot.orphans)
                     if c.asset.id == self.asset_id), None)

    def compose(self) -> ComposeResult:
        yield SiteHeader(id="site-header")
        with VerticalScroll(id="asset-scroll"):
            yield Static(id="asset-body")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        app = self.dr_app
        self.watch(app, "snapshot", self._render_body, init=False)
        self.watch(app, "refreshing", self._render_header, init=False)
        self.watch(app, "load_error", self._render_header, init=False)
        self._render_body()
        self.query_one("#asset-scroll").focus()
        coverage = self.coverage
        if coverage is not None:
            for remedy in remedies(coverage):
                if remedy.runbook is not None:
                    self._plans[remedy.runbook] = LOADING
                    self._load_plan(remedy)
            self._render_body()

    def _render_header(self) -> None:
        self.query_one(SiteHeader).show_app_state(self.dr_app)

    def _render_body(self) -> None:
        self._render_header()
        body = self.query_one("#asset-body", Static)
        coverage = self.coverage
        if coverage is None:
            body.update(Text(f"{self.asset_id} is no longer in the inventory (escape goes back)",
                             style="dim italic"))
            return
        now = self.dr_app.clock()
        body.update(render_asset(remedies(coverage), self._plans,
                                 write=self.dr_app.write, detail=render_detail(coverage, now)))

    # -- the plan: built in a thread (it may read the cache and the site file)

    @work(thread=True, exit_on_error=False, group="plans")
    def _load_plan(self, remedy: Remedy) -> None:
        plan = self.dr_app.load_plan(remedy)
        if not get_current_worker().is_cancelled:
            self.post_message(PlanLoaded(self.asset_id, remedy.runbook or "", plan))

    @on(PlanLoaded)
    def _plan_loaded(self, message: PlanLoaded) -> None:
        if message.asset_id == self.asset_id:
            self._plans[message.runbook] = message.plan
            self._render_body()

    # -- actions -------------------------------------------------------------

    def _runnable(self) -> list[Remedy]:
        coverage = self.coverage
        return [r for r in remedies(coverage) if r.runbook and r.writes] if coverage else []

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "run_runbook":
            # Not offered at all in read-only mode: no key, no footer, no palette entry.
            return self.dr_app.write and bool(self._runnable())
        return True

    def action_copy_command(self) -> None:
        coverage = self.coverage
        if coverage is None:
            return
        command = remedies(coverage)[0].command
        # OSC 52: reaches the operator's clipboard through SSH and tmux
        # (with set-clipboard on); the command stays on screen to select.
        self.app.copy_to_clipboard(command)
        self.notify(command, title="Copied to the clipboard", timeout=4)

    def action_run_runbook(self) -> None:
        if not self.dr_app.write:  # a second lock behind check_action
            self.notify("read-only: start dr-console with --write to run runbooks", severity="warning")
            return
        runnable = self._runnable()
        if not runnable:
            return
        self.dr_app.start_runbook(runnable[0])
