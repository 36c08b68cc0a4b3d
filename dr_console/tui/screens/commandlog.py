"""The command log screen: what the console ran, newest last, live.

A read-only TextArea rather than a table: its text can be selected with the
keyboard or the mouse and copied (the fallback when the terminal drops OSC
52), and `y` copies the selection, or the whole log, through OSC 52."""

from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo
from typing import TYPE_CHECKING, ClassVar, cast

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Static, TextArea

from dr_console import commandlog
from dr_console.commandlog import Entry
from dr_console.tui.messages import CommandLogged
from dr_console.tui.widgets.header import SiteHeader

if TYPE_CHECKING:
    from dr_console.tui.app import DrConsoleApp

EMPTY = "nothing run yet: each API call, SQL statement class, SSH command and playbook appears here"


def entry_line(entry: Entry, tz: tzinfo | None) -> str:
    when = entry.at.astimezone(tz).strftime("%H:%M:%S")
    return f"{when}  {entry.kind:<8} {entry.target:<21} {entry.summary}"


class CommandLogScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("y", "copy", "Copy"),
        Binding("G", "end", "Newest", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def dr_app(self) -> DrConsoleApp:
        return cast("DrConsoleApp", self.app)

    def compose(self) -> ComposeResult:
        yield SiteHeader(id="site-header")
        yield Static(id="log-title")
        yield TextArea(id="command-log", read_only=True, soft_wrap=False, show_line_numbers=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        app = self.dr_app
        self.watch(app, "refreshing", self._render_header, init=False)
        self.watch(app, "snapshot", self._render_header, init=False)
        self._render_header()
        # Entries come from worker threads; post_message is the thread-safe way in.
        self._unsubscribe = commandlog.subscribe(lambda e: self.post_message(CommandLogged(e)))
        self._reload()
        self.query_one(TextArea).focus()

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    def _render_header(self) -> None:
        self.query_one(SiteHeader).show_app_state(self.dr_app)

    def _tz(self) -> tzinfo | None:
        return self.dr_app.clock().tzinfo

    def _reload(self) -> None:
        entries = commandlog.entries()
        area = self.query_one(TextArea)
        tz = self._tz()
        area.load_text("\n".join(entry_line(e, tz) for e in entries))
        self._title(len(entries))
        self.action_end()

    def _title(self, count: int) -> None:
        text = f" {count} commands, newest last · y copies (selection or all)" if count else f" {EMPTY}"
        self.query_one("#log-title", Static).update(text)

    @on(CommandLogged)
    def _logged(self, message: CommandLogged) -> None:
        area = self.query_one(TextArea)
        at_end = area.cursor_at_last_line
        line = entry_line(message.entry, self._tz())
        if area.text:
            area.insert("\n" + line, area.document.end, maintain_selection_offset=True)
        else:
            area.load_text(line)
        self._title(len(commandlog.LOG))
        if at_end:
            self.action_end()

    def action_end(self) -> None:
        area = self.query_one(TextArea)
        area.move_cursor(area.document.end)
        area.scroll_end(animate=False)

    def action_copy(self) -> None:
        area = self.query_one(TextArea)
        text = area.selected_text or area.text
        if not text:
            self.notify("nothing to copy yet", timeout=3)
            return
        self.app.copy_to_clipboard(text)
        lines = text.count("\n") + 1
        self.notify(f"{lines} line{'s' if lines != 1 else ''} copied (OSC 52); or select them with "
                    "shift+arrows or the mouse", title="Copied", timeout=5)
