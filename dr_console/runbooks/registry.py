"""Runbooks by name, so `resume` can rebuild a run from its journal header
(name + parameters) alone. Factories are imported lazily: listing runs
must not pay for pymysql or openstacksdk."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dr_console.errors import DrConsoleError

if TYPE_CHECKING:
    from dr_console.config import Site
    from dr_console.runbooks.engine import Runbook

Factory = Callable[["Site | None", dict[str, Any]], "Runbook"]

# name -> "module:function"
_BUILTIN = {
    "metadata-db": "dr_console.runbooks.metadata_db:build",
}
_EXTRA: dict[str, Factory] = {}


def register(name: str, factory: Factory) -> None:
    """Add a runbook (tests, plug-ins)."""
    _EXTRA[name] = factory


def names() -> list[str]:
    return sorted({*_BUILTIN, *_EXTRA})


def factory(name: str) -> Factory:
    if name in _EXTRA:
        return _EXTRA[name]
    if name not in _BUILTIN:
        raise DrConsoleError(f"unknown runbook {name!r} (known: {', '.join(names())})")
    module, _, attr = _BUILTIN[name].partition(":")
    found: Factory = getattr(importlib.import_module(module), attr)
    return found


def build(name: str, site: Site | None, params: dict[str, Any]) -> Runbook:
    return factory(name)(site, params)
