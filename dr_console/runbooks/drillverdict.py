"""What a drill leaves beside the copy it restored, shared by the drill
runbooks: the record of a drill that passed (its last step) and, whatever
happened, the record of one whose checks of the copy's *content* failed —
so the inventory stops calling that copy good.

A check is about the content when the runbook says so when it records it
(`ctx.evidence(..., about=COPY)`): a filesystem check, files, sha256 lists,
row counts. A failed smoke command, an unreachable scratch server or a
quota say nothing about the copy and are never held against it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dr_console import drillrecord
from dr_console.runbooks.engine import Context, Step

COPY = "copy"  # the value of `about` for checks of the copy's content

WriteRecord = Callable[[Context, drillrecord.DrillRecord], None]


def content_failures(state: dict[str, Any]) -> dict[str, str]:
    """Check name -> first line of its detail, for each failed content check."""
    evidence = state.get("evidence", {})
    return {name: (check.get("detail") or "failed").strip().splitlines()[0][:200]
            for name, check in evidence.items()
            if check.get("about") == COPY and check.get("passed") is False}


def failed_checks(state: dict[str, Any]) -> list[str]:
    """Every failed check, for refusing to record a drill as passed."""
    return [name for name, check in state.get("evidence", {}).items() if check.get("passed") is False]


def record_failure_step(write: WriteRecord, location: Callable[[dict[str, Any]], str]) -> Step:
    """A finally step: when the copy's content failed a check, record that
    beside the copy. It never fails the cleanup; a record it could not write
    is a warning in the log and the report."""

    def action(ctx: Context) -> None:
        failures = content_failures(ctx.state)
        if not failures:
            ctx.log("no check of the copy's content failed: nothing to record against it")
            return
        if not ctx.state.get("copy"):
            return
        reason = "; ".join(f"{name}: {detail}" for name, detail in failures.items())
        checks = {name: {"passed": c.get("passed"), "detail": c.get("detail", "")[:500]}
                  for name, c in ctx.state.get("evidence", {}).items()}
        record = drillrecord.failed(ctx.run_id, location(ctx.state), reason, checks)
        try:
            write(ctx, record)
        except Exception as exc:  # the store or cloud is down: say so, clean up anyway
            ctx.log(f"could not record the failed drill beside the copy: {exc}", "warning")
            return
        ctx.log(f"recorded beside {location(ctx.state)}: its content failed this drill, so the "
                "inventory no longer counts it as a good copy", "warning")

    return Step("record-failure", "Record a failed content check beside the copy (always)",
                lambda ctx: False, action,
                guidance="Only when a check of the copy's content failed: the copy is marked as "
                         "having failed its drill (with the reason), and every operator's "
                         "inventory falls back to an older good copy.",
                command=lambda state: f"# dr:drill-verdict=failed on {location(state)}")
