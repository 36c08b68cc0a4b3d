"""The detail pane: everything about one asset, to decide what to do with it
without leaving the screen: why it is in its class, its RPO, every reason,
and every copy with what was verified about it."""

from __future__ import annotations

from datetime import datetime

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from dr_console.model import BackupCopy, Coverage, Verification
from dr_console.present import (
    DANGER,
    GOOD,
    age_seconds,
    age_text,
    class_text,
    duration_text,
    size_text,
    status_text,
    timestamp_text,
)

# A tri-state check: True passed, False failed, None not checked. The symbol
# carries the meaning without colour.
_CHECK = {True: ("✓", "green"), False: ("✗", DANGER), None: ("?", "dim")}
LEGEND = "✓ passed  ✗ failed  ? not checked"


def _check(label: str, value: bool | None) -> Text:
    symbol, style = _CHECK[value]
    # Symbol first: "✓ size  ✗ checksum" cannot be misread as the symbol
    # belonging to the next label.
    return Text.assemble((symbol, style), (f" {label}", ""))


# The verification ladder: each rung is worth more than the one before, and
# an operator trusts a copy as far up as it has climbed.
LADDER: tuple[str, ...] = ("present", "size+checksum", "complete", "drilled", "smoke-tested")


def _both(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    if a and b:
        return True
    return None


def ladder(verification: Verification) -> list[tuple[str, bool | None]]:
    """(rung, ✓/✗/?) from present to smoke-tested. Snapshots and cloud
    backups have no checksum of ours: the platform's word stands in for it,
    and the rung says so."""
    v = verification
    if v.size_ok is None and v.checksum_ok is None and v.platform_ok is not None:
        integrity = ("platform ok", v.platform_ok)
    else:
        integrity = ("size+checksum", _both(v.size_ok, v.checksum_ok))
    return [
        ("present", v.present),
        integrity,
        ("complete", v.complete),
        ("drilled", v.drilled),
        ("smoke-tested", v.smoke_tested),
    ]


def verification_text(verification: Verification) -> Text:
    """"✓ present → ✓ size+checksum → ? complete → ? drilled → ? smoke-tested":
    69 cells, so with its indent it fits a copy's line in a 76-column pane."""
    return Text(" → ", style="dim").join(_check(label, value) for label, value in ladder(verification))


def copy_block(copy: BackupCopy, *, is_last_good: bool, now: datetime) -> Text:
    """Three lines (four with a detail), short enough not to wrap in a
    76-column pane: what and when; where and how big; the ladder."""
    block = Text()
    if is_last_good:
        block.append("★ ", style=GOOD)
    elif not copy.verification.usable:
        block.append("✗ ", style=DANGER)
    else:
        block.append("· ")
    block.append(copy.kind, style="bold")
    if is_last_good:
        # Next to the kind rather than at the end of the line, where a
        # narrow pane would wrap it away from the copy it marks.
        block.append(" (last good)", style=GOOD)
    block.append(
        f" · {copy.strategy.value} · {timestamp_text(copy.created_at, now)}"
        f" ({age_text(copy.created_at, now)})"
    )
    block.append("\n    ")
    block.append(copy.location, style="underline" if "://" in copy.location else "")
    if copy.size is not None:
        block.append(f"  {size_text(copy.size)}", style="bold")
    block.append("\n    ")
    block.append_text(verification_text(copy.verification))
    if copy.verification.detail:
        block.append("\n    ")
        block.append(copy.verification.detail, style="italic")
    return block


def render_detail(coverage: Coverage, now: datetime) -> RenderableType:
    asset = coverage.asset
    title = Text.assemble((asset.name, "bold"), "  ", status_text(coverage.status))

    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column(overflow="fold")
    facts.add_row("id", Text(asset.id))
    facts.add_row("class", class_text(coverage.classification.asset_class))
    facts.add_row("why", Text(coverage.classification.rule))
    facts.add_row("kind", Text(f"{asset.kind} · {asset.provider}/{asset.source}"))
    if asset.tags:
        facts.add_row("tags", Text("  ".join(f"{k}={v}" for k, v in sorted(asset.tags.items()))))
    facts.add_row("RPO", Text(duration_text(coverage.rpo_seconds)))
    facts.add_row("last good", _last_good_text(coverage, now))
    reasons = Text("\n").join(Text(f"• {reason}") for reason in coverage.reasons)
    facts.add_row("reasons", reasons if coverage.reasons else Text("none", style="dim"))

    parts: list[RenderableType] = [title, facts, Text()]
    copies = sorted(coverage.copies, key=lambda c: c.created_at, reverse=True)
    if copies:
        parts.append(Text.assemble((f"copies ({len(copies)})", "bold"), "   ", (LEGEND, "dim")))
        last_good_id = coverage.last_good.id if coverage.last_good else None
        for copy in copies:
            parts.append(copy_block(copy, is_last_good=copy.id == last_good_id, now=now))
    else:
        parts.append(Text("copies: none found", style="bold"))
    return Group(*parts)


def _last_good_text(coverage: Coverage, now: datetime) -> Text:
    good = coverage.last_good
    if good is None:
        return Text("none", style=DANGER)
    when = timestamp_text(good.created_at, now)
    text = Text(f"{age_text(good.created_at, now)} ({good.kind}, {when})")
    rpo = coverage.rpo_seconds
    if rpo is not None and age_seconds(good.created_at, now) > rpo:
        text.append("  older than RPO", style="bold yellow")
    return text


class AssetDetail(VerticalScroll):
    """Scrollable (and focusable, so the keyboard can scroll it) at 80x24."""

    _shown_id: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="detail-body")

    def show(self, coverage: Coverage | None, now: datetime, *, empty: str = "") -> None:
        body = self.query_one("#detail-body", Static)
        shown_id = coverage.asset.id if coverage else None
        if shown_id != self._shown_id:
            # A new asset starts at its top; the same asset re-rendered (a
            # tick, a refresh) keeps where the operator scrolled to.
            self.scroll_home(animate=False)
            self._shown_id = shown_id
        if coverage is None:
            body.update(Text(empty, style="dim italic"))
        else:
            body.update(render_detail(coverage, now))
