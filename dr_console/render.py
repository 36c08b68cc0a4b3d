"""Rich rendering for the CLI. Plain when stdout is not a terminal or
NO_COLOR is set (Rich honours both)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from dr_console import humanize
from dr_console.model import Coverage, Snapshot, Status
from dr_console.present import STATUS_STYLE, class_text, sorted_coverages, status_text

if TYPE_CHECKING:
    from dr_console.verify import VerifyResult

def _console() -> Console:
    # Piped into a script or a mail, 80 columns would cut the reasons off:
    # give them room; on a terminal, Rich fits the table to its width.
    width = None if sys.stdout.isatty() else 240
    return Console(highlight=False, soft_wrap=False, width=width)


def _last_good(cov: Coverage, now: datetime) -> str:
    if cov.last_good is None:
        return "none"
    age = humanize.age((now - cov.last_good.created_at).total_seconds())
    mark = "" if cov.last_good.verification.verified else " (unverified)"
    return f"{age} ago, {cov.last_good.kind}{mark}"


def status(snapshot: Snapshot, now: datetime) -> None:
    console = _console()
    summary = snapshot.summary()
    age = humanize.age((now - snapshot.generated_at).total_seconds())
    head = Text.assemble(
        (f"{snapshot.site}: ", "bold"), (snapshot.overall.name, STATUS_STYLE[snapshot.overall]),
        f"  ({summary['ok']} ok, {summary['warning']} warning, "
        f"{summary['critical']} critical, {summary['unknown']} unknown; data {age} old)",
    )
    console.print(head)
    problems = [c for c in snapshot.coverages if c.status is not Status.OK]
    if not problems:
        return
    table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
    for column in ("STATUS", "CLASS", "ASSET", "KIND", "SOURCE", "LAST GOOD", "WHY"):
        table.add_column(column, overflow="fold" if column == "WHY" else "ellipsis",
                         no_wrap=column != "WHY")
    for cov in sorted_coverages(problems):
        table.add_row(
            status_text(cov.status), class_text(cov.classification.asset_class), cov.asset.name,
            cov.asset.kind, cov.asset.source, _last_good(cov, now), "; ".join(cov.reasons),
        )
    console.print(table)


def inventory(snapshot: Snapshot, now: datetime) -> None:
    console = _console()
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("STATUS", "CLASS", "ASSET", "KIND", "SOURCE", "LAST GOOD", "RULE"):
        table.add_column(column, no_wrap=True, overflow="ellipsis")
    for cov in sorted_coverages(snapshot.coverages):
        table.add_row(
            status_text(cov.status), class_text(cov.classification.asset_class),
            cov.asset.name, cov.asset.kind, cov.asset.source, _last_good(cov, now),
            cov.classification.rule,
        )
    console.print(table)
    console.print(f"{len(snapshot.coverages)} assets")


def verify(results: Sequence[VerifyResult]) -> None:
    console = _console()
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("RESULT", "ASSET", "COPY", "KIND", "DETAIL"):
        table.add_column(column, overflow="fold" if column == "DETAIL" else "ellipsis")
    for result in results:
        table.add_row(status_text(result.status), result.asset, result.location, result.kind,
                      result.detail)
    console.print(table)
