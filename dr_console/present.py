"""How the model is presented: ordering, filtering, ages, sizes, and the
styled text of statuses and classes.

Pure functions over `dr_console.model`; only Rich is imported (for `Text`),
never Textual, so this is trivially unit-tested and the CLI may reuse it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.text import Text

from dr_console import humanize
from dr_console.model import AssetClass, Coverage, Status

# Display order, worst first. UNKNOWN comes right after CRITICAL: an asset we
# could not read may be as bad as one without a copy, and at 3 a.m. it is
# cheaper to look now. (The exit-code order in `Status` is a different thing.)
STATUS_DISPLAY_ORDER: tuple[Status, ...] = (
    Status.CRITICAL,
    Status.UNKNOWN,
    Status.WARNING,
    Status.OK,
)
_STATUS_RANK = {status: rank for rank, status in enumerate(STATUS_DISPLAY_ORDER)}

# Classes in restore order (boot infra, then metadata, then payload), the
# order the runbooks follow; unclassified last but always flagged.
CLASS_ORDER: tuple[AssetClass, ...] = (
    AssetClass.BOOT_INFRA,
    AssetClass.METADATA,
    AssetClass.PAYLOAD,
    AssetClass.REPRODUCIBLE,
    AssetClass.UNCLASSIFIED,
    AssetClass.UNREACHABLE,
)
_CLASS_RANK = {cls: rank for rank, cls in enumerate(CLASS_ORDER)}

# Styles are chosen to survive NO_COLOR: Textual then renders each colour as
# its luminance, and pure red (luminance ~20%) all but vanishes on a dark
# background, so red is never plain text here. CRITICAL is white on red (a
# badge in colour, white on grey without); "danger" text is a light red.
# UNKNOWN is a 256-colour purple because Textual's themes render ANSI magenta
# almost as red, and UNKNOWN must not read as CRITICAL. The symbols keep the
# statuses apart with no colour at all (colour-blind operators, screenshots
# pasted into a ticket).
DANGER = "bold #ff6e6e"
GOOD = "bold green"
STATUS_STYLE: dict[Status, str] = {
    Status.OK: "green",
    Status.WARNING: "yellow",
    Status.CRITICAL: "bold white on red",
    Status.UNKNOWN: "medium_purple1",
}
STATUS_SYMBOL: dict[Status, str] = {
    Status.OK: "✓",
    Status.WARNING: "▲",
    Status.CRITICAL: "✗",
    Status.UNKNOWN: "?",
}
# The header lists counts in the order operators read monitoring dashboards.
HEADER_STATUS_ORDER: tuple[Status, ...] = (
    Status.OK,
    Status.WARNING,
    Status.CRITICAL,
    Status.UNKNOWN,
)

UNCLASSIFIED_STYLE = "bold black on yellow"


def sort_key(coverage: Coverage) -> tuple[int, int, str, str]:
    """Worst status first, then restore order of the class, then name."""
    return (
        _STATUS_RANK.get(coverage.status, len(_STATUS_RANK)),
        _CLASS_RANK.get(coverage.classification.asset_class, len(_CLASS_RANK)),
        coverage.asset.name.casefold(),
        coverage.asset.id,
    )


def class_sort_key(coverage: Coverage) -> tuple[int, int, str, str]:
    """Grouped by class in restore order, worst first within a class."""
    return (
        _CLASS_RANK.get(coverage.classification.asset_class, len(_CLASS_RANK)),
        _STATUS_RANK.get(coverage.status, len(_STATUS_RANK)),
        coverage.asset.name.casefold(),
        coverage.asset.id,
    )


def name_sort_key(coverage: Coverage) -> tuple[str, str]:
    return (coverage.asset.name.casefold(), coverage.asset.id)


# The orders an operator cycles through, first the default (worst first).
SORT_MODES: tuple[str, ...] = ("status", "class", "name")
SORT_KEYS: dict[str, Callable[[Coverage], tuple[object, ...]]] = {
    "status": sort_key,
    "class": class_sort_key,
    "name": name_sort_key,
}


def next_sort_mode(mode: str) -> str:
    return SORT_MODES[(SORT_MODES.index(mode) + 1) % len(SORT_MODES)] if mode in SORT_MODES \
        else SORT_MODES[0]


def sorted_coverages(
    coverages: tuple[Coverage, ...] | list[Coverage], mode: str = "status"
) -> list[Coverage]:
    return sorted(coverages, key=SORT_KEYS[mode])


def status_text(status: Status) -> Text:
    return Text(f"{STATUS_SYMBOL[status]} {status.label}", style=STATUS_STYLE[status])


# An orphan row (copies of an asset the inventory did not find) has no
# status of its own; it is reached with the filter `status:orphan`.
ORPHAN_LABEL = "ORPHAN"
ORPHAN_FILTER = "status:orphan"


def row_status_text(coverage: Coverage) -> Text:
    if coverage.orphan:
        return Text(f"◌ {ORPHAN_LABEL}", style="dim")
    return status_text(coverage.status)


def class_text(asset_class: AssetClass) -> Text:
    if asset_class is AssetClass.UNREACHABLE:
        # An outage, not a policy gap: UNKNOWN's colour, not unclassified's badge.
        return Text("source unreachable", style=STATUS_STYLE[Status.UNKNOWN])
    if asset_class is AssetClass.UNCLASSIFIED:
        # A policy gap: the "!" survives NO_COLOR, the badge makes it jump
        # out of a column of otherwise quiet class names.
        return Text(f"! {asset_class.value}", style=UNCLASSIFIED_STYLE)
    return Text(asset_class.value)


# ---------------------------------------------------------------------------
# Time, durations and sizes


def aware(moment: datetime) -> datetime:
    """Naive datetimes are taken as UTC: providers and the cache store UTC,
    and comparing naive with aware would raise in the middle of a render."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def age_seconds(then: datetime, now: datetime) -> float:
    return (aware(now) - aware(then)).total_seconds()


