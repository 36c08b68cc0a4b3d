"""Helpers shared by the lab's restore tests (imported as `labhelpers`:
pytest puts this folder on sys.path)."""

from __future__ import annotations

import subprocess
import time
from typing import Any


def wait_for_rows_in_staging(conn: Any, proc: subprocess.Popen[str], like: str,
                             timeout: float = 60) -> str:
    """Wait until a restore run by `proc` has loaded rows into a staging
    schema whose name matches the LIKE pattern `like`; return its name."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        with conn.cursor() as cur:
            cur.execute("SELECT TABLE_SCHEMA, SUM(TABLE_ROWS) FROM information_schema.TABLES "
                        "WHERE TABLE_SCHEMA LIKE %s GROUP BY TABLE_SCHEMA", (like,))
            row = cur.fetchone()
        if row and row[1]:
            return str(row[0])
        time.sleep(0.05)
    raise AssertionError("the load never started")
