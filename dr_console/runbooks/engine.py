"""The runbook engine: runs an ordered plan of steps, each with a check
("already done?", asked of the real world), an action and a verification.

It knows nothing of screens: it emits events to a sink (the CLI's Rich
sink, the TUI's message pump, a test's list) and journals every one of
them. On resume the same runbook is rebuilt from its name and parameters
and every step's check runs again, so a finished destructive step is
skipped, never repeated."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from dr_console.errors import DrConsoleError
from dr_console.runbooks import events
from dr_console.runbooks.events import Outcome
from dr_console.runbooks.journal import CommandFile, Journal, commands_path, new_run_id, short_id
from dr_console.runbooks.locks import TargetLock

# Progress events reach the sink at most this often (a bar needs no more),
# and the journal far less often (it is fsynced).
_PROGRESS_SINK_INTERVAL = 0.1
_PROGRESS_JOURNAL_INTERVAL = 5.0


class StepFailed(DrConsoleError):
    """A step's action or verification failed; the message is for the operator."""

    exit_code = 1


class Cancelled(DrConsoleError):
    """The operator cancelled the run."""

    exit_code = 130

    def __init__(self, message: str = "cancelled by the operator") -> None:
        super().__init__(message)


class Refused(DrConsoleError):
    """A confirmation a step asked for was not given; nothing was changed."""

    exit_code = 2


# True (or a reason, as text) when the step has nothing left to do.
Check = Callable[["Context"], "bool | str"]

RESTORE = "restore"
DRILL = "drill"
Action = Callable[["Context"], None]


def _nothing(ctx: Context) -> None:
    return None


@dataclass
class Step:
    id: str
    title: str
    check: Check
    action: Action
    verify: Action = _nothing
    guidance: str = ""
    # The equivalent shell command; a callable gets the run's state, so a
    # command can name what an earlier step chose (the copy, the schema).
    command: str | Callable[[dict[str, Any]], str] = ""
    destructive: bool = False
    target: str = ""
    # Undoes a half-done action when it is cancelled or fails midway.
    cleanup: Action | None = None
    # Only steps nothing later relies on (a smoke check of a service that is
    # not up yet) may be skipped by the operator.
    skippable: bool = False

    def info(self, state: dict[str, Any]) -> events.StepInfo:
        command = self.command(state) if callable(self.command) else self.command
        return events.StepInfo(self.id, self.title, self.guidance, command, self.destructive,
                               self.target, self.skippable)


@dataclass
class Runbook:
    name: str  # the registry key, so `resume` can rebuild it
    title: str
    target: str  # the lock target, e.g. mysql:metadata-db/nova
    params: dict[str, Any]  # plain, JSON-able, never a secret
    steps: list[Step]
    site_file: str = ""
    kind: str = RESTORE  # RESTORE, or DRILL: the same steps against scratch targets
    # Run after the steps whatever happened (a drill's cleanup): also after a
    # failure or a cancel, and alone by `drill cleanup` after a kill -9. Each
    # finds what to remove by the run's tag or name, never by the journal.
    finally_steps: list[Step] = field(default_factory=list)


class _State(dict[str, Any]):
    """A dict that journals itself whenever it changes."""

    def __init__(self, initial: dict[str, Any], on_change: Callable[[dict[str, Any]], None]) -> None:
        super().__init__(initial)
        self._on_change = on_change

    def _changed(self) -> None:
        self._on_change(dict(self))

    def __setitem__(self, key: str, value: Any) -> None:
        if key in self and self[key] == value:
            return
        super().__setitem__(key, value)
        self._changed()

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._changed()

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        super().update(*args, **kwargs)
        self._changed()

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def pop(self, key: str, *default: Any) -> Any:  # type: ignore[override]
        had = key in self
        value = super().pop(key, *default)
        if had:
            self._changed()
        return value


