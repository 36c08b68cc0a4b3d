"""Errors meant for the operator: the CLI prints their message and exits,
never a traceback. Messages must not contain secrets."""

from __future__ import annotations


class DrConsoleError(Exception):
    """Base for every error the operator should read as a sentence."""

    exit_code = 3


class SiteFileError(DrConsoleError):
    """The site file is missing or malformed. Names file, line and key."""

    def __init__(self, path: str, line: int | None, key: str, message: str) -> None:
        self.path = path
        self.line = line
        self.key = key
        where = f"{path}:{line}" if line else path
        key_part = f" {key}:" if key else ""
        super().__init__(f"{where}:{key_part} {message}")


class LocationError(DrConsoleError):
    """A copy's location is malformed or names no store of the site file."""

    exit_code = 2


class ProviderError(DrConsoleError):
    """A backend could not be read (unreachable, refused, bad credentials)."""


class HostKeyError(ProviderError):
    """An SSH host key is unknown or changed: refused, never trusted."""
