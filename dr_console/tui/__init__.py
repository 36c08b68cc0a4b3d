"""The Textual face of dr-console.

Nothing here imports Textual at module level: `dr-console status` imports
the package tree and must not pay Textual's start-up cost. `run_tui` imports
the app when it is actually called."""

from __future__ import annotations

from pathlib import Path


def run_tui(site_path: Path | None, *, mode: str = "LIVE") -> int:
    """Open the console for a site file (None: the default site). Returns the
    process exit code."""
    from dr_console.tui.app import DrConsoleApp, build_for_site

    site_name, load_cached, refresh = build_for_site(site_path)
    app = DrConsoleApp(site_name, load_cached, refresh, mode=mode)
    app.run()
    return app.return_code or 0


__all__ = ["run_tui"]