def age_text(then: datetime, now: datetime) -> str:
    """'45s ago', '2 min ago', '5h ago', '3d ago'."""
    seconds = age_seconds(then, now)
    if seconds < -60:
        # Clock skew between us and a provider; say so rather than lie.
        return "in the future (clock skew?)"
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{int(seconds)}s ago"
    minutes = seconds / 60
    if minutes < 60:
        return f"{int(minutes)} min ago"
    hours = minutes / 60
    if hours < 48:
        return f"{int(hours)}h ago"
    return f"{int(hours / 24)}d ago"


def clock_time(moment: datetime, now: datetime) -> str:
    """HH:MM:SS in the operator's timezone (the clock's), for 'data from'."""
    return aware(moment).astimezone(aware(now).tzinfo).strftime("%H:%M:%S")


def timestamp_text(moment: datetime, now: datetime) -> str:
    """Full date and time with zone, in the operator's timezone."""
    return aware(moment).astimezone(aware(now).tzinfo).strftime("%Y-%m-%d %H:%M %Z")


def duration_text(seconds: int | None) -> str:
    """RPOs as a site file would write them: '90m', '24h', '7d'. Days only
    from two days up: operators say "24h RPO", not "1d"."""
    if seconds is None:
        return "none set"
    if seconds >= 2 * 86400 and seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def size_text(size: int | None) -> str:
    return "size unknown" if size is None else humanize.size(size)


def last_good_text(coverage: Coverage, now: datetime) -> Text:
    """The 'last good copy' cell: an age, or why there is none."""
    if coverage.last_good is not None:
        return Text(age_text(coverage.last_good.created_at, now))
    if coverage.classification.asset_class is AssetClass.REPRODUCIBLE:
        # Nothing is expected: it is redeployed by automation, not restored.
        return Text("redeploy", style="dim")
    return Text("none", style=DANGER)


# ---------------------------------------------------------------------------
# Filtering

# Field prefixes an operator can type: "class:metadata", "status:crit".
_FIELDS = ("class", "status", "name", "kind", "provider", "source", "reason", "id")


@dataclass(frozen=True)
class Filter:
    """A parsed filter query: every term must match (AND), case-insensitive."""

    terms: tuple[tuple[str | None, str], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.terms)


def parse_filter(query: str) -> Filter:
    terms: list[tuple[str | None, str]] = []
    for word in query.casefold().split():
        field, sep, value = word.partition(":")
        if sep and field in _FIELDS:
            if value:  # "class:" alone, while still typing, matches everything
                terms.append((field, value))
        else:
            # Asset ids contain colons ("os-prod:volume:1234"): an unknown
            # prefix is just part of the text to find.
            terms.append((None, word))
    return Filter(tuple(terms))


def _fields(coverage: Coverage) -> dict[str, tuple[str, ...]]:
    asset = coverage.asset
    return {
        "class": (coverage.classification.asset_class.value,),
        "status": (ORPHAN_LABEL if coverage.orphan else coverage.status.name,),
        "name": (asset.name,),
        "kind": (asset.kind,),
        "provider": (asset.provider,),
        "source": (asset.source,),
        "reason": coverage.reasons,
        "id": (asset.id,),
    }


def wants_orphans(flt: Filter) -> bool:
    """Orphan rows show only when a status term asks for them."""
    return any(field == "status" and value in ORPHAN_LABEL.casefold() for field, value in flt.terms)


def matches(coverage: Coverage, flt: Filter) -> bool:
    if coverage.orphan and not wants_orphans(flt):
        return False
    if not flt:
        return True
    fields = _fields(coverage)
    for field, value in flt.terms:
        haystacks = fields[field] if field else [v for vs in fields.values() for v in vs]
        if not any(value in text.casefold() for text in haystacks):
            return False
    return True


def filter_coverages(coverages: list[Coverage], query: str) -> list[Coverage]:
    flt = parse_filter(query)
    return [cov for cov in coverages if matches(cov, flt)]


# ---------------------------------------------------------------------------
# Filtering tens of thousands of assets per keystroke: the casefolded text of
# every field is computed once per snapshot, not once per keystroke.

_SEP = "\x00"  # joins a field's values; never typed, so no match spans two values


@dataclass(frozen=True, slots=True)
class Searchable:
    coverage: Coverage
    fields: dict[str, str]  # field -> casefolded values joined by _SEP
    everything: str


def searchable(coverage: Coverage) -> Searchable:
    fields = {name: _SEP.join(values).casefold() for name, values in _fields(coverage).items()}
    return Searchable(coverage, fields, _SEP.join(fields.values()))


def index_coverages(coverages: Iterable[Coverage]) -> list[Searchable]:
    return [searchable(cov) for cov in coverages]


def filter_index(items: Iterable[Searchable], flt: Filter) -> list[Searchable]:
    orphans = wants_orphans(flt)
    terms = flt.terms
    return [
        item for item in items
        if (orphans or not item.coverage.orphan)
        and all(value in (item.fields[field] if field else item.everything) for field, value in terms)
    ]


def narrows(new: Filter, old: Filter) -> bool:
    """True when everything `new` matches is also matched by `old`, so the
    new filter may search only the old result (typing more letters): each
    old term has a new term on the same field whose value contains it."""
    return all(
        any(nf == of and ov in nv for nf, nv in new.terms) for of, ov in old.terms
    )
