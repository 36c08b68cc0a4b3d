"""The runbook screen: the plan with each step's state, the current step's
guidance and equivalent command, a live log, and progress with throughput
and ETA. Reached only through `DrConsoleApp.start_runbook`, which refuses in
read-only mode.

The engine runs in a thread worker and talks back through `TuiSink`
(messages); the handlers here own every change on screen. Abort sets the
engine's cancel event: the engine stops at the step's next check, cleans up
and journals "aborted"."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Markdown, ProgressBar, RichLog, Static

from dr_console import humanize, runview
from dr_console.remedies import Remedy
from dr_console.runbooks import events
from dr_console.tui.messages import RunbookBroken, RunbookEvent, RunbookReady
from dr_console.tui.sink import TuiSink
from dr_console.tui.widgets.header import SiteHeader

if TYPE_CHECKING:
    from dr_console.runbooks.engine import Runbook
    from dr_console.runbooks.journal import RunRecord
    from dr_console.tui.app import DrConsoleApp

def render_steps(steps: list[events.StepInfo], states: dict[str, str], current: str | None) -> Text:
    text = Text()
    for index, step in enumerate(steps, 1):
        text.append_text(runview.step_text(index, step.title, states.get(step.id, "pending"),
                                           destructive=step.destructive, current=step.id == current))
        text.append("\n")
    return text


def rate_text(event: events.Progress) -> str:
    """'12.5 MiB/s · ETA 42s' (bytes) or '120 rows/s · ETA 3m 2s'."""
    parts: list[str] = []
    if event.unit == "B":
        done = humanize.size(int(event.done))
        parts.append(done if event.total is None else f"{done} of {humanize.size(int(event.total))}")
        if event.rate is not None:
            parts.append(f"{humanize.size(int(event.rate))}/s")
    else:
        total = "" if event.total is None else f" of {event.total:,.0f}"
        parts.append(f"{event.done:,.0f}{total} {event.unit}")
        if event.rate is not None:
            parts.append(f"{event.rate:,.0f} {event.unit}/s")
    if event.eta_seconds is not None:
        parts.append(f"ETA {humanize.age(event.eta_seconds)}")
    return " · ".join(parts)


class RunbookScreen(Screen[None]):
    HELP_TITLE = "Runbook"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,g", "run", "Run"),
        Binding("a", "abort", "Abort"),
        Binding("r", "retry", "Retry"),
        Binding("s", "skip", "Skip step"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, remedy: Remedy) -> None:
        super().__init__()
        self.remedy = remedy
        self.runbook: Runbook | None = None
        self.steps: list[events.StepInfo] = []
        self.states: dict[str, str] = {}
        self.current: str | None = None
        # loading -> ready -> running -> finished (or broken)
        self.phase = "loading"
        self.outcome: str | None = None
        self.run_id: str | None = None
        self.resume_id: str | None = None  # set when the operator chose to resume
        self.cancel = threading.Event()
        self._message = ""
        # Steps the operator chose to skip; passed to every (re)start.
        self.skipped: set[str] = set()

    @property
    def dr_app(self) -> DrConsoleApp:
        return cast("DrConsoleApp", self.app)

    def compose(self) -> ComposeResult:
        yield SiteHeader(id="site-header")
        yield Static(id="rb-title")
        with Horizontal(id="rb-body"):
            with VerticalScroll(id="rb-steps-box"):
                yield Static(id="rb-steps")
            with Vertical(id="rb-main"):
                yield Markdown(id="rb-guidance")
                yield Static(id="rb-command")
                yield ProgressBar(id="rb-progress", show_eta=False)
                yield Static(id="rb-rate")
                yield RichLog(id="rb-log", wrap=True, markup=False, max_lines=5000)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(SiteHeader).show_app_state(self.dr_app)
        # Shown only while a step reports progress: an idle bar would pulse.
        self._show_progress(False)
        self._render_all()
        self.query_one(RichLog).focus()
        self._prepare()

    def on_unmount(self) -> None:
        # Leaving (or quitting) must not leave an engine thread waiting on a
        # modal or running on without a face: stop it at its next check.
        self.cancel.set()

    # -- building the plan: may read the site file and the cache ----------

    @work(thread=True, exclusive=True, group="runbook-plan", exit_on_error=False)
    def _prepare(self) -> None:
        from dr_console.run_history import unfinished_run

        try:
            runbook = self.dr_app.build_runbook(self.remedy.runbook or "", dict(self.remedy.params))
            unfinished = unfinished_run(runbook.name, runbook.target)
        except Exception as exc:
            self.post_message(RunbookBroken(_describe(exc)))
            return
        self.post_message(RunbookReady(runbook, unfinished))

    @on(RunbookReady)
    def _ready(self, message: RunbookReady) -> None:
        self.runbook = message.runbook
        self.steps = [step.info({}) for step in message.runbook.steps]
        self.states = {step.id: "pending" for step in self.steps}
        self.current = self.steps[0].id if self.steps else None
        self.phase = "ready"
        self._render_all()
        self._log(runview.Line("info", "enter (or g) runs it; every step checks the world before "
                                       "it acts, destructive ones ask for the target's name"))
        if message.unfinished is not None:
            from dr_console.tui.screens.resume import ResumeScreen

            run = message.unfinished
            self.app.push_screen(ResumeScreen(run), lambda choice: self._resume_chosen(run, choice))

    def _resume_chosen(self, run: RunRecord, choice: str | None) -> None:
        if choice is None:
            self.app.pop_screen()
            return
        if choice == "resume":
            self.resume_id = run.run_id
            self.run_id = run.run_id
            # What the journal says; the steps re-check the world when run.
            self.states.update({k: ("pending" if v == "running" else v) for k, v in run.steps.items()
                                if k in self.states})
            self.current = next((s.id for s in self.steps
                                 if self.states.get(s.id) not in ("done", "skipped")), self.current)
        self._render_all()

    @on(RunbookBroken)
    def _broken(self, message: RunbookBroken) -> None:
        self.phase = "broken" if self.runbook is None else "finished"
        self.outcome = None if self.runbook is None else "failed"
        self._message = message.error
        self._log(runview.Line("error", message.error))
        self.notify(message.error, title="Runbook", severity="error", timeout=12)
        self._render_all()

    # -- the run ------------------------------------------------------------

    @work(thread=True, exclusive=True, group="runbook", exit_on_error=False)
    def _run_engine(self, resume_id: str | None, cancel: threading.Event) -> None:
        from dr_console.runbooks.engine import Engine
        from dr_console.runbooks.journal import find_run

        sink = TuiSink(self.app, self, cancel)
        try:
            if resume_id is None:
                assert self.runbook is not None
                engine = Engine(self.runbook, sink, cancel=cancel, skip=self.skipped)
            else:
                # As `runbooks.resume`, with the app's builder (it knows the site).
                record = find_run(resume_id)
                runbook = self.dr_app.build_runbook(record.runbook, record.params)
                engine = Engine(runbook, sink, run_id=record.run_id, state=record.state,
                                resuming=True, cancel=cancel, skip=self.skipped)
            result = engine.run()
        except Exception as exc:  # a held lock, an unreadable journal: said, not raised
            self.post_message(RunbookBroken(_describe(exc)))
            return
        if engine.runbook.kind == "drill":
            self._say_verdict(result.run_id)

    def _start(self, resume_id: str | None) -> None:
        self.cancel = threading.Event()  # a cancelled run's event stays set
        self.phase = "running"
        self.outcome = None
        self._message = ""
        self.refresh_bindings()
        self._render_title()
        self._run_engine(resume_id, self.cancel)

    @on(RunbookEvent)
    def _engine_event(self, message: RunbookEvent) -> None:
        self.apply(message.event)

    def apply(self, event: events.Event) -> None:
        """One engine event onto the screen (also how tests freeze a state)."""
        line = runview.event_line(event, self._title)
        if line is not None:
            self._log(line)
        if isinstance(event, events.Plan):
            self.run_id = event.run_id
            self.steps = list(event.steps)
            for step in self.steps:
                self.states.setdefault(step.id, "pending")
        elif isinstance(event, events.StepStarted):
            self._replace_step(event.step)
            self.states[event.step.id] = "running"
            self.current = event.step.id
            self.query_one(ProgressBar).update(total=None, progress=0)
            self.query_one("#rb-rate", Static).update("")
            self._show_progress(False)
            if event.step.command:
                self._log(runview.Line("info", f"  $ {event.step.command}"))
        elif isinstance(event, events.Progress):
            self._show_progress(True)
            self.query_one(ProgressBar).update(total=event.total, progress=event.done)
            self.query_one("#rb-rate", Static).update(rate_text(event))
            return  # nothing else changes: skip the re-render
        elif isinstance(event, events.LogLine | events.NeedsConfirmation):
            return
        elif isinstance(event, events.StepDone):
            self.states[event.step] = "done"
            self.notify(f"{self._title(event.step)} ({runview.elapsed_text(event.seconds)})",
                        title="Step done", timeout=4)
        elif isinstance(event, events.StepSkipped):
            self.states[event.step] = "skipped"
        elif isinstance(event, events.StepFailed):
            self.states[event.step] = "failed"
            self.notify(event.message, title=f"Step failed: {self._title(event.step)}",
                        severity="error", timeout=10)
        elif isinstance(event, events.RunFinished):
            self.phase = "finished"
            self.outcome = str(event.outcome)
            self._message = event.message
            ok = self.outcome == "succeeded"
            hint = "" if ok else " · r retries (every step re-checks first)"
            self.notify(f"{self.outcome}{hint}", title=f"Run {event.run_id}",
                        severity="information" if ok else "error", timeout=10)
            self.refresh_bindings()
        self._render_all()

    def _say_verdict(self, run_id: str) -> None:
        """A drill's verdict and where its evidence is, in the engine's
        thread once its run is over: the engine has written the report from
        the closed journal by then (writing a second one here raced it)."""
        import json

        try:
            from dr_console.runbooks.evidence import report_paths, write

            json_path, md_path = report_paths(run_id)
            if not json_path.exists():  # the engine could not write it (crash.log says why): try again
                json_path, md_path = write(run_id)
            verdict = str(json.loads(json_path.read_text())["verdict"])
        except Exception as exc:  # the run stands; only its report is missing
            self.app.call_from_thread(self._log, runview.Line("warning", f"no evidence report: {exc}"))
            return
        level = {"passed": "ok", "unverified": "warning"}.get(verdict, "error")
        self.app.call_from_thread(self._log, runview.Line(level, f"drill {verdict}; evidence: {md_path}"))

    def _replace_step(self, info: events.StepInfo) -> None:
        # A started step's command may name what earlier steps chose.
        self.steps = [info if s.id == info.id else s for s in self.steps]

    def _title(self, step_id: str) -> str:
        return next((s.title for s in self.steps if s.id == step_id), step_id)

    # -- rendering -------------------------------------------------------------

    def _show_progress(self, shown: bool) -> None:
        self.query_one(ProgressBar).display = shown
        self.query_one("#rb-rate", Static).display = shown

    def _log(self, line: runview.Line) -> None:
        self.query_one(RichLog).write(line.styled())

    def _render_title(self) -> None:
        title = Text()
        if self.runbook is None:
            name = self.remedy.runbook or self.remedy.title
            title.append(f" {name}: " + ("building the plan…" if self.phase == "loading"
                                        else f"unavailable: {self._message}"), style="bold")
            self.query_one("#rb-title", Static).update(title)
            return
        title.append(f" {self.runbook.title}", style="bold")
        title.append(f" · {self.runbook.target}")
        if self.run_id:
            title.append(f" · run {self.run_id}", style="dim")
        if self.phase == "ready":
            status, style = ("ready: enter resumes it" if self.resume_id else "ready: enter runs it"), ""
        elif self.phase == "running":
            status, style = "running… a aborts", "bold"
        else:
            status = self.outcome or self.phase
            style = "bold green" if status == "succeeded" else "bold red"
        title.append(f" · {status}", style=style)
        self.query_one("#rb-title", Static).update(title)

    def _render_all(self) -> None:
        self._render_title()
        self.query_one("#rb-steps", Static).update(render_steps(self.steps, self.states, self.current))
        step = next((s for s in self.steps if s.id == self.current), None)
        guidance = self.query_one("#rb-guidance", Markdown)
        command = self.query_one("#rb-command", Static)
        if step is None:
            guidance.update("")
            command.update("")
            return
        body = step.guidance or "_No guidance for this step._"
        if step.destructive:
            body += f"\n\n**Destructive**: you will be asked to type `{step.target}`."
        guidance.update(f"### {step.title}\n\n{body}")
        command.update(Text.assemble(("$ ", "dim"), (step.command or "(no equivalent command)", "cyan")))

    # -- actions ----------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "run":
            return self.phase == "ready" and self.dr_app.write
        if action == "abort":
            return self.phase == "running"
        if action == "retry":
            return self.phase == "finished" and self.outcome in runview.RETRYABLE and self.dr_app.write
        if action == "skip":
            return self.dr_app.write and self._skippable_step() is not None
        if action == "back":
            return self.phase != "running"
        return True

    def _skippable_step(self) -> events.StepInfo | None:
        """The step a skip would apply to: the one that stopped the run (or,
        before a run, the first step), if it allows skipping."""
        if self.phase not in ("ready", "finished") or self.outcome == "succeeded":
            return None
        step_id = self.current or (self.steps[0].id if self.steps else None)
        step = next((s for s in self.steps if s.id == step_id), None)
        if step is None or not step.skippable or step.id in self.skipped:
            return None
        return step

    def action_run(self) -> None:
        if not self.dr_app.write or self.phase != "ready":  # a second lock behind check_action
            return
        self._start(self.resume_id)

    def action_retry(self) -> None:
        if not self.dr_app.write or self.phase != "finished" or self.run_id is None:
            return
        # The same run again: same journal, and each step asks the world
        # whether it is done before doing anything.
        self.resume_id = self.run_id
        self.states = {step.id: "pending" for step in self.steps}
        self._start(self.run_id)

    def action_skip(self) -> None:
        """Skip the stopped step and go on: the run resumes, and the journal
        records that the operator skipped it."""
        step = self._skippable_step()
        if step is None or not self.dr_app.write:
            return
        self.skipped.add(step.id)
        self._log(runview.Line("warning", f"skipping {step.title} (operator's choice)"))
        if self.phase == "finished":
            self.action_retry()

    def action_abort(self) -> None:
        if self.phase != "running":
            return
        self.cancel.set()
        self._log(runview.Line("warning", "abort asked: the step stops at its next check and cleans up"))
        self.notify("aborting at the step's next check…", title="Abort", severity="warning", timeout=5)

    def action_back(self) -> None:
        if self.phase == "running":
            self.notify("a run is in progress: a aborts it first", severity="warning", timeout=4)
            return
        self.app.pop_screen()


def _describe(exc: BaseException) -> str:
    from dr_console.tui.app import describe_error

    return describe_error(exc)
