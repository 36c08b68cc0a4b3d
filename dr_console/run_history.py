"""Past runs as the journal tells them: which one is unfinished for a
target, how long each step took, and the run's log replayed as lines.

Plain functions over journal records (no Textual): the TUI's history and
runbook screens use them, and a CLI could."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dr_console.runbooks.journal import RunRecord, iter_runs

# A run that stopped before it finished: resuming it re-checks every step.
UNFINISHED = frozenset({"interrupted", "aborted", "failed"})


def runs_newest_first() -> list[RunRecord]:
    """Every readable run; blocks on the disk (call it from a worker)."""
    return sorted(iter_runs(), key=lambda r: r.started, reverse=True)


def unfinished_run(runbook: str, target: str) -> RunRecord | None:
    """The latest run of this runbook on this target, if it did not finish;
    a later success means the older failure needs nothing more."""
    for run in runs_newest_first():
        if run.runbook == runbook and run.target == target:
            return run if run.outcome in UNFINISHED else None
    return None


@dataclass(frozen=True)
class StepTiming:
    id: str
    title: str
    outcome: str  # running | done | skipped | failed | not reached
    seconds: float | None
    note: str = ""


def _ts(record: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(record["ts"])
    except (KeyError, ValueError):
        return None


def step_timings(records: list[dict[str, Any]]) -> list[StepTiming]:
    """Per step of the plan: its last outcome and how long it took. A resumed
    run's later attempt replaces the earlier one."""
    titles: dict[str, str] = {}
    started: dict[str, datetime] = {}
    result: dict[str, StepTiming] = {}
    for rec in records:
        if rec.get("type") != "event":
            continue
        name, step, at = rec.get("event"), str(rec.get("step", "")), _ts(rec)
        if name == "Plan":
            for info in rec.get("steps", []):
                titles.setdefault(info["id"], info.get("title", info["id"]))
        elif name == "StepStarted" and at is not None:
            started[step] = at
            result[step] = StepTiming(step, titles.get(step, step), "running", None)
        elif name == "StepDone":
            result[step] = StepTiming(step, titles.get(step, step), "done", rec.get("seconds"))
        elif name in ("StepSkipped", "StepFailed"):
            begun = started.get(step)
            seconds = (at - begun).total_seconds() if at and begun else None
            outcome = "skipped" if name == "StepSkipped" else "failed"
            note = str(rec.get("reason") or rec.get("message") or "")
            result[step] = StepTiming(step, titles.get(step, step), outcome, seconds, note)
    order = list(titles) + [s for s in result if s not in titles]
    return [result.get(s, StepTiming(s, titles.get(s, s), "not reached", None)) for s in order]


def replay_lines(records: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(time, level, text) for every line the operator saw during the run."""
    lines: list[tuple[str, str, str]] = []
    for rec in records:
        at = _ts(rec)
        when = at.strftime("%H:%M:%S") if at else "--:--:--"
        kind = rec.get("type")
        if kind == "header":
            lines.append((when, "info", f"run {rec.get('run_id')} of {rec.get('runbook')} by "
                                        f"{rec.get('operator')}@{rec.get('host')}"))
        elif kind == "resume":
            lines.append((when, "info", f"resumed by {rec.get('operator')}@{rec.get('host')}"))
        elif kind == "confirmation":
            given = "given" if rec.get("given") else "refused"
            lines.append((when, "warning", f"confirmation for {rec.get('step')}: {given}"))
        elif kind != "event":
            continue
        name = rec.get("event")
        step = rec.get("step", "")
        if name == "StepStarted":
            lines.append((when, "step", f"▶ {step}"))
        elif name == "LogLine":
            lines.append((when, str(rec.get("level", "info")), f"  {rec.get('text', '')}"))
        elif name == "StepDone":
            lines.append((when, "ok", f"✓ {step} ({rec.get('seconds')}s)"))
        elif name == "StepSkipped":
            lines.append((when, "info", f"↷ {step}: {rec.get('reason', '')}"))
        elif name == "StepFailed":
            lines.append((when, "error", f"✗ {step}: {rec.get('message', '')}"))
        elif name == "RunFinished":
            lines.append((when, "info", f"run finished: {rec.get('outcome')} "
                                        f"{rec.get('message', '')}".rstrip()))
    return lines
