"""Fixtures for the TUI tests: a realistic snapshot built from the model
dataclasses (the same one the README screenshots use), a fixed clock, and
an app factory whose backend calls can be held, failed or counted."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pilot_helpers import AppFactory
from sampledata import SAMPLE_NOW, SAMPLE_SITE, sample_plan, sample_snapshot

from dr_console.model import Snapshot
from dr_console.tui.app import DrConsoleApp


@pytest.fixture
def sample() -> Snapshot:
    # Not "snapshot": that name is syrupy's fixture, which snap_compare uses.
    return sample_snapshot()


@pytest.fixture
def now() -> datetime:
    return SAMPLE_NOW


@pytest.fixture
def newer_snapshot(sample: Snapshot) -> Snapshot:
    """A later gather that found only the metadata databases."""
    return replace(
        sample,
        generated_at=sample.generated_at + timedelta(minutes=1),
        coverages=tuple(
            c for c in sample.coverages if c.classification.asset_class.value == "metadata"
        ),
    )


@pytest.fixture
def private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private XDG_STATE_HOME: the journal, locks and reports of this test only."""
    state = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    return state


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """Holds a backend call until the test lets it go; always released at
    the end so no thread outlives the test."""
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def make_app(sample: Snapshot) -> AppFactory:
    def factory(
        load_cached: Callable[[], Snapshot | None] | None = None,
        refresh: Callable[[], Snapshot] | None = None,
        *,
        mode: str = "LIVE",
        write: bool = False,
    ) -> DrConsoleApp:
        return DrConsoleApp(
            SAMPLE_SITE,
            load_cached if load_cached is not None else (lambda: sample),
            refresh if refresh is not None else (lambda: sample),
            mode=mode,
            clock=lambda: SAMPLE_NOW,
            write=write,
            load_plan=sample_plan,
        )

    return factory


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run `async def` tests in a fresh event loop. Pilot needs nothing more,
    and this keeps pytest-asyncio (and its mode settings) out of the deps."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = inspect.signature(pyfuncitem.obj).parameters
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    asyncio.run(pyfuncitem.obj(**kwargs))
    return True


@pytest.fixture
def recorded_commands() -> Iterator[None]:
    """The process-wide command log holding the sample's commands only."""
    from sampledata import sample_commands

    from dr_console import commandlog

    saved = commandlog.LOG.entries()
    commandlog.LOG.clear()
    for at, kind, target, summary in sample_commands():
        commandlog.LOG.record(kind, target, summary, at=at)
    yield
    commandlog.LOG.clear()
    for entry in saved:
        commandlog.LOG.record(entry.kind, entry.target, entry.summary, at=entry.at)
