"""Helpers shared by the TUI tests (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable

from rich.console import Console, RenderableType
from textual.pilot import Pilot

from dr_console.tui.app import DrConsoleApp

AppFactory = Callable[..., DrConsoleApp]


async def settle(pilot: Pilot[None]) -> None:
    """Let workers finish and their messages be handled."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


async def wait_for(pilot: Pilot[None], predicate: Callable[[], bool], timeout: float = 15) -> None:
    """Poll until `predicate` holds; the timeout is a ceiling for a loaded
    2-core CI machine, a passing test returns as soon as it holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.02)


def plain(renderable: RenderableType, width: int = 200) -> str:
    """What a renderable says, without styles: for asserting on content."""
    console = Console(width=width, record=True, color_system=None, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


async def enter_filter(pilot: Pilot[None], text: str) -> None:
    """`/`, then the text at once: the Input.Changed path is the same as for
    typed keys, without Pilot's per-key round trip (one test types for real)."""
    from textual.widgets import Input

    await pilot.press("slash")
    pilot.app.screen.query_one("#filter", Input).value = text
    await pilot.pause()
