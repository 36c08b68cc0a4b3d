"""What the runbook engine tells its faces. Plain, immutable data: the CLI
renders it with Rich, the TUI turns it into Textual messages, the journal
writes it as JSON lines. Nothing here knows about screens."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import Any, Protocol


class Outcome(StrEnum):
    """How a run ended, as the journal and every face name it."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABORTED = "aborted"  # cancelled: Ctrl-C, a hang-up, the console's abort
    REFUSED = "refused"  # a confirmation was not given
    DRY_RUN = "dry-run"

    @property
    def exit_code(self) -> int:
        return {Outcome.SUCCEEDED: 0, Outcome.DRY_RUN: 0, Outcome.FAILED: 1,
                Outcome.REFUSED: 2, Outcome.ABORTED: 130}[self]


# A run the journal shows with no end: killed, or still going (its lock says which).
INTERRUPTED = "interrupted"
RUNNING = "running"


@dataclass(frozen=True)
class StepInfo:
    """A step as the operator sees it in the plan."""

    id: str
    title: str
    guidance: str  # Markdown
    command: str  # the equivalent an operator could type by hand; never a secret
    destructive: bool
    target: str  # the name to type to confirm a destructive step
    skippable: bool = False  # the operator may skip it (nothing later relies on it)


@dataclass(frozen=True)
class Plan:
    run_id: str
    runbook: str
    title: str
    target: str  # the lock target, e.g. mysql:metadata-db/nova
    steps: tuple[StepInfo, ...]
    dry_run: bool = False
    kind: str = "restore"  # restore | drill


@dataclass(frozen=True)
class StepStarted:
    step: StepInfo
    index: int  # 1-based
    total: int


@dataclass(frozen=True)
class Progress:
    step: str
    done: float
    total: float | None
    unit: str  # "B", "rows", "tables"...
    rate: float | None  # units per second
    eta_seconds: float | None


@dataclass(frozen=True)
class LogLine:
    step: str
    text: str
    level: str = "info"  # info | warning


@dataclass(frozen=True)
class NeedsConfirmation:
    step: str
    expected: str
    reason: str


@dataclass(frozen=True)
class StepDone:
    step: str
    seconds: float


@dataclass(frozen=True)
class StepSkipped:
    step: str
    reason: str


@dataclass(frozen=True)
class StepFailed:
    step: str
    message: str


@dataclass(frozen=True)
class RunFinished:
    run_id: str
    outcome: str  # an Outcome value
    seconds: float
    message: str = ""


Event = (Plan | StepStarted | Progress | LogLine | NeedsConfirmation | StepDone | StepSkipped
         | StepFailed | RunFinished)


def to_record(event: Event) -> dict[str, Any]:
    """The event as a JSON-ready dict with its type name."""
    data = {f.name: getattr(event, f.name) for f in fields(event)}
    if isinstance(event, Plan):
        data["steps"] = [asdict(s) for s in event.steps]
    elif isinstance(event, StepStarted):
        data["step"] = event.step.id
    return {"event": type(event).__name__, **data}


_EVENTS: dict[str, type] = {cls.__name__: cls for cls in (
    Plan, StepStarted, Progress, LogLine, NeedsConfirmation, StepDone, StepSkipped, StepFailed,
    RunFinished)}


def from_record(record: dict[str, Any], titles: dict[str, str] | None = None) -> Event | None:
    """The event a journal record holds (see `to_record`), or None for a
    record of another type or an unknown event. A StepStarted record names
    its step only: `titles` (from the run's Plan) gives it its title back."""
    cls = _EVENTS.get(str(record.get("event", ""))) if record.get("type") == "event" else None
    if cls is None:
        return None
    names = {f.name for f in fields(cls)}
    data = {k: v for k, v in record.items() if k in names}
    try:
        if cls is Plan:
            data["steps"] = tuple(StepInfo(**s) for s in data.get("steps", []))
        elif cls is StepStarted:
            step = str(data.get("step", ""))
            data["step"] = StepInfo(step, (titles or {}).get(step, step), "", "", False, "")
        event: Event = cls(**data)
    except TypeError:  # a record from another version: shown as nothing, not as a crash
        return None
    return event


class Sink(Protocol):
    """Where the engine sends events, and who answers confirmations."""

    def emit(self, event: Event) -> None: ...

    def confirm(self, step: StepInfo, expected_text: str) -> bool: ...
