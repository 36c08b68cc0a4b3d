"""Human texts for ages and sizes, shared by the CLI, the TUI and the policy's
reasons so an operator reads the same words everywhere."""

from __future__ import annotations

import re
from typing import Any


def age(seconds: float) -> str:
    """3725 -> '1h 2m'; the two largest units, no more."""
    seconds = int(max(0, seconds))
    if seconds < 60:
        return f"{seconds}s"
    units = (("d", 86400), ("h", 3600), ("m", 60))
    for index, (unit, unit_seconds) in enumerate(units):
        if seconds >= unit_seconds:
            text = f"{seconds // unit_seconds}{unit}"
            if index + 1 < len(units):
                next_unit, next_seconds = units[index + 1]
                rest = (seconds % unit_seconds) // next_seconds
                if rest:
                    text += f" {rest}{next_unit}"
            return text
    return f"{seconds}s"


def size(num_bytes: int | None) -> str:
    if num_bytes is None:
        return "?"
    value = float(num_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> int:
    """'90m', '24h', '7d', '2w' or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 24h, 7d or 90m")
    if isinstance(value, int):
        return value
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"expected a duration such as 24h, 7d or 90m, got {value!r}")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
