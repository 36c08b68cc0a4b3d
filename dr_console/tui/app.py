"""The Textual app: owns the state (the snapshot on screen, whether a refresh
is running, the last error) and the workers that produce it.

Workers never touch widgets: they call the blocking backend, then post a
message; the `@on` handlers here are the only code that changes state, and
screens watch that state (`self.watch(app, "snapshot", ...)`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, TypeVar

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.dom import DOMNode
from textual.reactive import var
from textual.screen import Screen
from textual.worker import Worker, WorkerCancelled, WorkerState, get_current_worker

from dr_console.errors import DrConsoleError
from dr_console.model import Snapshot
from dr_console.remedies import Plan, Remedy
from dr_console.tui.keys import iter_actions, screen_keys
from dr_console.tui.messages import LoadFailed, Origin, SnapshotLoaded
from dr_console.tui.screens.inventory import InventoryScreen

if TYPE_CHECKING:
    from dr_console.runbooks.engine import Runbook
    from dr_console.schema import Site

MODES = ("LIVE", "DRILL")
# The runbooks with a drill (their `drill` parameter points them at scratch targets).
DRILLABLE_RUNBOOKS = ("metadata-db", "payload-volume", "boot-infra")

# How long an error text may be in the header; the notification and the log
# have the whole of it.
_HEADER_ERROR_CHARS = 160

# After the SSH session drops, exit within this even if the terminal driver
# blocks restoring a terminal that is no longer there.
HANGUP_GRACE_SECONDS = 2.0

PlanLoader = Callable[[Remedy], Plan]
# Builds a runbook from its registry name and parameters; blocks (thread worker).
RunbookBuilder = Callable[[str, dict[str, Any]], "Runbook"]


def _no_site_plan(remedy: Remedy) -> Plan:
    return Plan(unavailable="no site file loaded: plans need one")


def _build_without_site(name: str, params: dict[str, Any]) -> Runbook:
    # A runbook's own parameters may name its site file (a resumed run's do).
    from dr_console.runbooks import registry

    return registry.build(name, None, params)

T = TypeVar("T")


def local_now() -> datetime:
    """The default clock: aware, in the operator's timezone."""
    return datetime.now().astimezone()


def describe_error(exc: BaseException) -> str:
    """One line an operator can read. Our own errors are written as sentences
    (and promise no secrets); anything else gets its type for context."""
    text = str(exc) if isinstance(exc, DrConsoleError) else f"{type(exc).__name__}: {exc}"
    first_line = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return first_line


def call_abandonable(fn: Callable[[], T], *, name: str, poll: float = 0.1) -> T:
    """Run a blocking backend call from inside a thread worker so that the
    worker can still be cancelled.

    Python threads cannot be killed, and Textual runs thread workers in the
    event loop's default executor, which is joined at exit: a gather hung on
    an unreachable cloud would make `q` hang too (k9s #2645, the other way
    round). So the call runs in a daemon thread that is abandoned when the
    worker is cancelled; the worker itself returns promptly."""
    worker = get_current_worker()
    outcome: list[tuple[bool, object]] = []
    done = threading.Event()

    def target() -> None:
        try:
            outcome.append((True, fn()))
        except BaseException as exc:  # handed back to the worker below
            outcome.append((False, exc))
        finally:
            done.set()

    threading.Thread(target=target, name=name, daemon=True).start()
    while not done.wait(poll):
        if worker.is_cancelled:
            raise WorkerCancelled()
    ok, value = outcome[0]
    if ok:
        return value  # type: ignore[return-value]
    raise value  # type: ignore[misc]


