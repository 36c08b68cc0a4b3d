"""Messages workers post to the app. Workers never touch widgets: they post
one of these, and an `@on` handler on the app owns the state change."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from textual.message import Message

from dr_console.commandlog import Entry
from dr_console.model import Snapshot
from dr_console.remedies import Plan

if TYPE_CHECKING:
    from dr_console.runbooks.engine import Runbook
    from dr_console.runbooks.events import Event
    from dr_console.runbooks.journal import RunRecord
    from dr_console.runbooks.plan import PlanItem

# Where a snapshot came from: the on-disk cache (shown first, instantly) or a
# fresh gather from the providers.
Origin = Literal["cache", "refresh"]


class SnapshotLoaded(Message):
    """A snapshot is ready to be shown."""

    def __init__(self, snapshot: Snapshot, origin: Origin) -> None:
        super().__init__()
        self.snapshot = snapshot
        self.origin: Origin = origin


class LoadFailed(Message):
    """Loading the cache or refreshing failed; the data on screen stays."""

    def __init__(self, origin: Origin, error: str) -> None:
        super().__init__()
        self.origin: Origin = origin
        self.error = error


class CommandLogged(Message):
    """The command log has a new entry (posted from whatever thread ran the
    command; `post_message` is thread-safe)."""

    def __init__(self, entry: Entry) -> None:
        super().__init__()
        self.entry = entry


class PlanLoaded(Message):
    """A runbook's plan for the asset screen, built in a thread worker."""

    def __init__(self, asset_id: str, runbook: str, plan: Plan) -> None:
        super().__init__()
        self.asset_id = asset_id
        self.runbook = runbook
        self.plan = plan


class RunbookEvent(Message):
    """An engine event, posted from the engine's thread by the TUI sink."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class RunbookReady(Message):
    """The runbook is built (in a worker), with the run it could resume."""

    def __init__(self, runbook: Runbook, unfinished: RunRecord | None) -> None:
        super().__init__()
        self.runbook = runbook
        self.unfinished = unfinished


class RunbookBroken(Message):
    """Building or running the runbook raised before the engine could say
    why (no site, a held lock, an unreadable journal)."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class HistoryLoaded(Message):
    def __init__(self, runs: list[RunRecord], error: str = "") -> None:
        super().__init__()
        self.runs = runs
        self.error = error


class RecoveryPlanLoaded(Message):
    """The whole site's recovery plan, built from the snapshot and the journal."""

    def __init__(self, items: list[PlanItem], error: str = "") -> None:
        super().__init__()
        self.items = items
        self.error = error
