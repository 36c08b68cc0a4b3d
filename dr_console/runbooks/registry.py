"""Runbooks by name, so `resume` can rebuild a run from its journal header
(name + parameters) alone. Factories are imported lazily: listing runs
must not pay for pymysql or openstacksdk."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dr_console.errors import DrConsoleError
from dr_console.remedies import Plan, PlanStep, Remedy

if TYPE_CHECKING:
    from dr_console.runbooks.engine import Runbook
    from dr_console.schema import Site

Factory = Callable[["Site | None", dict[str, Any]], "Runbook"]

# name -> "module:function"
_BUILTIN = {
    "boot-infra": "dr_console.runbooks.boot_infra:build",
    "metadata-db": "dr_console.runbooks.metadata_db:build",
    "payload-volume": "dr_console.runbooks.payload_volume:build",
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


def plan_for(site: Site | None, remedy: Remedy) -> Plan:
    """The steps of the remedy's runbook, with their equivalent commands.

    Blocks (building a runbook may read the cache or the site file): call it
    from a worker thread. Never raises: a plan that cannot be built says why."""
    if remedy.runbook is None:
        return Plan(unavailable="no runbook: do it by hand with the command above")
    if remedy.runbook not in names():
        return Plan(unavailable=f"runbook {remedy.runbook!r} is not written yet")
    try:
        runbook = build(remedy.runbook, site, dict(remedy.params))
        infos = [step.info({}) for step in runbook.steps]
    except Exception as exc:  # a plan that cannot be built must not break the asset screen
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return Plan(unavailable=f"plan unavailable: {first[:200]}")
    return Plan(steps=tuple(
        PlanStep(info.title, info.command, info.destructive, info.target) for info in infos
    ))
