"""`dr-console status` imports the package but must not pay for Textual."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_tui_package_does_not_import_textual() -> None:
    code = (
        "import sys, dr_console.tui, dr_console.present, dr_console.runview; "
        "sys.exit(1 if 'textual' in sys.modules else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr or "textual was imported"
