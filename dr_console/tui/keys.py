"""The keys of a screen, read from its BINDINGS (and its focused widget's,
and the app's) rather than written by hand, so the help screen and the
command palette can never disagree with what the keys actually do.

Actions a screen refuses in `check_action` (write actions in read-only mode)
are absent here too: Textual's `active_bindings` leaves them out."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from textual.app import App
from textual.dom import DOMNode
from textual.screen import Screen


@dataclass(frozen=True)
class KeyHelp:
    keys: str  # as shown: "r", "ctrl+p", "enter"
    description: str
    action: str
    node: DOMNode
    where: str  # "screen", "app", or the widget's type
    shown: bool  # listed in the footer too


def _where(node: DOMNode) -> str:
    if isinstance(node, App):
        return "everywhere"
    if isinstance(node, Screen):
        return "this screen"
    # Widgets may name themselves for the help screen; else a friendly name.
    return str(getattr(node, "HELP_NAME", "") or _FRIENDLY.get(type(node).__name__, type(node).__name__))


_FRIENDLY = {"VerticalScroll": "scrolling", "TextArea": "log text", "AssetDetail": "preview pane"}


def screen_keys(screen: Screen[object]) -> list[KeyHelp]:
    """Every key active on `screen`, one entry per action, screen first."""
    app = screen.app
    by_action: dict[tuple[int, str], KeyHelp] = {}
    for key, active in screen.active_bindings.items():
        binding = active.binding
        description = binding.description or binding.tooltip
        if not description:
            continue
        ident = (id(active.node), binding.action)
        display = app.get_key_display(binding)
        if ident in by_action:
            existing = by_action[ident]
            by_action[ident] = KeyHelp(f"{existing.keys}, {display}", existing.description,
                                       existing.action, existing.node, existing.where, existing.shown)
            continue
        by_action[ident] = KeyHelp(display or key, description, binding.action, active.node,
                                   _where(active.node), binding.show)
    order = {"this screen": 0, "everywhere": 2}
    return sorted(by_action.values(), key=lambda k: order.get(k.where, 1))


def iter_actions(screen: Screen[object]) -> Iterator[KeyHelp]:
    """What the command palette lists: each bound action once."""
    seen: set[str] = set()
    for key in screen_keys(screen):
        if key.description in seen:
            continue
        seen.add(key.description)
        yield key
