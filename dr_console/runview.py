"""How runs read, on every face: the CLI's Rich sink, the console's runbook
screen and its history all describe an event, an outcome, a step's state
and a duration with these functions, so they never disagree.

Pure: events and journal records in, text and style names out. Only
Rich's `Text` is imported (as `present` does), never Textual or any I/O."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from rich.text import Text

from dr_console import humanize
from dr_console.runbooks import events
from dr_console.runbooks.events import INTERRUPTED, RUNNING, Outcome

# Outcomes after which a run can be resumed: every step re-checks first.
UNFINISHED = frozenset({INTERRUPTED, Outcome.ABORTED.value, Outcome.FAILED.value})
RETRYABLE = frozenset({Outcome.FAILED.value, Outcome.ABORTED.value, Outcome.REFUSED.value})

OUTCOME_STYLES: dict[str, str] = {
    Outcome.SUCCEEDED.value: "bold green",
    Outcome.DRY_RUN.value: "cyan",
    RUNNING: "cyan",
    Outcome.REFUSED.value: "yellow",
}
# Levels of the lines a run prints: a log line's own level, plus the
# engine's step and outcome lines.
LEVEL_STYLES: dict[str, str] = {"warning": "yellow", "error": "bold red", "ok": "green",
                                "step": "bold", "info": ""}
# A step's state in a plan: icon and style.
STEP_ICONS: dict[str, tuple[str, str]] = {
    "pending": ("·", "dim"), "running": ("▶", "bold"), "done": ("✓", "green"),
    "skipped": ("↷", "dim"), "failed": ("✗", "bold red"), "not reached": ("·", "dim"),
}

# The one wording of a typed confirmation, in the terminal and the console.
CONFIRM_PROMPT = "Type the name of the target ({target}) to continue: "


def outcome_style(outcome: str) -> str:
    return OUTCOME_STYLES.get(outcome, "bold red")


def outcome_text(outcome: str) -> Text:
    return Text(outcome, style=outcome_style(outcome))


def runbook_label(runbook: str, kind: str) -> str:
    """A run's runbook as both faces name it: a drill says so first."""
    return f"drill {runbook}" if kind == "drill" else runbook


def elapsed_text(seconds: float | None) -> str:
    """'4.2s' under a minute, then '3 min', '2h'; '?' when unknown."""
    if seconds is None:
        return "?"
    return f"{seconds:.1f}s" if seconds < 60 else humanize.age(seconds)


def confirm_prompt(target: str) -> str:
    return CONFIRM_PROMPT.format(target=target)


def resume_hint(run_id: str, outcome: str) -> str | None:
    """What to type to go on after a run stopped, or None."""
    if outcome not in RETRYABLE:
        return None
    yes = " --yes" if outcome == Outcome.REFUSED.value else ""
    return f"dr-console resume {run_id}{yes}"


# ---------------------------------------------------------------------------
# Events as lines


@dataclass(frozen=True)
class Line:
    level: str  # a LEVEL_STYLES key
    text: str

    def styled(self) -> Text:
        return Text(self.text, style=LEVEL_STYLES.get(self.level, ""))


def event_line(event: events.Event, title: Callable[[str], str]) -> Line | None:
    """The line an operator reads for an engine event; None for progress
    (a bar shows it). `title` gives a step id's title."""
    if isinstance(event, events.Plan):
        label = "dry run" if event.dry_run else f"run {event.run_id}"
        return Line("info", f"{label}: {event.title} on {event.target}")
    if isinstance(event, events.StepStarted):
        return Line("step", f"▶ [{event.index}/{event.total}] {event.step.title}")
    if isinstance(event, events.LogLine):
        return Line(event.level, f"  {event.text}")
    if isinstance(event, events.NeedsConfirmation):
        return Line("warning", f"  {event.reason}: waiting for the typed name {event.expected!r}")
    if isinstance(event, events.StepDone):
        return Line("ok", f"✓ {title(event.step)} ({elapsed_text(event.seconds)})")
    if isinstance(event, events.StepSkipped):
        return Line("info", f"↷ {title(event.step)}: {event.reason}")
    if isinstance(event, events.StepFailed):
        return Line("error", f"✗ {title(event.step)}: {event.message}")
    if isinstance(event, events.RunFinished):
        ok = event.outcome in (Outcome.SUCCEEDED.value, Outcome.DRY_RUN.value)
        tail = f": {event.message}" if event.message and not ok else ""
        return Line("ok" if ok else "error",
                    f"run {event.run_id} {event.outcome} after {elapsed_text(event.seconds)}{tail}")
    return None


