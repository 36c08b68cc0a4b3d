"""Which runbooks apply to an asset, and the command an operator would type
to run each: the restore order of the seeds (boot infrastructure, then
metadata databases, then payload volumes), by class.

Pure data and functions (no Textual, no SDK): the TUI's asset screen and any
CLI output can share it. A runbook's plan (its steps) comes from the
engine's registry, `runbooks.registry.plan_for`."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from dr_console.model import AssetClass, Coverage


@dataclass(frozen=True)
class Remedy:
    title: str  # what an operator would call it: "restore metadata database"
    command: str  # the equivalent command line; never a secret
    runbook: str | None = None  # registry name when a runbook does it
    params: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    writes: bool = True  # running it changes the world (hidden in read-only mode)


@dataclass(frozen=True)
class PlanStep:
    title: str
    command: str
    destructive: bool = False
    target: str = ""


@dataclass(frozen=True)
class Plan:
    """A runbook's steps, or why they cannot be shown."""

    steps: tuple[PlanStep, ...] = ()
    unavailable: str = ""


def _q(text: str) -> str:
    return shlex.quote(text)


def remedies(coverage: Coverage) -> list[Remedy]:
    asset = coverage.asset
    asset_class = coverage.classification.asset_class
    name = asset.name
    native = asset.id.rsplit(":", 1)[-1]
    if asset_class is AssetClass.BOOT_INFRA:
        return [Remedy(
            "bootstrap boot infrastructure",
            f"dr-console run boot-infra --host {_q(name)}",
            runbook="boot-infra", params={"host": name},
            note="first: the underlay every other restore stands on",
        )]
    if asset_class is AssetClass.UNREACHABLE:
        return [Remedy("reach the source again", "dr-console status --refresh", writes=False,
                       note="its assets show as last seen until it answers; see the reason")]
    if asset_class is AssetClass.METADATA:
        if asset.kind == "database":
            params: dict[str, Any] = {"db": name}
            command = f"dr-console run metadata-db --db {_q(name)}"
            if not coverage.orphan:  # an orphan's source is the store, not its server
                params["server"] = asset.source
                command += f" --server {_q(asset.source)}"
            return [Remedy(
                "restore metadata database", command, runbook="metadata-db", params=params,
                note="into a staging schema, verified, then swapped in atomically",
            )]
        if asset.provider == "aws":
            command = (f"aws rds restore-db-instance-from-db-snapshot --db-instance-identifier {_q(name)}"
                       " --db-snapshot-identifier <snapshot>")
        else:
            command = f"openstack database instance create {_q(name)} <flavor> --backup <backup-id>"
        return [Remedy("restore the database instance from its platform backup", command,
                       note="DBaaS: the platform restores it; no dr-console runbook yet")]
    if asset_class is AssetClass.PAYLOAD:
        if asset.kind == "volume":
            return [Remedy(
                "restore and reattach payload volume",
                f"dr-console run payload-volume --volume {_q(native)} --cloud {_q(asset.source)}",
                runbook="payload-volume", params={"volume": native, "cloud": asset.source},
                note="after boot infrastructure and metadata are back",
            )]
        mirror = coverage.last_good.location if coverage.last_good else "<mirror>"
        return [Remedy("restore the bucket from its mirror",
                       f"aws s3 sync {_q(mirror)} s3://{_q(name)}/",
                       note="no dr-console runbook yet")]
    if asset_class is AssetClass.REPRODUCIBLE:
        return [Remedy("redeploy from automation",
                       "none: rebuild it with the pipeline that made it", writes=False,
                       note="reproducible assets are redeployed, not restored")]
    return [Remedy("classify it first",
                   "dr-console inventory --class unclassified", writes=False,
                   note="no rule matched: add one to the site file, then refresh")]
