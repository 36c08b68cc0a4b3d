"""The Textual face of dr-console.

Nothing here imports Textual at module level: `dr-console status` imports
the package tree and must not pay Textual's start-up cost. `run_tui` imports
the app when it is actually called."""

from __future__ import annotations

import os
from pathlib import Path


def run_tui(site_path: Path | None, *, mode: str = "LIVE", write: bool = False) -> int:
    """Open the console for a site file (None: the default site). Returns the
    process exit code. Read-only unless `write`: then runbooks can be run."""
    from dr_console.tui.app import DrConsoleApp, build_for_site

    backend = build_for_site(site_path)
    app = DrConsoleApp(backend.site_name, backend.load_cached, backend.refresh, mode=mode,
                       write=write, load_plan=backend.load_plan,
                       build_runbook=backend.build_runbook, exit_on_hangup=True)
    app.run()
    if app.hung_up:
        # The terminal is gone: interpreter shutdown could only block (or
        # abort) on a stdout nobody reads. Journals and caches are written
        # and fsynced as they go, so there is nothing left to flush.
        os._exit(0)
    return app.return_code or 0


__all__ = ["run_tui"]
