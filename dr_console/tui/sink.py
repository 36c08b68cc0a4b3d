"""The TUI's face of the engine: a `Sink` that turns engine events into
Textual messages and answers confirmations with a modal.

The engine runs in a thread worker. `post_message` is thread-safe, so
events go straight to the screen's queue; a confirmation has to wait for
the operator, so the modal is pushed on the UI thread and the engine's
thread waits on a `threading.Event` for the answer (or for a cancel)."""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING

from dr_console.runbooks import events
from dr_console.tui.messages import RunbookEvent

if TYPE_CHECKING:
    from textual.app import App
    from textual.message_pump import MessagePump

# How often a waiting confirmation looks at the cancel flag.
_POLL_SECONDS = 0.1


class TuiSink:
    def __init__(self, app: App[object], target: MessagePump, cancel: threading.Event) -> None:
        self.app = app
        # The screen whose handlers own the run's state on screen.
        self.target = target
        self.cancel = cancel
        self._reason = ""

    def emit(self, event: events.Event) -> None:
        if isinstance(event, events.NeedsConfirmation):
            self._reason = event.reason
        self.target.post_message(RunbookEvent(event))

    def confirm(self, step: events.StepInfo, expected_text: str) -> bool:
        """Blocks the engine's thread (never the UI's) until the operator
        types the name, refuses, or the run is cancelled: then it refuses."""
        from dr_console.tui.screens.confirm import ConfirmScreen

        answered = threading.Event()
        answer: list[bool] = []

        def done(result: bool | None) -> None:
            answer.append(bool(result))
            answered.set()

        modal = ConfirmScreen(step, expected_text, self._reason or f"{step.title} changes {step.target}")
        try:
            self.app.call_from_thread(self.app.push_screen, modal, done)
        except RuntimeError:  # the app is gone: nobody can confirm
            return False
        while not answered.wait(_POLL_SECONDS):
            if self.cancel.is_set():
                # Abort or exit while the modal is up: close it, refuse.
                with contextlib.suppress(Exception):  # already closed, or the app is gone
                    self.app.call_from_thread(modal.dismiss, False)
                return False
        return answer[0]
