"""Where the lab is, and the one way a test says the lab cannot serve it.

Every lab-dependent skip goes through `lab_missing`: on a developer's
machine it skips, saying why; under `make test` (DR_REQUIRE_LAB set) it
fails, so CI can never pass by skipping lab tests. Imported as `labenv`
(pytest puts this folder on sys.path)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parents[1]


def lab_dir() -> Path:
    """$DR_LAB_DIR, else the repository's own `.lab`."""
    return Path(os.environ.get("DR_LAB_DIR", REPO / ".lab")).resolve()


def lab_missing(reason: str) -> NoReturn:
    if os.environ.get("DR_REQUIRE_LAB"):
        pytest.fail(f"lab required but it cannot serve this test: {reason}")
    pytest.skip(f"lab is not up: {reason}")
