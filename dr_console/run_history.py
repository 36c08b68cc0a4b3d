"""Past runs as the journal and the locks tell them: every run with its
status (a run without an end is "running" while its lock is held,
"interrupted" otherwise), and which run of a target is unfinished.

Reads files (the journal, the lock files): call it from a worker in the
console. How runs *read* is `runview`'s business."""

from __future__ import annotations

from dr_console.runbooks.journal import RunRecord, iter_runs, run_status
from dr_console.runview import UNFINISHED


def with_status(runs: list[RunRecord]) -> list[RunRecord]:
    """The same records, each outcome replaced by `run_status` (running or
    interrupted, for a run with no end; the journal is never rewritten)."""
    for run in runs:
        run.outcome = run_status(run)
    return runs


def runs_newest_first() -> list[RunRecord]:
    """Every readable run with its status; blocks on the disk."""
    return with_status(sorted(iter_runs(), key=lambda r: r.started, reverse=True))


def unfinished_run(runbook: str, target: str) -> RunRecord | None:
    """The latest run of this runbook on this target, if it stopped before
    it finished (a run still going is not offered for resuming); a later
    success means the older failure needs nothing more."""
    for run in runs_newest_first():
        if run.runbook == runbook and run.target == target:
            return run if run.outcome in UNFINISHED else None
    return None
