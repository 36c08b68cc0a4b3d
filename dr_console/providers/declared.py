"""Assets no API lists (the playbooks' git repository, an offsite config
archive): the site file declares them, and copy patterns find their copies."""

from __future__ import annotations

from dr_console.model import Asset, asset_id
from dr_console.providers import Discovery
from dr_console.schema import DeclaredAsset


class DeclaredProvider:
    provider = "declared"

    def __init__(self, entry: DeclaredAsset) -> None:
        self.entry = entry
        self.source = entry.name

    def discover(self) -> Discovery:
        entry = self.entry
        attributes = {"description": entry.description} if entry.description else {}
        asset = Asset(
            id=asset_id(self.source, entry.kind, entry.name), name=entry.name,
            provider=self.provider, kind=entry.kind, source=self.source,
            tags=dict(entry.tags), attributes=attributes,
        )
        return Discovery(source=self.source, provider=self.provider, assets=[asset])
