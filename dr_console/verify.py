"""`dr-console verify`: check the copies of some assets now. Shallow by
default (manifest present, sizes match, cached hashes); `--deep` downloads
and hashes every stored copy again, whatever the cache says."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from dr_console.errors import DrConsoleError, LocationError, ProviderError
from dr_console.model import BackupCopy, Coverage, Status, is_good
from dr_console.schema import Site


@dataclass(frozen=True)
class VerifyResult:
    asset: str
    location: str
    kind: str
    status: Status
    detail: str

    @property
    def exit_code(self) -> int:
        return int(self.status)

    def to_dict(self) -> dict[str, Any]:
        return {"asset": self.asset, "location": self.location, "kind": self.kind,
                "status": self.status.name, "detail": self.detail}


def select(coverages: Sequence[Coverage], names: Sequence[str]) -> list[Coverage]:
    """Assets by name or id, in the order asked; an unknown name is an error
    that says how to find the right one."""
    if not names:
        return list(coverages)
    chosen = []
    for name in names:
        found = [c for c in coverages if name in (c.asset.name, c.asset.id)]
        if not found:
            raise DrConsoleError(f"no asset named {name!r} (see `dr-console inventory`)")
        chosen.extend(found)
    return chosen


def judge_copy(copy: BackupCopy) -> tuple[Status, str]:
    check = copy.verification
    if is_good(copy):
        if check.verified:
            return Status.OK, check.detail or "verified"
        return Status.WARNING, "complete, but no manifest: integrity unverified"
    if check.usable:
        return Status.WARNING, check.detail or "not verified yet (run with --deep)"
    return Status.CRITICAL, check.detail or "unusable"


def verify_assets(site: Site, names: Sequence[str], *, deep: bool) -> list[VerifyResult]:
    from dr_console.inventory import current
    from dr_console.providers.store import verify_location

    snapshot = current(site, refresh=True)
    results: list[VerifyResult] = []
    for cov in select(snapshot.coverages, names):
        if not cov.copies:
            status = Status.OK if cov.rpo_seconds is None else Status.CRITICAL
            results.append(VerifyResult(cov.asset.name, "-", "-", status, "no copy found"))
            continue
        for copy in cov.copies:
            if deep and copy.location.startswith("s3://"):
                try:
                    fresh = verify_location(site, copy.location, deep=True, use_cache=False)
                    copy = replace(copy, verification=fresh.copy.verification)
                except (ProviderError, LocationError) as exc:
                    results.append(VerifyResult(cov.asset.name, copy.location, copy.kind,
                                                Status.UNKNOWN, str(exc)))
                    continue
            status, detail = judge_copy(copy)
            results.append(VerifyResult(cov.asset.name, copy.location, copy.kind, status, detail))
    return results
