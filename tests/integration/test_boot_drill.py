"""The boot-infra drill against the lab, as cron runs it (`dr-console drill
boot-infra` as a real process, private XDG dirs): boot1 rebuilt from its
offsite copies on the scratch host the site names (the lab's bare host, in
a network namespace of its own), its key pinned from what the lab reports
out of band, proven by DHCP, TFTP, NTP and FTP answers on probe1, recorded
beside the three copies, and the scratch host made bare again. The live
boot1 is read before and after: nothing of it changes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from labhelpers import flat

from dr_console import drillrecord, ssh
from dr_console.backup.host import ssh_connect
from dr_console.backup.s3 import store_client
from dr_console.lab import bootnet
from dr_console.schema import Site

pytestmark = pytest.mark.lab

DRILL_TIMEOUT = 900  # a whole rebuild on a loaded 2-core machine: one to three minutes
# Everything boot1 serves and is configured by: any change to it changes the digest.
LIVE_DIGEST = "tar -C / --sort=name -cf - etc srv 2>/dev/null | sha256sum"
SERVICES = "command -v dnsmasq chronyd vsftpd in.tftpd || true"


def _live_digest(site: Site) -> str:
    host = next(h for h in site.hosts if h.name == bootnet.BOOT1)
    client = ssh_connect(host)
    try:
        return ssh.run(client, ssh.Target.from_host(host), LIVE_DIGEST, check=True).stdout.split()[0]
    finally:
        client.close()


def _on_bare(bare: dict[str, Any], command: str, tmp_path: Path) -> str:
    """A command on the scratch host, trusting only the key the lab made for it."""
    address, port = bare["target"].rsplit(":", 1)
    offered = ssh.offered_key(address, int(port))
    assert ssh.fingerprint(offered).split()[1] == bare["fingerprint"]
    known = tmp_path / "bare_known_hosts"
    ssh.pin(known, address, int(port), offered)
    target = ssh.Target("boot-bare", address, int(port), "root", Path(bare["key_file"]), known)
    client = ssh.connect(target)
    try:
        return ssh.run(client, target, command, check=True).stdout
    finally:
        client.close()


def _lab_bare(lab_site: Site) -> dict[str, Any]:
    state = json.loads((Path(lab_site.path).parent / "state.json").read_text())
    return dict(state["bootnet"]["bare"])


def test_drill_boot_infra_rebuilds_on_the_scratch_host_and_leaves_nothing(
        lab_site: Site, lab_state: dict[str, Any], tmp_path: Path) -> None:
    if "bootnet" not in lab_state or bootnet.BOOT1 not in lab_site.drills.boot_hosts:
        from labenv import lab_missing

        lab_missing("this lab has no boot network or no scratch boot host")
    live_before = _live_digest(lab_site)
    bare_before = _lab_bare(lab_site)
    live_known = {h.name: Path(h.known_hosts).read_bytes() for h in lab_site.hosts}
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"),
               XDG_CACHE_HOME=str(tmp_path / "cache"), COLUMNS="250")

    proc = subprocess.run([sys.executable, "-m", "dr_console", "--site", str(lab_site.path),
                           "drill", "boot-infra", "--host", bootnet.BOOT1],
                          capture_output=True, text=True, timeout=DRILL_TIMEOUT, env=env,
                          stdin=subprocess.DEVNULL)
    bare_after = _lab_bare(lab_site)
    lab_state["bootnet"]["bare"].update(bare_after)  # the reset made a new key: later modules use it
    out = flat(proc)
    assert "Traceback" not in out
    assert proc.returncode == 0, out
    assert "drill passed" in out

    # The evidence: the three copies, the probes' answers, the cleanup, the RTO.
    [report_path] = (tmp_path / "state" / "dr-console" / "runs").glob("*.evidence.json")
    report = json.loads(report_path.read_text())
    assert report["verdict"] == "passed" and report["kind"] == "drill"
    assert report["target"] == f"drill:boot-infra:{bootnet.BOOT1}"
    assert set(report["copies"]) == {"git-bundle", "etc-archive", "package-list"}
    checks = {c["name"]: c for c in report["checks"]}
    for service in ("DHCP", "TFTP", "NTP", "FTP"):
        assert checks[f"{service} answers probe1 on the boot network"]["passed"] is True
    for kind in report["copies"]:
        assert checks[f"the {kind} matches its manifest"]["sha256"] == report["copies"][kind]["sha256"]
    assert checks["the playbooks apply with no failed task"]["passed"] is True
    assert report["cleanup"] == {"ok": True, "left": []}
    assert 0 < report["rto"]["measured_seconds"] < report["rto"]["target_seconds"]
    assert report["copy"]["rpo_achieved_seconds"] > 0  # the oldest of the three copies

    # Recorded beside each copy: every operator's inventory shows them drilled.
    for copy in report["copies"].values():
        bucket, key = copy["location"].removeprefix("s3://").split("/", 1)
        store = next(s for s in lab_site.stores if s.bucket == bucket)
        body = store_client(store).get_object(Bucket=bucket, Key=drillrecord.record_key(key))["Body"]
        record = drillrecord.DrillRecord.from_json(body.read())
        assert record.run_id == report["run_id"] and record.passed and record.smoke_tested
    inventory = subprocess.run([sys.executable, "-m", "dr_console", "--site", str(lab_site.path),
                                "inventory", "--refresh", "--json", "--class", "boot-infra"],
                               capture_output=True, text=True, timeout=300, env=env)
    drilled = {c["location"]: c["verification"]["drilled"]
               for a in json.loads(inventory.stdout)["assets"] for c in a["copies"]}
    assert all(drilled[c["location"]] is True for c in report["copies"].values()), drilled

    # Nothing left: the scratch host is bare again (a new key, no boot daemon),
    # the drill's own pin and working copies are gone.
    assert bare_after["fingerprint"] != bare_before["fingerprint"]
    assert _on_bare(bare_after, SERVICES, tmp_path).strip() == ""
    state = tmp_path / "state" / "dr-console"
    assert not (state / "drills" / f"{bootnet.BOOT1}.known_hosts").exists()
    assert not any((state / "work").glob("*"))

    # The live side is as it was: boot1's /etc and /srv, every pinned key.
    assert _live_digest(lab_site) == live_before
    assert {h.name: Path(h.known_hosts).read_bytes() for h in lab_site.hosts} == live_known
