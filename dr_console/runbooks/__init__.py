"""Runbooks: ordered plans of idempotent steps, run by one engine for both
faces (CLI and TUI), journaled and resumable. Imports nothing from `tui/`.

The engine's names load on first use (PEP 562): `runbooks.events`, which
the presentation reads, must not pull in the journal and the locks."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dr_console.runbooks.engine import Result
    from dr_console.runbooks.events import Sink
    from dr_console.schema import Site

_ENGINE = ("Cancelled", "Context", "Engine", "Outcome", "Refused", "Result", "Runbook", "Step",
           "StepFailed", "run")
__all__ = [*_ENGINE, "resume"]


def __getattr__(name: str) -> Any:
    if name not in _ENGINE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.engine"), name)


def resume(run_id: str, sink: Sink, *, assume_yes: bool = False, site: Site | None = None,
           cancel: threading.Event | None = None, skip: Collection[str] = (),
           stop_after_step: threading.Event | None = None) -> Result:
    """Rebuild a journaled run from its runbook name and parameters and run
    it again under the same run id; every step re-checks the world."""
    from dr_console.runbooks import registry
    from dr_console.runbooks.engine import Engine
    from dr_console.runbooks.journal import find_run

    record = find_run(run_id)
    runbook = registry.build(record.runbook, site, record.params)
    engine = Engine(runbook, sink, assume_yes=assume_yes, run_id=record.run_id,
                    state=record.state, resuming=True, cancel=cancel, skip=skip,
                    stop_after_step=stop_after_step)
    return engine.run()