class DrConsoleApp(App[None]):
    """dr-console's terminal UI.

    `load_cached` and `refresh` are the whole of its contract with the core:
    both block (disk, clouds), so both run in thread workers and the first
    screen never waits on either."""

    CSS_PATH = "app.tcss"
    TITLE = "dr-console"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "refresh_data", "Refresh"),
        Binding("L", "command_log", "Command log"),
        # Not in the footer (no room at 80x24); `?` and the palette list it.
        Binding("H", "history", "History", show=False),
        Binding("P", "recovery_plan", "Recovery plan", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    # The state every screen renders. `always_update`: a refresh that returns
    # an equal snapshot is still news (the age changed), and comparing two
    # large snapshots field by field would cost more than re-rendering.
    snapshot: var[Snapshot | None] = var(None, always_update=True, init=False)
    refreshing: var[bool] = var(False, init=False)
    load_error: var[str | None] = var(None, init=False)

    def __init__(
        self,
        site_name: str,
        load_cached: Callable[[], Snapshot | None],
        refresh: Callable[[], Snapshot],
        *,
        mode: str = "LIVE",
        clock: Callable[[], datetime] | None = None,
        write: bool = False,
        load_plan: PlanLoader | None = None,
        build_runbook: RunbookBuilder | None = None,
        exit_on_hangup: bool = False,
    ) -> None:
        super().__init__()
        mode = mode.upper()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.site_name = site_name
        self.mode = mode
        # Injected so that ages ("2 min ago") are reproducible in tests and
        # screenshots; defaults to the local wall clock.
        self.clock: Callable[[], datetime] = clock or local_now
        self._load_cached = load_cached
        self._gather = refresh
        # Read-only unless asked: nothing reachable from the keyboard can
        # change the world (k9s #441: users asked for exactly this).
        self.write = write
        # Builds a runbook's plan for the asset screen; blocks (thread worker).
        self.load_plan: PlanLoader = load_plan or _no_site_plan
        self.build_runbook: RunbookBuilder = build_runbook or _build_without_site
        self._exit_on_hangup = exit_on_hangup
        self.hung_up = False
        self._refresh_asked = False
        self._refresh_started = 0.0
        self.sub_title = f"{site_name} · {mode}"

    def on_mount(self) -> None:
        if self._exit_on_hangup:
            self._watch_hangup()
        self.push_screen(InventoryScreen())
        # Both start at once: the cache shows within milliseconds, the fresh
        # data whenever the backends answer.
        self._load_cache_worker()
        self._start_refresh(asked=False)

    # -- workers: blocking calls, then a message; never a widget ------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="cache")
    def _load_cache_worker(self) -> None:
        try:
            cached = call_abandonable(self._load_cached, name="dr-console-cache")
        except WorkerCancelled:
            return
        except Exception as exc:
            self.post_message(LoadFailed("cache", describe_error(exc)))
            return
        if cached is not None and not get_current_worker().is_cancelled:
            self.post_message(SnapshotLoaded(cached, "cache"))

    @work(thread=True, exclusive=True, exit_on_error=False, group="refresh")
    def _refresh_worker(self) -> None:
        try:
            fresh = call_abandonable(self._gather, name="dr-console-refresh")
        except WorkerCancelled:
            return
        except Exception as exc:
            self.post_message(LoadFailed("refresh", describe_error(exc)))
            return
        if not get_current_worker().is_cancelled:
            self.post_message(SnapshotLoaded(fresh, "refresh"))

    # -- state changes: only here -------------------------------------------

    @on(SnapshotLoaded)
    def _snapshot_loaded(self, message: SnapshotLoaded) -> None:
        if message.origin == "cache":
            current = self.snapshot
            # A slow disk must not put older data over a refresh that won.
            if current is not None and message.snapshot.generated_at <= current.generated_at:
                return
        else:
            self.refreshing = False
            self.load_error = None
            if self._refresh_asked:
                # Only the refreshes the operator asked for: the one at start-up
                # shows in the header's "data from" without a toast.
                self._refresh_asked = False
                seconds = time.monotonic() - self._refresh_started
                count = len(message.snapshot.coverages)
                self.notify(f"{count} assets in {seconds:.1f}s", title="Refreshed", timeout=4)
        self.snapshot = message.snapshot

    @on(LoadFailed)
    def _load_failed(self, message: LoadFailed) -> None:
        self._fail(message.origin, message.error)

    def _fail(self, origin: Origin, error: str) -> None:
        if origin == "cache":
            # The cache is a convenience; the refresh is already under way.
            self.notify(f"Cached data unreadable: {error}", severity="warning", timeout=8)
            return
        self.refreshing = False
        self._refresh_asked = False
        short = error if len(error) <= _HEADER_ERROR_CHARS else error[:_HEADER_ERROR_CHARS] + "…"
        self.load_error = short
        self.notify(f"Refresh failed: {error}", title="dr-console", severity="error", timeout=12)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # The workers catch Exception themselves; this is the net for anything
        # else, so "refreshing…" can never stay on forever.
        if event.state is WorkerState.ERROR and event.worker.group in ("cache", "refresh"):
            origin: Origin = "cache" if event.worker.group == "cache" else "refresh"
            error = event.worker.error
            self._fail(origin, describe_error(error) if error else "worker failed")

    # -- actions ------------------------------------------------------------

    def action_refresh_data(self) -> None:
        self._start_refresh(asked=True)

    def _start_refresh(self, *, asked: bool) -> None:
        if self.refreshing:
            # Starting another would cancel the worker but not the thread
            # still talking to the backends: two gathers for one keypress.
            if asked:
                self.notify("Already refreshing…", timeout=3)
            return
        self._refresh_asked = asked
        self._refresh_started = time.monotonic()
        self.refreshing = True
        self._refresh_worker()

    def open_asset(self, asset_id: str) -> None:
        from dr_console.tui.screens.asset import AssetScreen

        self.push_screen(AssetScreen(asset_id))

    def start_runbook(self, remedy: Remedy) -> None:
        """Open the runbook screen (WRITE mode only: in read-only mode this is
        the one way in, and it stops here)."""
        if not self.write:
            self.notify("read-only: start dr-console with --write to run runbooks", severity="warning")
            return
        if remedy.runbook is None:
            self.notify(f"no runbook: from a shell, {remedy.command}", title=remedy.title, timeout=10)
            return
        if self.mode == "DRILL":
            # A drill console runs the drill of each runbook: scratch targets only.
            if remedy.runbook not in DRILLABLE_RUNBOOKS:
                self.notify(f"no drill for {remedy.title}: only {', '.join(DRILLABLE_RUNBOOKS)} have one",
                            severity="warning")
                return
            remedy = replace(remedy, title=f"drill: {remedy.title}",
                             command=remedy.command.replace("dr-console run ", "dr-console drill ", 1),
                             params={**remedy.params, "drill": True})
        from dr_console.tui.screens.runbook import RunbookScreen

        self.push_screen(RunbookScreen(remedy))

    def action_history(self) -> None:
        from dr_console.tui.screens.history import HistoryScreen

        if not isinstance(self.screen, HistoryScreen):
            self.push_screen(HistoryScreen())

    def action_recovery_plan(self) -> None:
        from dr_console.tui.screens.recovery import RecoveryScreen

        if not isinstance(self.screen, RecoveryScreen):
            self.push_screen(RecoveryScreen())

    def action_command_log(self) -> None:
        from dr_console.tui.screens.commandlog import CommandLogScreen

        if not isinstance(self.screen, CommandLogScreen):
            self.push_screen(CommandLogScreen())

    def action_help(self) -> None:
        from dr_console.tui.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        screen = self.screen
        title = f"keys: {getattr(screen, 'HELP_TITLE', type(screen).__name__.removesuffix('Screen'))}"
        self.push_screen(HelpScreen(title, screen_keys(screen), write=self.write))

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """The palette lists every action bound on the screen it was opened
        from (so read-only hides the same things there), then Textual's own."""
        for key in iter_actions(screen):
            yield SystemCommand(key.description, f"key {key.keys} · {key.where}",
                                partial(self._run_from_palette, key.action, key.node))
        yield from super().get_system_commands(screen)

    def _run_from_palette(self, action: str, node: DOMNode) -> None:
        # The palette has closed by now: run the action where it was bound.
        self.call_later(self.run_action, action, node)

    # -- the SSH session drops: SIGHUP ----------------------------------------

    def _watch_hangup(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGHUP, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._hang_up)

    def _hang_up(self) -> None:
        """Exit 0 at once; the terminal is gone, so nobody is left to ask.
        A watchdog ends the process if restoring the dead terminal blocks."""

        def watchdog() -> None:
            time.sleep(HANGUP_GRACE_SECONDS)
            os._exit(0)

        self.hung_up = True
        threading.Thread(target=watchdog, name="dr-console-hangup", daemon=True).start()
        self.exit(return_code=0)


class SiteBackend(NamedTuple):
    site_name: str
    load_cached: Callable[[], Snapshot | None]
    refresh: Callable[[], Snapshot]
    load_plan: PlanLoader
    build_runbook: RunbookBuilder


def build_for_site(site_path: Path | None) -> SiteBackend:
    """What the app needs from a site file: its name, the cache and refresh
    calls, and the plan and runbook builders.

    Loading the site file is quick and its errors should stop the program
    before the screen opens, so it happens here; the inventory is imported
    lazily so that importing the TUI never pulls in every provider SDK."""
    from dr_console.config import load_site

    site = load_site(site_path)

    def load_cached() -> Snapshot | None:
        from dr_console import snapshots

        return snapshots.load(site.path)

    def refresh() -> Snapshot:
        from dr_console import commandlog, snapshots
        from dr_console.inventory import gather

        # Here, in the worker, not before the first frame: hooking botocore
        # imports it.
        commandlog.install_hooks()
        snapshot = gather(site)
        # So the next start shows this at once. A cache that cannot be
        # written must not hide fresh data the operator is waiting for.
        with contextlib.suppress(OSError):
            snapshots.save(snapshot, site.path)
        return snapshot

    def plan(remedy: Remedy) -> Plan:
        from dr_console.runbooks.registry import plan_for

        return plan_for(site, remedy)

    def build_runbook(name: str, params: dict[str, Any]) -> Runbook:
        return _build_for(site, name, params)

    return SiteBackend(site.site, load_cached, refresh, plan, build_runbook)


def _build_for(site: Site, name: str, params: dict[str, Any]) -> Runbook:
    from dr_console.runbooks import registry

    return registry.build(name, site, params)
