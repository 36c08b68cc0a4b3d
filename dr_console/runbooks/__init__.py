"""Runbooks: ordered plans of idempotent steps, run by one engine for both
faces (CLI and TUI), journaled and resumable. Imports nothing from `tui/`."""

from __future__ import annotations

import threading
from collections.abc import Collection
from typing import TYPE_CHECKING

from dr_console.runbooks.engine import (
    Cancelled,
    Context,
    Engine,
    Outcome,
    Refused,
    Result,
    Runbook,
    Step,
    StepFailed,
    run,
)

if TYPE_CHECKING:
    from dr_console.runbooks.events import Sink
    from dr_console.schema import Site

__all__ = ["Cancelled", "Context", "Engine", "Outcome", "Refused", "Result", "Runbook", "Step", "StepFailed",
           "resume", "run"]


def resume(run_id: str, sink: Sink, *, assume_yes: bool = False, site: Site | None = None,
           cancel: threading.Event | None = None, skip: Collection[str] = ()) -> Result:
    """Rebuild a journaled run from its runbook name and parameters and run
    it again under the same run id; every step re-checks the world."""
    from dr_console.runbooks import registry
    from dr_console.runbooks.journal import find_run

    record = find_run(run_id)
    runbook = registry.build(record.runbook, site, record.params)
    engine = Engine(runbook, sink, assume_yes=assume_yes, run_id=record.run_id,
                    state=record.state, resuming=True, cancel=cancel, skip=skip)
    return engine.run()