class Context:
    """What a step's callables get: the run's identity, its parameters, its
    persisted state, and ways to report progress and honour a cancel."""

    def __init__(self, run_id: str, params: dict[str, Any], state: dict[str, Any],
                 cancel: threading.Event, engine: Engine) -> None:
        self.run_id = run_id
        self.short_id = short_id(run_id)
        self.params = params
        self.cancel_event = cancel
        self._engine = engine
        self.state: dict[str, Any] = _State(state, engine._state_changed)
        self.step_id = ""
        self._step_started = time.monotonic()
        self._last_progress = 0.0
        self._last_journaled = 0.0

    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def raise_if_cancelled(self) -> None:
        if self.cancel_event.is_set():
            raise Cancelled()

    def log(self, text: str, level: str = "info") -> None:
        self._engine._emit(events.LogLine(self.step_id, text, level))

    def progress(self, done: float, total: float | None = None, unit: str = "B") -> None:
        now = time.monotonic()
        final = total is not None and done >= total
        if not final and now - self._last_progress < _PROGRESS_SINK_INTERVAL:
            return
        self._last_progress = now
        elapsed = now - self._step_started
        rate = done / elapsed if elapsed > 0 else None
        eta = (total - done) / rate if rate and total is not None and total >= done else None
        event = events.Progress(self.step_id, done, total, unit, rate, eta)
        journal = final or now - self._last_journaled >= _PROGRESS_JOURNAL_INTERVAL
        if journal:
            self._last_journaled = now
        self._engine._emit(event, journal=journal)

    def confirm(self, expected: str, reason: str) -> bool:
        """A typed confirmation asked by a step itself (e.g. an unverified
        copy); True at once when the operator ran with --yes."""
        return self._engine._confirm(self.step_id, expected, reason)

    def evidence(self, check: str, passed: bool | None, detail: str = "", **data: Any) -> None:
        """Record one check for the run's evidence report: passed True or
        False, or None for a check that could not run (a run with such a
        check is reported unverified, never passed). Journaled with the state."""
        record = {"step": self.step_id, "passed": passed, "detail": detail, **data}
        self.state["evidence"] = {**self.state.get("evidence", {}), check: record}

    def _enter_step(self, step_id: str) -> None:
        self.step_id = step_id
        self._step_started = time.monotonic()
        self._last_progress = 0.0
        self._last_journaled = 0.0


@dataclass
class Result:
    run_id: str
    outcome: Outcome
    message: str = ""
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return self.outcome.exit_code


