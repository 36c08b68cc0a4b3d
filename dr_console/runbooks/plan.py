"""The whole site's recovery, in the order the seeds teach: the boot
infrastructure first (nothing else can be rebuilt without it), then the
cloud's metadata databases (keystone first: every other service asks it),
then the payload. Each item with its chosen copy, its runbook and command,
what it waits for, its last drill and the RTO measured there.

Decided from the inventory snapshot and the run journal: no cloud call."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from dr_console.model import AssetClass, Coverage, Snapshot, is_good
from dr_console.remedies import remedies

if TYPE_CHECKING:
    from dr_console.runbooks.journal import RunRecord
    from dr_console.schema import Site

BOOT, METADATA, PAYLOAD = "boot infrastructure", "metadata databases", "payload"
PHASES = (BOOT, METADATA, PAYLOAD)
# OpenStack's own databases in the order their services need each other.
SERVICE_ORDER = ("keystone", "placement", "glance", "cinder", "neutron", "nova_api", "nova_cell0",
                 "nova", "heat", "barbican", "octavia", "designate", "manila", "ironic",
                 "gnocchi", "ceilometer", "aodh")


@dataclass(frozen=True)
class LastDrill:
    run_id: str
    at: str
    verdict: str
    rto_seconds: float | None


@dataclass(frozen=True)
class LastRun:
    """The newest real (not drill) run of an item: where the recovery stands."""

    run_id: str
    at: str
    outcome: str


@dataclass(frozen=True)
class PlanItem:
    order: int
    phase: str
    asset_id: str
    name: str
    kind: str
    asset_class: str
    status: str
    runbook: str | None
    params: dict[str, Any]
    command: str
    copy: str | None  # the last good copy's location, as the inventory sees it
    copy_created_at: str | None
    depends_on: tuple[str, ...] = ()
    last_drill: LastDrill | None = None
    last_run: LastRun | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _phase(coverage: Coverage) -> str | None:
    asset_class = coverage.classification.asset_class
    if asset_class is AssetClass.BOOT_INFRA and coverage.asset.kind == "host":
        return BOOT
    if asset_class is AssetClass.METADATA and coverage.asset.kind == "database":
        return METADATA
    if asset_class is AssetClass.PAYLOAD and coverage.asset.kind in ("volume", "database"):
        return PAYLOAD
    return None


def _rank(coverage: Coverage) -> tuple[int, int, str]:
    phase = PHASES.index(_phase(coverage) or PAYLOAD)
    name = coverage.asset.name
    service = SERVICE_ORDER.index(name) if name in SERVICE_ORDER else len(SERVICE_ORDER)
    return phase, service, name


def _runbook_params(coverage: Coverage) -> tuple[str | None, dict[str, Any], str]:
    remedy = remedies(coverage)[0]
    if coverage.asset.kind == "database" and coverage.classification.asset_class is AssetClass.PAYLOAD:
        # An application database comes back the way a metadata one does.
        return ("metadata-db", {"db": coverage.asset.name, "server": coverage.asset.source},
                f"dr-console run metadata-db --db {coverage.asset.name} --server {coverage.asset.source}")
    return remedy.runbook, dict(remedy.params), remedy.command


def _matches(run: RunRecord, runbook: str | None, params: dict[str, Any]) -> bool:
    if run.runbook != runbook:
        return False
    keys = {"metadata-db": ("db",), "payload-volume": ("volume",), "boot-infra": ("host",)}
    return all(str(run.params.get(k)) == str(params.get(k)) for k in keys.get(run.runbook, ()))


def last_drill(runs: list[RunRecord], runbook: str | None, params: dict[str, Any]) -> LastDrill | None:
    """The newest finished drill of this item, with the verdict and RTO its
    evidence report gives."""
    from dr_console.runbooks.evidence import report_paths

    drills = sorted((r for r in runs if r.kind == "drill" and r.finished is not None
                     and _matches(r, runbook, params)), key=lambda r: r.started, reverse=True)
    for run in drills:
        path, _ = report_paths(run.run_id)
        try:
            report = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        return LastDrill(run.run_id, report["started"], report["verdict"],
                         report["rto"]["measured_seconds"])
    return None


def last_run(runs: list[RunRecord], runbook: str | None, params: dict[str, Any]) -> LastRun | None:
    restores = [r for r in runs if r.kind != "drill" and _matches(r, runbook, params)]
    if not restores:
        return None
    newest = max(restores, key=lambda r: r.started)
    return LastRun(newest.run_id, newest.started.isoformat(), newest.outcome)


def recovery_plan(snapshot: Snapshot, runs: list[RunRecord]) -> list[PlanItem]:
    covered = sorted((c for c in snapshot.coverages if _phase(c) is not None), key=_rank)
    items: list[PlanItem] = []
    keystone = [c.asset.name for c in covered if c.asset.name == "keystone" and _phase(c) == METADATA]
    for order, coverage in enumerate(covered, 1):
        phase = _phase(coverage)
        assert phase is not None
        runbook, params, command = _runbook_params(coverage)
        depends = PHASES[:PHASES.index(phase)]
        if phase == METADATA and coverage.asset.name != "keystone":
            depends = (*depends, *keystone)
        notes = []
        if coverage.last_good is None:
            notes.append("no good copy: " + (coverage.reasons[0] if coverage.reasons else "?"))
        if runbook is None:
            notes.append("no runbook: by hand")
        items.append(PlanItem(
            order=order, phase=phase, asset_id=coverage.asset.id, name=coverage.asset.name,
            kind=coverage.asset.kind, asset_class=coverage.classification.asset_class.value,
            status=coverage.status.name, runbook=runbook, params=params, command=command,
            copy=coverage.last_good.location if coverage.last_good else None,
            copy_created_at=coverage.last_good.created_at.isoformat() if coverage.last_good else None,
            depends_on=tuple(depends), last_drill=last_drill(runs, runbook, params),
            last_run=last_run(runs, runbook, params),
            notes=tuple(notes)))
    return items


def expected_rto(items: list[PlanItem]) -> tuple[float, int]:
    """Seconds the drilled items took, one after the other, and how many
    items have no drilled RTO yet (the total is then a lower bound). A drill
    that failed stopped early: its time says nothing of a whole restore."""
    measured = [i.last_drill.rto_seconds for i in items
                if i.last_drill is not None and i.last_drill.rto_seconds is not None
                and i.last_drill.verdict != "failed"]
    return float(sum(measured)), len(items) - len(measured)


def drillable(site: Site, asset_class: str | None
              ) -> tuple[list[tuple[str, str, dict[str, Any]]], list[tuple[str, str]]]:
    """(name, runbook, params) of every item a drill can prove now — a
    database with a good dump; a volume of a cloud with a scratch server —
    and (name, why not) of the others."""
    from dr_console.inventory import current
    from dr_console.runbooks.journal import iter_runs

    snapshot = current(site)
    coverages = {c.asset.id: c for c in snapshot.coverages}
    targets: list[tuple[str, str, dict[str, Any]]] = []
    skipped: list[tuple[str, str]] = []
    for item in recovery_plan(snapshot, list(iter_runs())):
        if asset_class is not None and item.asset_class != asset_class:
            continue
        if item.runbook is None:
            skipped.append((item.name, "no runbook can drill it"))
            continue
        if item.runbook == "boot-infra":
            # Drilled even when its copies are past the RPO: whether they
            # still rebuild the host is what the drill finds out.
            if item.params.get("host") not in site.drills.boot_hosts:
                skipped.append((item.name, "no scratch boot host (drills.boot_hosts)"))
            else:
                targets.append((item.name, item.runbook, dict(item.params)))
            continue
        if item.copy is None:
            skipped.append((item.name, "no good copy to drill"))
            continue
        if item.runbook == "metadata-db":
            # The copy a drill restores, not just any good one: a database
            # whose only good copy is a volume snapshot has no dump to drill.
            if not any(c.kind == "sql-dump" and is_good(c) for c in coverages[item.asset_id].copies):
                skipped.append((item.name, "no good sql-dump (a drill restores a dump)"))
                continue
        elif item.runbook == "payload-volume":
            cloud = item.params.get("cloud")
            if cloud not in site.drills.scratch_servers:
                skipped.append((item.name, f"no scratch server for cloud {cloud} (drills.scratch_servers)"))
                continue
        else:
            skipped.append((item.name, f"{item.runbook} has no drill"))
            continue
        targets.append((item.name, item.runbook, dict(item.params)))
    return targets, skipped
