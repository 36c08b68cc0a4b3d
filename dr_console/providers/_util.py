"""Small helpers shared by providers."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")


def host_port(url: str) -> str:
    """host:port of a URL, dropping userinfo, path and query (which can
    carry credentials or tokens)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port else host


def redact_urls(text: str) -> str:
    """Library messages often embed full URLs; keep only host:port."""
    return _URL.sub(lambda m: host_port(m.group(0)), text)


def aware(moment: Any) -> datetime | None:
    """An aware UTC datetime from a datetime or an ISO string (OpenStack
    returns naive UTC strings such as '2026-11-23T15:00:00.000000')."""
    if isinstance(moment, datetime):
        value = moment
    elif isinstance(moment, str) and moment:
        try:
            value = datetime.fromisoformat(moment.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
