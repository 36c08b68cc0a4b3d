"""The JSON contract of `status --json` / `inventory --json`, also the cache
format of a snapshot. Stable: add fields, never rename or remove them.

    {
      "schema": "dr-console/status/v1",
      "site": str, "generated_at": ISO-8601, "overall": "OK|WARNING|CRITICAL|UNKNOWN",
      "summary": {"ok": n, "warning": n, "critical": n, "unknown": n},
      "problems": [{"source", "provider", "reason"}],
      "assets": [{
        "id", "name", "provider", "source", "kind", "class", "rule", "status",
        "reasons": [str], "rpo_seconds": int|null, "tags": {}, "attributes": {},
        "last_good": {"id", "kind", "strategy", "location", "created_at",
                      "age_seconds", "verified"} | null,
        "copies": [{"id", "kind", "strategy", "location", "created_at", "age_seconds",
                    "size", "verified", "usable", "good", "verification": {...}}]
      }],
      "timings": {"wall_seconds": float, "providers": {source: seconds}}
    }
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from dr_console.model import (
    Asset,
    AssetClass,
    BackupCopy,
    Classification,
    Coverage,
    Snapshot,
    SourceProblem,
    Status,
    Strategy,
    Verification,
    is_good,
)

SCHEMA = "dr-console/status/v1"


def snapshot_to_dict(snapshot: Snapshot, now: datetime | None = None) -> dict[str, Any]:
    """`now` sets the ages; by default the snapshot's own time, so a cached
    file is reproducible."""
    at = now or snapshot.generated_at
    return {
        "schema": SCHEMA,
        "site": snapshot.site,
        "generated_at": snapshot.generated_at.isoformat(),
        "overall": snapshot.overall.name,
        "summary": snapshot.summary(),
        "problems": [asdict(p) for p in snapshot.problems],
        "assets": [_coverage_to_dict(c, at) for c in snapshot.coverages],
        # Copies naming an asset the inventory did not find (same fields as
        # an asset; "status" says nothing about them).
        "orphans": [_coverage_to_dict(c, at) for c in snapshot.orphans],
        "timings": {
            "wall_seconds": round(snapshot.wall_seconds, 3),
            "providers": {k: round(v, 3) for k, v in snapshot.provider_seconds.items()},
        },
    }


def _coverage_to_dict(cov: Coverage, at: datetime) -> dict[str, Any]:
    asset = cov.asset
    last = cov.last_good
    return {
        "id": asset.id,
        "name": asset.name,
        "provider": asset.provider,
        "source": asset.source,
        "kind": asset.kind,
        "class": cov.classification.asset_class.value,
        "rule": cov.classification.rule,
        "status": cov.status.name,
        "reasons": list(cov.reasons),
        "rpo_seconds": cov.rpo_seconds,
        "tags": dict(asset.tags),
        "attributes": dict(asset.attributes),
        "last_good": None if last is None else {
            "id": last.id,
            "kind": last.kind,
            "strategy": last.strategy.value,
            "location": last.location,
            "created_at": last.created_at.isoformat(),
            "age_seconds": int((at - last.created_at).total_seconds()),
            "verified": last.verification.verified,
        },
        "copies": [_copy_to_dict(c, at) for c in cov.copies],
    }


def _copy_to_dict(copy: BackupCopy, at: datetime) -> dict[str, Any]:
    return {
        "id": copy.id,
        "asset_id": copy.asset_id,
        "kind": copy.kind,
        "strategy": copy.strategy.value,
        "location": copy.location,
        "created_at": copy.created_at.isoformat(),
        "age_seconds": int((at - copy.created_at).total_seconds()),
        "size": copy.size,
        "verified": copy.verification.verified,
        "usable": copy.verification.usable,
        "good": is_good(copy),
        "verification": asdict(copy.verification),
    }


def snapshot_from_dict(data: dict[str, Any]) -> Snapshot:
    """Inverse of snapshot_to_dict (for the cache). Raises ValueError on a
    file of another schema, so a stale cache is ignored, not misread."""
    if data.get("schema") != SCHEMA:
        raise ValueError(f"not a {SCHEMA} document")
    timings = data.get("timings", {})
    return Snapshot(
        site=data["site"],
        generated_at=datetime.fromisoformat(data["generated_at"]),
        coverages=tuple(_coverage_from_dict(entry) for entry in data["assets"]),
        problems=tuple(SourceProblem(**p) for p in data.get("problems", [])),
        provider_seconds=dict(timings.get("providers", {})),
        wall_seconds=float(timings.get("wall_seconds", 0.0)),
        orphans=tuple(_coverage_from_dict(entry, orphan=True) for entry in data.get("orphans", [])),
    )


def _coverage_from_dict(entry: dict[str, Any], orphan: bool = False) -> Coverage:
    asset = Asset(
        id=entry["id"], name=entry["name"], provider=entry["provider"],
        kind=entry["kind"], source=entry["source"], tags=entry.get("tags", {}),
        attributes=entry.get("attributes", {}),
    )
    copies = tuple(_copy_from_dict(c) for c in entry["copies"])
    last_id = entry["last_good"]["id"] if entry["last_good"] else None
    return Coverage(
        asset=asset,
        classification=Classification(AssetClass(entry["class"]), entry["rule"]),
        status=Status[entry["status"]],
        reasons=tuple(entry["reasons"]),
        copies=copies,
        last_good=next((c for c in copies if c.id == last_id), None),
        rpo_seconds=entry["rpo_seconds"],
        orphan=orphan,
    )


def _copy_from_dict(data: dict[str, Any]) -> BackupCopy:
    return BackupCopy(
        id=data["id"],
        asset_id=data["asset_id"],
        kind=data["kind"],
        strategy=Strategy(data["strategy"]),
        location=data["location"],
        created_at=datetime.fromisoformat(data["created_at"]),
        size=data["size"],
        verification=Verification(**data["verification"]),
    )
