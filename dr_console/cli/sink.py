"""The CLI's face of the runbook engine: events printed with Rich in the
words `runview` gives every face, a progress bar, and the typed
confirmation read from the terminal. Without a terminal (cron, a pipe, a
dropped SSH session) a confirmation is refused, never guessed."""

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
from rich.text import Text

from dr_console import runview
from dr_console.runbooks import events


def ask_typed_name(console: Console, stdin: IO[str], expected: str) -> bool:
    """Prompt for the target's name and read one line: True only when it is
    typed exactly. The one typed confirmation of the CLI."""
    console.print(Text(runview.confirm_prompt(expected)), end="")
    try:
        answer = stdin.readline()
    except (EOFError, KeyboardInterrupt):
        answer = ""
    if answer.strip() != expected:
        console.print("[yellow]Not confirmed.[/]")
        return False
    return True


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

    def _title(self, step: str) -> str:
        return self._titles.get(step, step)

    # -- events

    def emit(self, event: events.Event) -> None:
        if self.gone:
            return
        try:
            self._emit(event)
        except OSError:
            # The terminal is gone (dropped SSH): the journal still gets
            # every event, and the hang-up signal has asked the run to stop.
            self.gone = True

    def _emit(self, event: events.Event) -> None:
        if isinstance(event, events.Progress):
            self._on_progress(event)
            return
        if not isinstance(event, events.LogLine):
            self._stop_progress()
        if isinstance(event, events.Plan):
            self._on_plan(event)
            return
        line = runview.event_line(event, self._title)
        if line is not None:
            self._print(line.styled())
        if isinstance(event, events.StepStarted) and event.step.command:
            self._print(Text(f"  $ {event.step.command}", style="dim"))
        elif isinstance(event, events.RunFinished):
            hint = runview.resume_hint(event.run_id, event.outcome)
            if hint:
                self.console.print(f"  Resume with: [bold]{escape(hint)}[/] "
                                   "(steps already done are checked and skipped)")

    def _on_plan(self, event: events.Plan) -> None:
        self._titles = runview.titles_of(event.steps)
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

    def _on_progress(self, event: events.Progress) -> None:
        if self._progress is None:
            bytes_ = event.unit == "B"
            columns = [TextColumn("  {task.description}"), BarColumn(),
                       DownloadColumn() if bytes_ else TextColumn("{task.completed:.0f} "
                                                                  + event.unit),
                       TransferSpeedColumn() if bytes_ else TextColumn(""),
                       TimeRemainingColumn(), TimeElapsedColumn()]
            self._progress = Progress(*columns, console=self.console, transient=True)
            self._progress.start()
            self._task = self._progress.add_task(self._title(event.step), total=event.total)
        assert self._task is not None
        self._progress.update(self._task, completed=event.done, total=event.total)

    def _stop_progress(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            self._task = None

    def _print(self, text: Text) -> None:
        (self._progress.console if self._progress is not None else self.console).print(text)

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
        return ask_typed_name(self.console, self.stdin, expected_text)


class MultiRunSink:
    """Several runs at once (`run payload-volume --all`): one line per run,
    redrawn in place, in `runview`'s words. Confirmations were given up
    front (the runs are started with --yes), so none is asked here."""

    def __init__(self, console: Console, names: list[str]) -> None:
        from rich.live import Live

        self.console = console
        self.lines: dict[str, Text] = {name: Text(f"{name}: waiting", style="dim") for name in names}
        self._live = Live(self._render(), console=console, transient=False, auto_refresh=False)

    def __enter__(self) -> MultiRunSink:
        self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.update(self._render(), refresh=True)
        self._live.stop()

    def _render(self) -> Table:
        table = Table.grid(padding=(0, 1))
        for line in self.lines.values():
            table.add_row(line)
        return table

    def for_run(self, name: str) -> _RunLine:
        return _RunLine(self, name)

    def update(self, name: str, text: Text) -> None:
        self.lines[name] = Text.assemble((f"{name}: ", "bold"), text)
        self._live.update(self._render(), refresh=True)

    def summary(self, results: list[object]) -> None:
        for name, result in zip(self.lines, results, strict=True):
            hint = runview.resume_hint(result.run_id, str(result.outcome))  # type: ignore[attr-defined]
            if hint:
                self.console.print(f"  {name}: resume with [bold]{escape(hint)}[/]")


class _RunLine:
    """The sink of one run in a MultiRunSink: its latest event on its line."""

    def __init__(self, parent: MultiRunSink, name: str) -> None:
        self.parent = parent
        self.name = name
        self.titles: dict[str, str] = {}

    def emit(self, event: events.Event) -> None:
        if isinstance(event, events.Plan):
            self.titles = runview.titles_of(event.steps)
            return
        if isinstance(event, events.Progress):
            return
        line = runview.event_line(event, lambda step: self.titles.get(step, step))
        if line is not None:
            self.parent.update(self.name, line.styled())

    def confirm(self, step: events.StepInfo, expected_text: str) -> bool:
        return False  # never reached: the runs are confirmed up front
