"""`?`: every key of the screen it was opened from, read from the bindings
(see tui/keys.py), grouped by where they apply."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from dr_console.tui.keys import KeyHelp


def render_keys(title: str, keys: list[KeyHelp], *, write: bool) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True, min_width=10)
    table.add_column()
    where = None
    for key in keys:
        if key.where != where:
            where = key.where
            table.add_row(Text(""), Text(""))
            table.add_row(Text(where, style="bold underline"), Text(""))
        table.add_row(Text(key.keys), Text(key.description))
    table.add_row(Text(""), Text(""))
    mode = ("WRITE: runbooks can be started" if write
            else "READ-ONLY: nothing here can change anything; --write enables runbooks")
    table.add_row(Text(""), Text(mode, style="italic"))
    table.title = title
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss", "Close"),
    ]

    def __init__(self, title: str, keys: list[KeyHelp], *, write: bool) -> None:
        super().__init__()
        self.keys = keys
        self._help_title = title
        self._write = write

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(render_keys(self._help_title, self.keys, write=self._write), id="help-body")

    def on_mount(self) -> None:
        self.query_one("#help-box").focus()

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
