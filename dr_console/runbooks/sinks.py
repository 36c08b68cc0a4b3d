"""The CLI's face of the engine: Rich output for runbook events, and the
typed confirmation read from the terminal. Without a terminal (cron, a
pipe, a dropped SSH session) a confirmation is refused, never guessed."""

from __future__ import annotations

import sys
from typing import IO

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from dr_console import humanize
from dr_console.runbooks import events

PROMPT = "Type the name of the target ({target}) to continue: "


def duration_short(seconds: float) -> str:
    return f"{seconds:.1f}s" if seconds < 60 else humanize.age(seconds)


class RichSink:
    def __init__(self, console: Console | None = None, stdin: IO[str] | None = None,
                 interactive: bool | None = None) -> None:
        self.console = console or Console(highlight=False)
        self.stdin = stdin or sys.stdin
        self.interactive = self.stdin.isatty() if interactive is None else interactive
        self._titles: dict[str, str] = {}
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self.refused = False
        self.gone = False

    # -- events

    def emit(self, event: events.Event) -> None:
        handler = getattr(self, f"_on_{type(event).__name__}", None)
        if handler is None or self.gone:
            return
        try:
            handler(event)
        except OSError:
            # The terminal is gone (dropped SSH): the journal still gets
            # every event, and the hang-up signal has asked the run to stop.
            self.gone = True

    def _on_Plan(self, event: events.Plan) -> None:
        self._titles = {s.id: s.title for s in event.steps}
        heading = "Dry run: nothing will be touched" if event.dry_run else f"Run {event.run_id}"
        table = Table(title=f"{event.title} — {event.target}", caption=heading,
                      show_lines=True, expand=False)
        table.add_column("#", justify="right")
        table.add_column("step")
        table.add_column("equivalent command", overflow="fold")
        for index, step in enumerate(event.steps, 1):
            name = escape(step.title)
            if step.destructive:
                name += f"\n[bold red]DESTRUCTIVE[/] (type [bold]{escape(step.target)}[/])"
            table.add_row(str(index), name, escape(step.command))
        self.console.print(table)

    def _on_StepStarted(self, event: events.StepStarted) -> None:
        self.console.print(f"[bold]▶ [{event.index}/{event.total}] {escape(event.step.title)}[/]")
        if event.step.command:
            self.console.print(f"  [dim]$ {escape(event.step.command)}[/]", soft_wrap=True)

    def _on_Progress(self, event: events.Progress) -> None:
        if self._progress is None:
            bytes_ = event.unit == "B"
            columns = [TextColumn("  {task.description}"), BarColumn(),
                       DownloadColumn() if bytes_ else TextColumn("{task.completed:.0f} "
                                                                  + event.unit),
                       TransferSpeedColumn() if bytes_ else TextColumn(""),
                       TimeRemainingColumn(), TimeElapsedColumn()]
            self._progress = Progress(*columns, console=self.console, transient=True)
            self._progress.start()
            self._task = self._progress.add_task(self._titles.get(event.step, event.step),
                                                 total=event.total)
        assert self._task is not None
        self._progress.update(self._task, completed=event.done, total=event.total)

    def _stop_progress(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            self._task = None

    def _on_LogLine(self, event: events.LogLine) -> None:
        style = "yellow" if event.level == "warning" else "dim"
        self._print(f"  [{style}]{escape(event.text)}[/]")

    def _on_NeedsConfirmation(self, event: events.NeedsConfirmation) -> None:
        self._stop_progress()
        self.console.print(f"  [bold yellow]! {escape(event.reason)}[/]")

    def _on_StepDone(self, event: events.StepDone) -> None:
        self._stop_progress()
        title = escape(self._titles.get(event.step, event.step))
        self.console.print(f"[green]✓ {title}[/] [dim]({duration_short(event.seconds)})[/]")

    def _on_StepSkipped(self, event: events.StepSkipped) -> None:
        self._stop_progress()
        title = escape(self._titles.get(event.step, event.step))
        self.console.print(f"[cyan]↷ {title}[/] [dim]— {escape(event.reason)}[/]")

    def _on_StepFailed(self, event: events.StepFailed) -> None:
        self._stop_progress()
        title = escape(self._titles.get(event.step, event.step))
        self.console.print(f"[bold red]✗ {title}:[/] {escape(event.message)}")

    def _on_RunFinished(self, event: events.RunFinished) -> None:
        self._stop_progress()
        colour = {"succeeded": "green", "dry-run": "cyan"}.get(event.outcome, "red")
        self.console.print(f"[bold {colour}]Run {event.run_id}: {event.outcome}[/] "
                           f"[dim]({duration_short(event.seconds)})[/]")
        if event.outcome in ("failed", "aborted", "refused"):
            hint = " --yes" if event.outcome == "refused" else ""
            self.console.print(f"  Resume with: [bold]dr-console resume {event.run_id}{hint}[/] "
                               "(steps already done are checked and skipped)")

    def _print(self, text: str) -> None:
        if self._progress is not None:
            self._progress.console.print(text)
        else:
            self.console.print(text)

    # -- confirmation

    def confirm(self, step: events.StepInfo, expected_text: str) -> bool:
        self._stop_progress()
        if not self.interactive or self.gone:
            self.refused = True
            self.console.print(
                f"[bold red]Refused:[/] '{escape(step.title)}' needs the typed name "
                f"{escape(expected_text)!r} and there is no terminal to ask; "
                "run again with --yes to confirm in advance.")
            return False
        self.console.print(f"[bold]{escape(step.title)}[/] touches "
                           f"[bold red]{escape(expected_text)}[/].")
        try:
            self.console.print(PROMPT.format(target=escape(expected_text)), end="")
            answer = self.stdin.readline()
        except (EOFError, KeyboardInterrupt):
            answer = ""
        if answer.strip() != expected_text:
            self.console.print("[yellow]Not confirmed.[/]")
            return False
        return True
