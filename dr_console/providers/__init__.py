"""Providers do the I/O: each reads one site-file entry (a cloud, a store, a
MySQL server, a host) and returns plain model data. A provider that cannot
reach its backend raises ProviderError with a reason an operator can act on
(no secrets in it); the inventory turns that into UNKNOWN assets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from dr_console.model import Asset, BackupCopy


@dataclass(frozen=True)
class UnboundCopy:
    """A copy found by name only (e.g. a dump in a store matched by a copy
    pattern); the inventory binds it to the asset of that name and kind."""

    asset_name: str
    asset_kind: str | None
    copy: BackupCopy


@dataclass
class Discovery:
    """What one provider found."""

    source: str
    provider: str
    assets: list[Asset] = field(default_factory=list)
    copies: list[BackupCopy] = field(default_factory=list)
    unbound: list[UnboundCopy] = field(default_factory=list)
    # Assets this provider knows exist but could not fully read (e.g. a host
    # whose key was refused), with the reason: they become UNKNOWN.
    problems: dict[str, str] = field(default_factory=dict)


class Provider(Protocol):
    source: str
    provider: str

    def discover(self) -> Discovery: ...
