"""The Textual app: owns the state (the snapshot on screen, whether a refresh
is running, the last error) and the workers that produce it.

Workers never touch widgets: they call the blocking backend, then post a
message; the `@on` handlers here are the only code that changes state, and
screens watch that state (`self.watch(app, "snapshot", ...)`)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import ClassVar, TypeVar

from textual import on, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.reactive import var
from textual.worker import Worker, WorkerCancelled, WorkerState, get_current_worker

from dr_console.errors import DrConsoleError
from dr_console.model import Snapshot
from dr_console.tui.messages import LoadFailed, Origin, SnapshotLoaded
from dr_console.tui.screens.inventory import InventoryScreen

MODES = ("LIVE", "DRILL")

# How long an error text may be in the header; the notification and the log
# have the whole of it.
_HEADER_ERROR_CHARS = 160

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
        self.sub_title = f"{site_name} · {mode}"

    def on_mount(self) -> None:
        self.push_screen(InventoryScreen())
        # Both start at once: the cache shows within milliseconds, the fresh
        # data whenever the backends answer.
        self._load_cache_worker()
        self.action_refresh_data()

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
        if self.refreshing:
            # Starting another would cancel the worker but not the thread
            # still talking to the backends: two gathers for one keypress.
            self.notify("Already refreshing…", timeout=3)
            return
        self.refreshing = True
        self._refresh_worker()


def build_for_site(
    site_path: Path | None,
) -> tuple[str, Callable[[], Snapshot | None], Callable[[], Snapshot]]:
    """(site name, load_cached, refresh) for a site file.

    Loading the site file is quick and its errors should stop the program
    before the screen opens, so it happens here; the inventory is imported
    lazily so that importing the TUI never pulls in every provider SDK."""
    from dr_console.config import load_site

    site = load_site(site_path)

    def load_cached() -> Snapshot | None:
        from dr_console.inventory import load_cached as inventory_load_cached

        return inventory_load_cached(site)

    def refresh() -> Snapshot:
        from dr_console.inventory import gather, save_snapshot

        snapshot = gather(site)
        # So the next start shows this at once. A cache that cannot be
        # written must not hide fresh data the operator is waiting for.
        with contextlib.suppress(OSError):
            save_snapshot(snapshot, site)
        return snapshot

    return site.site, load_cached, refresh