class Engine:
    """Runs one runbook once (or resumes it)."""

    def __init__(self, runbook: Runbook, sink: events.Sink, *, assume_yes: bool = False,
                 dry_run: bool = False, cancel: threading.Event | None = None,
                 run_id: str | None = None, state: dict[str, Any] | None = None,
                 resuming: bool = False, skip: Collection[str] = (),
                 stop_after_step: threading.Event | None = None) -> None:
        unknown = set(skip) - {s.id for s in runbook.steps}
        if unknown:
            raise DrConsoleError(f"no step {', '.join(sorted(unknown))} in {runbook.name} "
                                 f"(steps: {', '.join(s.id for s in runbook.steps)})")
        fixed = [s.id for s in runbook.steps if s.id in skip and not s.skippable]
        if fixed:
            raise DrConsoleError(f"step {', '.join(fixed)} cannot be skipped: later steps rely on it")
        self.skip = frozenset(skip)
        self.runbook = runbook
        self.sink = sink
        self.assume_yes = assume_yes
        self.dry_run = dry_run
        self.cancel = cancel or threading.Event()
        # Set when the terminal hangs up: the running step finishes (a load
        # cut short is work thrown away), then the run stops, resumable.
        self.stop_after_step = stop_after_step or threading.Event()
        self.run_id = run_id or new_run_id()
        self.resuming = resuming
        self._journal: Journal | None = None
        self.ctx = Context(self.run_id, runbook.params, dict(state or {}), self.cancel, self)

    # -- plumbing used by Context

    def _emit(self, event: events.Event, *, journal: bool = True) -> None:
        if journal and self._journal is not None:
            self._journal.write("event", **events.to_record(event))
        self.sink.emit(event)

    def _state_changed(self, state: dict[str, Any]) -> None:
        if self._journal is not None:
            self._journal.write("state", state=state)

    def _confirm(self, step_id: str, expected: str, reason: str) -> bool:
        if self.assume_yes:
            self._emit(events.LogLine(step_id, f"confirmed by --yes: {reason}"))
            return True
        self._emit(events.NeedsConfirmation(step_id, expected, reason))
        step = next(s for s in self.runbook.steps if s.id == step_id)
        answer = bool(self.sink.confirm(step.info(dict(self.ctx.state)), expected))
        if self._journal is not None:
            self._journal.write("confirmation", step=step_id, expected=expected, given=answer)
        return answer

    # -- the run

    def plan(self) -> events.Plan:
        state = dict(self.ctx.state)
        steps = [*self.runbook.steps, *self.runbook.finally_steps]
        return events.Plan(self.run_id, self.runbook.name, self.runbook.title,
                           self.runbook.target, tuple(s.info(state) for s in steps),
                           self.dry_run, self.runbook.kind)

    def run(self) -> Result:
        if self.dry_run:
            # Touches nothing: no lock, no journal, no check.
            self.sink.emit(self.plan())
            self.sink.emit(events.RunFinished(self.run_id, Outcome.DRY_RUN, 0.0))
            return Result(self.run_id, Outcome.DRY_RUN)
        from dr_console import commandlog

        # Every API call, S3 request, SQL statement class and SSH command of
        # the run goes beside its journal, whichever face started it.
        commandlog.install_hooks()
        with TargetLock(self.runbook.target, self.run_id):
            self._journal = Journal(self.run_id)
            commands = CommandFile(commands_path(self.run_id))
            unsubscribe = commandlog.subscribe(commands.write)
            try:
                return self._run_locked()
            finally:
                unsubscribe()
                commands.close()
                self._journal.close()
                self._journal = None
                self._write_evidence()

    def _write_evidence(self) -> None:
        """The run's evidence report beside its journal; a report that cannot
        be written must not turn a restore into a failure (crash.log says why)."""
        from dr_console import crashlog
        from dr_console.runbooks import evidence

        try:
            evidence.write(self.run_id)
        except Exception as exc:  # the journal stands; `dr-console report` can try again
            crashlog.write(exc)

    def _run_locked(self) -> Result:
        assert self._journal is not None
        rb = self.runbook
        if self.resuming:
            import getpass
            import os
            import socket

            self._journal.write("resume", operator=getpass.getuser(), host=socket.gethostname(),
                                pid=os.getpid())
        else:
            self._journal.header(rb.name, rb.params, rb.target, rb.site_file, kind=rb.kind)
            self._journal.write("state", state=dict(self.ctx.state))
        started = time.monotonic()
        self._emit(self.plan())
        outcome, message = Outcome.SUCCEEDED, ""
        total = len(rb.steps) + len(rb.finally_steps)
        for index, step in enumerate(rb.steps, 1):
            outcome, message = self._run_step(step, index, total)
            if outcome is not Outcome.SUCCEEDED:
                break
            if self.stop_after_step.is_set() and index < total:
                outcome = Outcome.ABORTED
                message = (f"the terminal hung up during {step.title!r}: that step was finished, "
                           f"the run stops here; `dr-console resume {self.run_id}` goes on")
                self._emit(events.LogLine(step.id, message, "warning"))
                break
        left = self._run_finally()
        if left and outcome is Outcome.SUCCEEDED:
            outcome, message = Outcome.FAILED, f"cleanup left {left}"
        elif left:
            message = f"{message}; cleanup left {left}"
        seconds = time.monotonic() - started
        self._emit(events.RunFinished(self.run_id, outcome, round(seconds, 3), message))
        return Result(self.run_id, outcome, message, dict(self.ctx.state))

    def _run_finally(self) -> str:
        """The finally steps, whatever happened before, not cancellable (a
        cancel is why they must run). Returns what they could not remove."""
        steps = self.runbook.finally_steps
        if not steps:
            return ""
        ctx = self.ctx
        cancel, ctx.cancel_event = ctx.cancel_event, threading.Event()
        problems: list[str] = []
        try:
            total = len(self.runbook.steps) + len(steps)
            for index, step in enumerate(steps, len(self.runbook.steps) + 1):
                outcome, message = self._run_step(step, index, total, cancellable=False)
                if outcome is not Outcome.SUCCEEDED:
                    problems.append(message)
        finally:
            ctx.cancel_event = cancel
        ctx.state["cleanup"] = {"ok": not problems, "left": problems}
        return "; ".join(problems)

    def run_cleanup(self) -> Result:
        """Only the finally steps, under the run's lock and journal: `drill
        cleanup` after a run was killed before its own cleanup."""
        with TargetLock(self.runbook.target, self.run_id):
            self._journal = Journal(self.run_id)
            try:
                import getpass
                import os
                import socket

                self._journal.write("resume", operator=getpass.getuser(), host=socket.gethostname(),
                                    pid=os.getpid(), cleanup_only=True)
                started = time.monotonic()
                left = self._run_finally()
                outcome = Outcome.FAILED if left else Outcome.ABORTED
                message = f"cleanup left {left}" if left else "cleaned up after an interrupted run"
                self._emit(events.RunFinished(self.run_id, outcome, round(time.monotonic() - started, 3),
                                              message))
                return Result(self.run_id, outcome, message, dict(self.ctx.state))
            finally:
                self._journal.close()
                self._journal = None
                self._write_evidence()

    def _run_step(self, step: Step, index: int, total: int, *,
                  cancellable: bool = True) -> tuple[Outcome, str]:
        ctx = self.ctx
        ctx._enter_step(step.id)
        if cancellable and self.cancel.is_set():
            self._emit(events.StepFailed(step.id, "cancelled before it started"))
            return Outcome.ABORTED, "cancelled by the operator"
        self._emit(events.StepStarted(step.info(dict(ctx.state)), index, total))
        started = time.monotonic()
        acting = False
        try:
            if step.id in self.skip:
                self._emit(events.StepSkipped(step.id, "skipped by the operator"))
                return Outcome.SUCCEEDED, ""
            done = step.check(ctx)
            if done:
                # A check may say why there is nothing to do, in its own words.
                reason = done if isinstance(done, str) else "already done (checked just now)"
                self._emit(events.StepSkipped(step.id, reason))
                return Outcome.SUCCEEDED, ""
            if step.destructive and not self._confirm(
                    step.id, step.target, f"{step.title} changes {step.target}"):
                message = f"not confirmed: {step.title} was not run, nothing changed"
                self._emit(events.StepFailed(step.id, message))
                return Outcome.REFUSED, message
            acting = True
            step.action(ctx)
            acting = False
            ctx.raise_if_cancelled()
            step.verify(ctx)
        except (Cancelled, KeyboardInterrupt):
            self.cancel.set()
            self._cleanup(step, acting)
            self._emit(events.StepFailed(step.id, "cancelled by the operator"))
            return Outcome.ABORTED, "cancelled by the operator"
        except Refused as exc:
            self._cleanup(step, acting)
            self._emit(events.StepFailed(step.id, str(exc)))
            return Outcome.REFUSED, str(exc)
        except DrConsoleError as exc:
            self._cleanup(step, acting)
            if self.cancel.is_set():  # a library's own "cancelled" error
                self._emit(events.StepFailed(step.id, "cancelled by the operator"))
                return Outcome.ABORTED, "cancelled by the operator"
            self._emit(events.StepFailed(step.id, str(exc)))
            return Outcome.FAILED, str(exc)
        except Exception as exc:  # a bug or an unexpected library error: journaled, not shown raw
            from dr_console import crashlog

            self._cleanup(step, acting)
            message = (f"internal error in {step.title!r}; details in {crashlog.write(exc)}. "
                       "The run can be resumed once it is fixed")
            self._emit(events.StepFailed(step.id, message))
            return Outcome.FAILED, message
        self._emit(events.StepDone(step.id, round(time.monotonic() - started, 3)))
        return Outcome.SUCCEEDED, ""

    def _cleanup(self, step: Step, acting: bool) -> None:
        if not acting or step.cleanup is None:
            return
        try:
            step.cleanup(self.ctx)
            self._emit(events.LogLine(step.id, "cleaned up the half-done step"))
        except Exception as exc:  # cleanup must not mask why the step stopped
            detail = str(exc) if isinstance(exc, DrConsoleError) else "internal error"
            self._emit(events.LogLine(step.id, f"cleanup failed: {detail[:200]}", "warning"))


def run(runbook: Runbook, sink: events.Sink, **kwargs: Any) -> Result:
    return Engine(runbook, sink, **kwargs).run()
