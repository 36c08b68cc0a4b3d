"""A destructive step asks for its target's name, typed exactly: muscle
memory cannot press through it (k9s #87, #782, #1016)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from dr_console.runbooks.events import StepInfo


class ConfirmScreen(ModalScreen[bool]):
    """Dismissed with True only when the name matches; escape refuses."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "refuse", "Refuse"),
    ]

    def __init__(self, step: StepInfo, expected: str, reason: str) -> None:
        super().__init__()
        self.step = step
        self.expected = expected
        self.reason = reason

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Static(Text.assemble(("⚠ DESTRUCTIVE  ", "bold reverse"), (self.step.title, "bold")),
                         id="confirm-title")
            yield Static(Text(self.reason), id="confirm-reason")
            if self.step.command:
                yield Static(Text.assemble(("$ ", "dim"), (self.step.command, "bold")),
                             id="confirm-command")
            yield Static(Text.assemble("Type ", (self.expected, "bold"), " to run it; escape refuses."),
                         id="confirm-prompt")
            yield Input(placeholder=self.expected, id="confirm-input")
            with Horizontal(id="confirm-buttons"):
                yield Button("Run it", id="confirm-yes", variant="error", disabled=True)
                yield Button("Refuse", id="confirm-no")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @property
    def matches(self) -> bool:
        return self.query_one(Input).value == self.expected

    @on(Input.Changed)
    def _typed(self) -> None:
        self.query_one("#confirm-yes", Button).disabled = not self.matches

    @on(Input.Submitted)
    def _submitted(self) -> None:
        if self.matches:  # enter on a wrong name does nothing: no guessing
            self.dismiss(True)

    @on(Button.Pressed, "#confirm-yes")
    def _yes(self) -> None:
        if self.matches:
            self.dismiss(True)

    @on(Button.Pressed, "#confirm-no")
    def _no(self) -> None:
        self.dismiss(False)

    def action_refuse(self) -> None:
        self.dismiss(False)
