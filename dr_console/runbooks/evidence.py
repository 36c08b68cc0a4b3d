"""The evidence report of a run or a drill: which copy (location, sha256,
age = the RPO actually achieved), who ran it where with which version, every
step with its times, the measured RTO against the class's target, every
check with its result, the cleanup's outcome, the run's command log, and the
report's own sha256. Markdown for people, JSON for tools, both written
beside the run's journal.

Built from the journal and the command log only, so it can be made again at
any time (`dr-console report RUN_ID`). A run whose checks did not all run is
"unverified", never "passed"."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from dr_console.model import AssetClass
from dr_console.runbooks.journal import commands_path, find_run, read_records, run_status, runs_dir

FORMAT = "dr-console/evidence/v1"
CLASS_OF = {"metadata-db": AssetClass.METADATA, "payload-volume": AssetClass.PAYLOAD,
            "boot-infra": AssetClass.BOOT_INFRA}
PASSED, FAILED, UNVERIFIED, UNFINISHED = "passed", "failed", "unverified", "not finished"


def report_paths(run_id: str) -> tuple[Path, Path]:
    base = runs_dir() / run_id
    return base.with_suffix(".evidence.json"), base.with_suffix(".evidence.md")


def _ts(record: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(record["ts"])
    except (KeyError, ValueError, TypeError):
        return None


def _steps(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    titles: dict[str, str] = {}
    steps: dict[str, dict[str, Any]] = {}
    for rec in records:
        if rec.get("type") != "event":
            continue
        name, step, at = rec.get("event"), str(rec.get("step", "")), _ts(rec)
        if name == "Plan":
            for info in rec.get("steps", []):
                titles.setdefault(info["id"], info.get("title", info["id"]))
        elif name == "StepStarted" and at is not None:
            steps[step] = {"id": step, "title": titles.get(step, step), "state": "running",
                           "started": at.isoformat(), "finished": None, "seconds": None, "note": ""}
        elif name in ("StepDone", "StepSkipped", "StepFailed") and step in steps and at is not None:
            entry = steps[step]
            entry["state"] = {"StepDone": "done", "StepSkipped": "skipped",
                              "StepFailed": "failed"}[str(name)]
            entry["finished"] = at.isoformat()
            entry["seconds"] = round((at - datetime.fromisoformat(entry["started"])).total_seconds(), 3)
            entry["note"] = str(rec.get("reason") or rec.get("message") or "")
    order = list(titles) + [s for s in steps if s not in titles]
    return [steps.get(s, {"id": s, "title": titles.get(s, s), "state": "not reached",
                          "started": None, "finished": None, "seconds": None, "note": ""})
            for s in order]


def build(run_id: str) -> dict[str, Any]:
    """The report as data (JSON-ready), with its sha256."""
    run = find_run(run_id)
    records = read_records(run.path)
    head = records[0]
    finished = [r for r in records if r.get("event") == "RunFinished"]
    active = sum(float(r.get("seconds") or 0) for r in finished)
    state = run.state
    outcome = run_status(run)
    evidence = state.get("evidence", {})
    checks = [{"name": name, **check} for name, check in evidence.items()]
    verdict = _verdict(outcome, checks)
    copy = dict(state.get("copy") or {})
    several = state.get("copies") or {}  # a boot rebuild reads three copies
    if not copy and several:
        # The oldest of them is the RPO the rebuild achieved.
        kind, oldest = min(several.items(), key=lambda item: item[1].get("created_at") or "9999")
        copy = {**oldest, "kind": kind}
    sha = copy.get("sha256") or next((c.get("sha256") for c in checks if c.get("sha256")), None) \
        or (state.get("manifest") or {}).get("sha256")
    started = datetime.fromisoformat(head["ts"])
    created = copy.get("created_at")
    achieved = (started - datetime.fromisoformat(created)).total_seconds() if created else None
    asset_class = CLASS_OF.get(run.runbook)
    target = _rto_target(run.site_file, asset_class)
    commands = []
    path = commands_path(run.run_id)
    if path.exists():
        commands = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    report: dict[str, Any] = {
        "format": FORMAT,
        "run_id": run.run_id, "kind": run.kind, "runbook": run.runbook, "target": run.target,
        "outcome": outcome, "verdict": verdict,
        "operator": run.operator, "host": run.host, "tool_version": head.get("version", ""),
        "site_file": run.site_file, "params": run.params,
        "started": started.isoformat(),
        "finished": run.finished.isoformat() if run.finished else None,
        "copy": {"location": copy.get("location") or copy.get("id"), "kind": copy.get("kind"),
                 "sha256": sha, "created_at": created,
                 "rpo_achieved_seconds": round(achieved) if achieved is not None else None},
        "rto": {"class": asset_class.value if asset_class else None,
                "measured_seconds": round(active, 3) if finished else None,
                "wall_seconds": round(run.duration, 3) if run.duration is not None else None,
                "target_seconds": target,
                "within_target": (active <= target) if finished and target else None},
        "copies": {kind: {"location": c.get("location"), "sha256": c.get("sha256"),
                          "created_at": c.get("created_at")} for kind, c in several.items()},
        "steps": _steps(records),
        "checks": checks,
        "cleanup": state.get("cleanup"),
        "commands": commands,
    }
    report["sha256"] = digest(report)
    return report


def digest(report: dict[str, Any]) -> str:
    """sha256 of the report without its own sha256 field, keys sorted."""
    body = {k: v for k, v in report.items() if k != "sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def _verdict(outcome: str, checks: list[dict[str, Any]]) -> str:
    if outcome in ("running", "interrupted"):
        return UNFINISHED
    if outcome != "succeeded" or any(c.get("passed") is False for c in checks):
        return FAILED
    if not checks or any(c.get("passed") is None for c in checks):
        return UNVERIFIED
    return PASSED


def _rto_target(site_file: str, asset_class: AssetClass | None) -> int | None:
    if not site_file or asset_class is None:
        return None
    try:
        from dr_console.config import load_site

        return load_site(site_file).rto.for_class(asset_class)
    except Exception:  # the site file moved or changed: the report says no target
        return None


def markdown(report: dict[str, Any]) -> str:
    from dr_console.humanize import age

    def seconds(value: float | None) -> str:
        return "?" if value is None else (f"{value:.1f}s" if value < 60 else age(value))

    kind = "Drill" if report["kind"] == "drill" else "Restore"
    copy, rto = report["copy"], report["rto"]
    target = seconds(rto["target_seconds"]) if rto["target_seconds"] else "none set"
    within = "" if rto["within_target"] is None else (
        " — within" if rto["within_target"] else " — **exceeded**")
    lines = [f"# {kind} {report['run_id']}: {report['verdict'].upper()}", "",
             f"- runbook: `{report['runbook']}` on `{report['target']}` ({report['outcome']})",
             f"- by {report['operator']}@{report['host']}, dr-console {report['tool_version']}, "
             f"site file `{report['site_file']}`",
             f"- started {report['started']}, finished {report['finished'] or '—'}", "",
             "## Copy", "",
             f"- location: `{copy['location']}` ({copy['kind']})",
             f"- sha256: `{copy['sha256'] or 'none recorded (no manifest)'}`",
             f"- made: {copy['created_at'] or '?'}; RPO achieved: "
             f"{seconds(copy['rpo_achieved_seconds'])}",
             *(f"- {kind}: `{c['location']}`, sha256 `{c['sha256'] or '?'}`, made {c['created_at'] or '?'}"
               for kind, c in (report.get("copies") or {}).items()), "",
             "## RTO", "",
             f"- measured: {seconds(rto['measured_seconds'])} of work "
             f"({seconds(rto['wall_seconds'])} from start to end)",
             f"- target for {rto['class'] or '?'}: {target}{within}", "",
             "## Steps", "", "| # | step | state | started | took | note |", "|---|---|---|---|---|---|"]
    for index, step in enumerate(report["steps"], 1):
        note = step["note"].replace("|", "\\|").replace("\n", " ")[:200]
        lines.append(f"| {index} | {step['title']} | {step['state']} | {step['started'] or '—'} | "
                     f"{seconds(step['seconds'])} | {note} |")
    lines += ["", "## Checks", ""]
    if not report["checks"]:
        lines.append("- none ran: the run is not verified")
    for check in report["checks"]:
        mark = {True: "✓ passed", False: "✗ failed", None: "? not run"}[check.get("passed")]
        detail = str(check.get("detail", "")).replace("\n", " ")[:300]
        lines.append(f"- {mark}: {check['name']}" + (f" — {detail}" if detail else ""))
    cleanup = report["cleanup"]
    if cleanup is not None:
        lines += ["", "## Cleanup", "",
                  "- everything the drill made was removed" if cleanup.get("ok") else
                  f"- **left behind**: {'; '.join(cleanup.get('left', []))}"]
    lines += ["", f"## Commands ({len(report['commands'])})", "", "```"]
    lines += [f"{c['ts']} {c['kind']:<8} {c['target']}  {c['summary']}" for c in report["commands"]]
    lines += ["```", "", f"Report sha256 (of its JSON, without this field): `{report['sha256']}`", ""]
    return "\n".join(lines)


def write(run_id: str) -> tuple[Path, Path]:
    """Build the report and write both forms beside the journal (0600).
    Each file is replaced whole, from a temporary file of its own: a reader
    never sees half a report, and two writers of one run never share one."""
    import os
    import tempfile

    report = build(run_id)
    json_path, md_path = report_paths(report["run_id"])
    for path, text in ((json_path, json.dumps(report, indent=2, default=str)),
                       (md_path, markdown(report))):
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)  # 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return json_path, md_path
