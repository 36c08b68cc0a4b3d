"""Drills against the lab, as an operator (or cron) runs them: real
`dr-console drill` processes with private XDG dirs. A drill restores into
scratch targets only, runs the real checks plus the smoke test (a scratch
Keystone must issue a token from the restored schema), leaves nothing
behind — also after a SIGKILL, through `drill cleanup` — and records
itself beside the copy, so the inventory shows it drilled. The live side is
proven unchanged before and after."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from labhelpers import checksums, flat, run_cli, schemas

from dr_console.mysqldb import Account
from dr_console.schema import Site

pytestmark = pytest.mark.lab

def _report(xdg: dict[str, str], site: Path, run_id: str) -> dict[str, Any]:
    proc = run_cli(site, xdg, "report", run_id, "--format", "json")
    return dict(json.loads(proc.stdout))


def _only_run(xdg: dict[str, str], site: Path) -> dict[str, Any]:
    (run,) = json.loads(run_cli(site, xdg, "runs", "--json").stdout)
    return dict(run)


def test_a_metadata_drill_proves_the_copy_and_leaves_the_live_database_alone(
        lab_site: Site, admin: Account, xdg: dict[str, str]) -> None:
    before = checksums(admin, "keystone")
    drill = run_cli(lab_site.path, xdg, "drill", "metadata-db", "--db", "keystone")
    text = flat(drill)
    assert drill.returncode == 0, text
    assert "drill passed" in text
    run = _only_run(xdg, lab_site.path)
    assert run["kind"] == "drill" and run["target"] == "drill:mysql:metadata-db/keystone"
    report = _report(xdg, lab_site.path, run["run_id"])
    assert report["verdict"] == "passed" and report["kind"] == "drill"
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["smoke: the service works on the restored data"]["passed"] is True
    assert "issued a token" in checks["smoke: the service works on the restored data"]["detail"]
    assert checks["tables and row counts equal the manifest's"]["passed"] is True
    assert report["copy"]["sha256"] and report["copy"]["rpo_achieved_seconds"] >= 0
    assert report["rto"]["measured_seconds"] > 0 and report["rto"]["target_seconds"] == 15 * 60
    assert report["cleanup"] == {"ok": True, "left": []}
    assert any(c["summary"] == "DROP DATABASE" for c in report["commands"])
    assert report["sha256"]  # and `report` recomputes the same digest
    # Nothing left, nothing touched.
    assert schemas(admin, "keystone\\_\\_drill\\_%") == []
    assert checksums(admin, "keystone") == before
    # Recorded beside the copy: every operator's inventory now says so.
    status = json.loads(run_cli(lab_site.path, xdg, "status", "--json", "--refresh").stdout)
    keystone = next(a for a in status["assets"] if a["name"] == "keystone")
    drilled = next(c for c in keystone["copies"] if c["location"] == report["copy"]["location"])
    assert drilled["verification"]["drilled"] is True
    assert drilled["verification"]["smoke_tested"] is True
    assert drilled["verification"]["drilled_at"]
    plan = json.loads(run_cli(lab_site.path, xdg, "plan", "--json").stdout)
    item = next(i for i in plan["items"] if i["name"] == "keystone")
    assert item["last_drill"]["run_id"] == run["run_id"] and item["last_drill"]["verdict"] == "passed"
    text = run_cli(lab_site.path, xdg, "plan").stdout
    keystone_at = text.index("keystone (database)")
    assert text.index("boot infrastructure") < keystone_at < text.index("\npayload")
    assert "drill: passed" in text[keystone_at:keystone_at + 300]
    assert "$ dr-console run metadata-db --db keystone" in text


def test_a_drill_whose_smoke_test_fails_is_failed_with_the_reason_and_cleaned_up(
        lab_site: Site, restore_site_file: Path, admin: Account, tmp_path: Path,
        xdg: dict[str, str]) -> None:
    data = yaml.safe_load(restore_site_file.read_text())
    data.setdefault("drills", {})["smoke"] = {
        "keystone": "echo 'the scratch service refused the token' >&2; exit 3"}
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump(data))
    drill = run_cli(site, xdg, "drill", "metadata-db", "--db", "keystone")
    text = flat(drill)
    assert drill.returncode == 2, text  # as status: 2 is failed
    assert "drill failed" in text and "the smoke command failed (exit 3)" in text
    report = _report(xdg, site, _only_run(xdg, site)["run_id"])
    assert report["verdict"] == "failed"
    smoke = next(c for c in report["checks"] if c["name"].startswith("smoke"))
    assert smoke["passed"] is False and "refused the token" in smoke["detail"]
    assert report["cleanup"]["ok"] is True
    assert schemas(admin, "keystone\\_\\_drill\\_%") == []


def test_a_killed_drill_is_cleaned_up_by_drill_cleanup(
        lab_site: Site, admin: Account, xdg: dict[str, str]) -> None:
    env = dict(os.environ, **xdg, COLUMNS="200")
    proc = subprocess.Popen([sys.executable, "-m", "dr_console", "--site", str(lab_site.path),
                             "drill", "metadata-db", "--db", "nova"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not schemas(admin, "nova\\_\\_drill\\_%"):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert schemas(admin, "nova\\_\\_drill\\_%")  # left behind by the kill
    cleanup = run_cli(lab_site.path, xdg, "drill", "cleanup")
    assert cleanup.returncode == 0, flat(cleanup)
    assert schemas(admin, "nova\\_\\_drill\\_%") == []
    run = _only_run(xdg, lab_site.path)
    report = _report(xdg, lab_site.path, run["run_id"])
    assert report["cleanup"] == {"ok": True, "left": []}
    assert report["verdict"] == "failed"  # a drill that did not finish never counts as passed
    again = run_cli(lab_site.path, xdg, "drill", "cleanup")
    assert "no drill left anything to clean up" in again.stdout


def test_a_payload_drill_uses_the_scratch_server_and_removes_its_volume(
        lab_site: Site, lab_state: dict[str, Any], xdg: dict[str, str]) -> None:
    import openstack.config
    import openstack.connection

    lab = Path(lab_state["lab_dir"])
    config = openstack.config.OpenStackConfig(config_files=[str(lab / "clouds.yaml")], vendor_files=[])
    conn = openstack.connection.Connection(config=config.get_one(cloud="drlab"))
    media = lab_state["payload_volumes"]["volumes"]["app-media"]

    def attachments() -> list[tuple[str, str]]:
        return sorted((v.name, a["server_id"]) for v in conn.block_storage.volumes(details=True)
                      for a in v.attachments or [])

    before = attachments()
    drill = run_cli(lab_site.path, xdg, "drill", "payload-volume", "--volume", "app-media")
    text = flat(drill)
    assert drill.returncode == 0, text
    report = _report(xdg, lab_site.path, _only_run(xdg, lab_site.path)["run_id"])
    assert report["verdict"] == "passed"
    checks = {c["name"]: c["passed"] for c in report["checks"]}
    assert checks["xfs_repair -n finds the filesystem clean"] is True
    assert checks["sha256 of 5 files equal app-media.sha256"] is True
    assert attachments() == before  # app-1 holds what it held; drill-1 holds nothing
    assert not [v for v in conn.block_storage.volumes(details=True) if "restored" in (v.name or "")]
    assert conn.block_storage.get_volume(media["id"]).status == "in-use"
    copy_id = report["copy"]["location"].split()[2]  # "cinder backup <id> (lab-openstack)"
    backup = conn.block_storage.get_backup(copy_id)
    assert backup.metadata.get("dr:drill-run") == report["run_id"]


def test_a_drill_that_finds_the_copy_damaged_marks_it_and_the_inventory_falls_back(
        lab_site: Site, lab_state: dict[str, Any], xdg: dict[str, str]) -> None:
    """app-home's newest backup is damaged (the lab's seeded fault) though
    Cinder calls it available: the drill's fsck finds out, records that on
    the backup, and every inventory then trusts the older good one."""
    import openstack.config
    import openstack.connection

    lab = Path(lab_state["lab_dir"])
    config = openstack.config.OpenStackConfig(config_files=[str(lab / "clouds.yaml")], vendor_files=[])
    conn = openstack.connection.Connection(config=config.get_one(cloud="drlab"))
    home = lab_state["payload_volumes"]["volumes"]["app-home"]
    bad = next(b for b in home["backups"] if not b["good"])
    good = next(b for b in home["backups"] if b["good"])
    before = dict(conn.block_storage.get_backup(bad["id"]).metadata or {})
    try:
        drill = run_cli(lab_site.path, xdg, "drill", "payload-volume", "--volume", "app-home")
        text = flat(drill)
        assert drill.returncode == 2, text
        assert "its content failed this drill" in text
        report = _report(xdg, lab_site.path, _only_run(xdg, lab_site.path)["run_id"])
        assert report["verdict"] == "failed" and report["cleanup"]["ok"] is True
        assert report["copy"]["location"].split()[2] == bad["id"]
        metadata = conn.block_storage.get_backup(bad["id"]).metadata
        assert metadata["dr:drill-verdict"] == "failed" and "e2fsck -fn" in metadata["dr:drill-failure"]
        status = json.loads(run_cli(lab_site.path, xdg, "status", "--json", "--refresh").stdout)
        asset = next(a for a in status["assets"] if a["name"] == "app-home" and a["kind"] == "volume")
        assert asset["last_good"]["location"].split()[2] == good["id"]
        damaged = next(c for c in asset["copies"] if c["location"].split()[2] == bad["id"])
        assert damaged["good"] is False and damaged["verification"]["drilled"] is False
        assert "failed its drill" in damaged["verification"]["detail"]
        assert asset["status"] != "OK" and any("failed its drill" in r for r in asset["reasons"])
        # The next drill takes the older, good backup — and passes.
        again = run_cli(lab_site.path, xdg, "drill", "payload-volume", "--volume", "app-home")
        assert again.returncode == 0, flat(again)
        runs = json.loads(run_cli(lab_site.path, xdg, "runs", "--json").stdout)
        newest = max(runs, key=lambda r: r["started"])
        second = _report(xdg, lab_site.path, newest["run_id"])
        assert second["verdict"] == "passed" and second["copy"]["location"].split()[2] == good["id"]
    finally:  # the lab's seeded fault is the bad backup itself, not this record
        conn.block_storage.put(f"/backups/{bad['id']}", microversion="3.43",
                               json={"backup": {"metadata": before}}).raise_for_status()
        conn.block_storage.put(f"/backups/{good['id']}", microversion="3.43",
                               json={"backup": {"metadata": {}}}).raise_for_status()


def test_drill_all_drills_what_it_can_and_names_what_it_cannot(
        lab_site: Site, admin: Account, xdg: dict[str, str]) -> None:
    drill = run_cli(lab_site.path, xdg, "drill", "--all", "--class", "metadata")
    text = flat(drill)
    # keystone has its smoke command; the others prove their data only: unverified.
    assert drill.returncode == 1, text
    assert "not drilled: nova_cell0: no good sql-dump (a drill restores a dump)" in text
    runs = json.loads(run_cli(lab_site.path, xdg, "runs", "--json").stdout)
    drilled = {r["params"]["db"] for r in runs}
    assert {"keystone", "nova", "glance"} <= drilled and "nova_cell0" not in drilled
    assert all(r["kind"] == "drill" for r in runs)
    verdicts = {r["params"]["db"]: _report(xdg, lab_site.path, r["run_id"])["verdict"] for r in runs}
    assert verdicts["keystone"] == "passed" and verdicts["nova"] == "unverified"
    assert f"drills: 1 passed, {len(runs) - 1} unverified, 0 failed" in text
    assert schemas(admin, "%\\_\\_drill\\_%") == []
