"""The inventory and the drills as a node_exporter textfile: one gauge per
asset and fact, so monitoring can alert on a stale copy, an undrilled one,
or a drill that failed or took longer than its RTO target.

Pure: a snapshot and the plan's items in, exposition-format text out; the
CLI writes it atomically (temp file + rename in the same folder), as
node_exporter's textfile collector requires."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from dr_console.model import Coverage, Snapshot
from dr_console.runbooks.plan import PlanItem

PREFIX = "dr_console"
_METRICS = {
    "asset_status": "Backup status of an asset: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
    "last_good_age_seconds": "Age of the asset's last good copy.",
    "rpo_seconds": "The asset's RPO (its class's).",
    "last_drill_age_seconds": "Age of the last drill of the asset's copies.",
    "last_drill_passed": "1 if the last drill passed, 0 if it failed or was unverified.",
    "drill_rto_seconds": "How long the last drill of the asset took (its measured RTO).",
}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(coverage: Coverage) -> str:
    asset = coverage.asset
    pairs = {"id": asset.id, "name": asset.name, "kind": asset.kind, "source": asset.source,
             "class": coverage.classification.asset_class.value}
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs.items()) + "}"


def textfile(snapshot: Snapshot, items: Iterable[PlanItem], now: datetime) -> str:
    drills = {item.asset_id: item.last_drill for item in items if item.last_drill is not None}
    samples: dict[str, list[str]] = {name: [] for name in _METRICS}
    for coverage in snapshot.coverages:
        labels = _labels(coverage)
        samples["asset_status"].append(f"{labels} {int(coverage.status)}")
        if coverage.last_good is not None:
            age = (now - coverage.last_good.created_at).total_seconds()
            samples["last_good_age_seconds"].append(f"{labels} {age:.0f}")
        if coverage.rpo_seconds is not None:
            samples["rpo_seconds"].append(f"{labels} {coverage.rpo_seconds}")
        drill = drills.get(coverage.asset.id)
        if drill is not None:
            age = (now - datetime.fromisoformat(drill.at)).total_seconds()
            samples["last_drill_age_seconds"].append(f"{labels} {age:.0f}")
            samples["last_drill_passed"].append(f"{labels} {1 if drill.verdict == 'passed' else 0}")
            if drill.rto_seconds is not None:
                samples["drill_rto_seconds"].append(f"{labels} {drill.rto_seconds:.3f}")
    lines: list[str] = []
    for name, help_text in _METRICS.items():
        lines += [f"# HELP {PREFIX}_{name} {help_text}", f"# TYPE {PREFIX}_{name} gauge"]
        lines += [f"{PREFIX}_{name}{sample}" for sample in samples[name]]
    lines += [f"# HELP {PREFIX}_overall_status Worst status of the site, as `status` exits.",
              f"# TYPE {PREFIX}_overall_status gauge", f"{PREFIX}_overall_status {int(snapshot.overall)}",
              f"# HELP {PREFIX}_inventory_timestamp_seconds When the inventory was gathered.",
              f"# TYPE {PREFIX}_inventory_timestamp_seconds gauge",
              f"{PREFIX}_inventory_timestamp_seconds {snapshot.generated_at.timestamp():.0f}"]
    return "\n".join(lines) + "\n"
