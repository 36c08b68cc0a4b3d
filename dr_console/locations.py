"""XDG paths for config, cache and state, in one place."""

from __future__ import annotations

import os
from pathlib import Path

APP = "dr-console"
# Where the site file is when --site does not say.
SITE_ENV = "DR_CONSOLE_SITE"


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var)
    base = Path(value) if value else Path.home() / fallback
    return base / APP


def config_dir() -> Path:
    return _xdg("XDG_CONFIG_HOME", ".config")


def cache_dir() -> Path:
    return _xdg("XDG_CACHE_HOME", ".cache")


def state_dir() -> Path:
    return _xdg("XDG_STATE_HOME", ".local/state")


def default_site_path() -> Path:
    """$DR_CONSOLE_SITE, else the XDG config dir's site.yaml."""
    env = os.environ.get(SITE_ENV)
    return Path(env) if env else config_dir() / "site.yaml"