def titles_of(steps: Iterable[events.StepInfo]) -> dict[str, str]:
    return {step.id: step.title for step in steps}


# ---------------------------------------------------------------------------
# A journal replayed


def _when(record: dict[str, Any], tz: tzinfo | None) -> datetime | None:
    try:
        return datetime.fromisoformat(record["ts"]).astimezone(tz)
    except (KeyError, ValueError, TypeError):
        return None


def clock_text(moment: datetime | None) -> str:
    """HH:MM:SS and the zone's name, as the operator's clock shows it."""
    return moment.strftime("%H:%M:%S %Z").strip() if moment else "--:--:--"


def replay_lines(records: list[dict[str, Any]], tz: tzinfo | None = None) -> list[tuple[str, Line]]:
    """(time, line) for everything the operator saw during the run, in the
    words the live faces used; times in `tz` (the operator's zone when
    None), the journal itself stays UTC."""
    titles: dict[str, str] = {}
    out: list[tuple[str, Line]] = []
    for rec in records:
        when = clock_text(_when(rec, tz))
        kind = rec.get("type")
        if kind == "header":
            out.append((when, Line("info", f"run {rec.get('run_id')} of {rec.get('runbook')} by "
                                           f"{rec.get('operator')}@{rec.get('host')}")))
        elif kind == "resume":
            out.append((when, Line("info", f"resumed by {rec.get('operator')}@{rec.get('host')}")))
        elif kind == "confirmation":
            given = "given" if rec.get("given") else "refused"
            step = str(rec.get("step", ""))
            out.append((when, Line("warning", f"  confirmation for {titles.get(step, step)}: {given}")))
        event = events.from_record(rec, titles)
        if isinstance(event, events.Plan):
            titles.update(titles_of(event.steps))
            continue  # the header said which run this is
        line = event_line(event, lambda step: titles.get(step, step)) if event is not None else None
        if line is not None:
            out.append((when, line))
    return out


# ---------------------------------------------------------------------------
# Step timings from a journal


@dataclass(frozen=True)
class StepTiming:
    id: str
    title: str
    state: str  # running | done | skipped | failed | not reached
    seconds: float | None
    note: str = ""


def step_timings(records: list[dict[str, Any]]) -> list[StepTiming]:
    """Per step of the plan: its last state and how long it took. A resumed
    run's later attempt replaces the earlier one."""
    titles: dict[str, str] = {}
    started: dict[str, datetime] = {}
    result: dict[str, StepTiming] = {}
    for rec in records:
        event = events.from_record(rec, titles)
        at = _when(rec, None)
        if isinstance(event, events.Plan):
            for info in event.steps:
                titles.setdefault(info.id, info.title)
        elif isinstance(event, events.StepStarted) and at is not None:
            step = event.step.id
            started[step] = at
            result[step] = StepTiming(step, titles.get(step, step), "running", None)
        elif isinstance(event, events.StepDone):
            result[event.step] = StepTiming(event.step, titles.get(event.step, event.step), "done",
                                            event.seconds)
        elif isinstance(event, events.StepSkipped | events.StepFailed):
            begun = started.get(event.step)
            seconds = (at - begun).total_seconds() if at and begun else None
            state = "skipped" if isinstance(event, events.StepSkipped) else "failed"
            note = event.reason if isinstance(event, events.StepSkipped) else event.message
            result[event.step] = StepTiming(event.step, titles.get(event.step, event.step), state,
                                            seconds, note)
    order = list(titles) + [s for s in result if s not in titles]
    return [result.get(s, StepTiming(s, titles.get(s, s), "not reached", None)) for s in order]


def step_text(index: int, title: str, state: str, *, destructive: bool = False,
              current: bool = False) -> Text:
    """One line of a plan: icon, number, title, a ⚠ on destructive steps."""
    icon, style = STEP_ICONS.get(state, STEP_ICONS["pending"])
    line = Text.assemble((f"{icon} ", style), (f"{index}. {title}", style))
    if destructive:
        line.append(" ⚠", style="bold yellow")
    if current:
        line.stylize("reverse")
    return line
