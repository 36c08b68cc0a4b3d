"""The two header lines: which site, LIVE or DRILL, how old the data is, and
how many assets are in each state. Always visible, so an operator never acts
on stale data without seeing that it is stale."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from dr_console.model import Snapshot, Status
from dr_console.present import (
    DANGER,
    HEADER_STATUS_ORDER,
    ORPHAN_FILTER,
    STATUS_STYLE,
    STATUS_SYMBOL,
    age_text,
    clock_time,
)

if TYPE_CHECKING:
    from dr_console.tui.app import DrConsoleApp

# LIVE acts on real targets, DRILL never does: the badge must not be missed.
# White text on a dark colour stays a badge under NO_COLOR (see present.py).
MODE_STYLE = {"LIVE": "bold white on red", "DRILL": "bold white on blue"}
# Read-only is the default and says so quietly; WRITE is loud, like LIVE.
ACCESS_STYLE = {False: "bold black on grey70", True: "bold white on dark_orange3"}


def access_label(write: bool) -> str:
    return "WRITE" if write else "READ-ONLY"


def render_header(
    *,
    site: str,
    mode: str,
    snapshot: Snapshot | None,
    refreshing: bool,
    error: str | None,
    now: datetime,
    write: bool = False,
) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f" {site} ", style="bold")
    text.append(f" {mode} ", style=MODE_STYLE.get(mode, "bold reverse"))
    text.append(" ")
    text.append(f" {access_label(write)} ", style=ACCESS_STYLE[write])
    text.append(" ")
    if snapshot is not None:
        counts = {status: 0 for status in Status}
        for cov in snapshot.coverages:
            counts[cov.status] += 1
        for status in HEADER_STATUS_ORDER:
            # Zero counts are dimmed so the eye goes to what is non-zero.
            style = STATUS_STYLE[status] if counts[status] else "dim"
            text.append(f" {STATUS_SYMBOL[status]} {counts[status]} {status.label} ", style=style)
    text.append("\n")
    text.append_text(status_line(snapshot=snapshot, refreshing=refreshing, now=now))
    if error is not None:
        # Its own line, cut to the width: the notification and `r` again
        # give the whole story; the header must stay three lines at most.
        what = "refresh failed" if snapshot is None else "refresh failed, showing older data"
        text.append("\n")
        text.append(f" {what}: {error}", style=DANGER)
    return text


def status_line(*, snapshot: Snapshot | None, refreshing: bool, now: datetime) -> Text:
    line = Text(" ")
    if snapshot is None:
        line.append("no data yet", style="bold")
        if refreshing:
            line.append(" — refreshing…", style="italic")
        else:
            line.append(" — press r to refresh")
    else:
        generated = snapshot.generated_at
        line.append(f"data from {clock_time(generated, now)}, {age_text(generated, now)}")
        if snapshot.orphans:
            line.append(f" · {len(snapshot.orphans)} orphan (/{ORPHAN_FILTER})", style="dim")
        if refreshing:
            line.append("  ⟳ refreshing…", style="italic")
    return line


class SiteHeader(Static):
    """Rendered from the app's state by the screen that owns it."""

    def show(
        self,
        *,
        site: str,
        mode: str,
        snapshot: Snapshot | None,
        refreshing: bool,
        error: str | None,
        now: datetime,
        write: bool = False,
    ) -> None:
        self.update(
            render_header(
                site=site,
                mode=mode,
                snapshot=snapshot,
                refreshing=refreshing,
                error=error,
                now=now,
                write=write,
            )
        )

    def show_app_state(self, app: DrConsoleApp) -> None:
        """The header every screen shows, from the app's state."""
        self.show(site=app.site_name, mode=app.mode, snapshot=app.snapshot, refreshing=app.refreshing,
                  error=app.load_error, now=app.clock(), write=app.write)
