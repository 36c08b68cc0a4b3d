"""Where a bug goes: its traceback is appended to `$XDG_STATE_HOME/dr-console/
crash.log`, and the operator reads one line that points there. No traceback,
no exception class name, no library wording reaches a screen."""

from __future__ import annotations

import traceback
from datetime import UTC, datetime
from pathlib import Path

from dr_console.locations import state_dir


def write(exc: BaseException) -> Path:
    path = state_dir() / "crash.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(traceback.format_exception(exc))
    with path.open("a", encoding="utf-8") as fh:
        fh.write(f"--- {datetime.now(UTC).isoformat()}\n{text}\n")
    return path
