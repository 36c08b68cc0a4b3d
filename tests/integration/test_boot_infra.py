"""Runbook 1 against the lab, as an operator runs it (`dr-console run
boot-infra` as a real process, private XDG dirs): boot1 rebuilt on the cold
bare host from its offsite copies, its new key pinned from the fingerprint
the lab recorded, proven by DHCP, TFTP, NTP and FTP answers on probe1.

The faults ride along in as few runs as stays readable: a corrupt bundle
is refused (by the inventory, and while it streams); the first rebuild runs
with a package that has no candidate, a task that fails and DHCP on the
wrong NIC; each fix is followed by `resume` from where the world is; a
kill -9 during the playbooks is resumed to green; a changed key on the probe
host and on the pinned target is refused.

Tests run in file order, each building on the one before. The module starts
from a cold bare host and leaves one behind (`bootnet.reset_bare`), every
fault undone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from labhelpers import flat

from dr_console import ssh
from dr_console.lab import bootfaults, bootnet
from dr_console.schema import Site

pytestmark = pytest.mark.lab

RUN_TIMEOUT = 900  # a whole rebuild on a loaded 2-core machine: about 2 minutes
STORY: dict[str, Any] = {}  # what a test leaves for the next: the run id


# -- the lab, the bare host, and putting them back ------------------------------------------


@pytest.fixture(scope="module")
def lab(lab_state: dict[str, Any]) -> Path:
    if "bootnet" not in lab_state:
        from labenv import lab_missing

        lab_missing("this lab has no boot network")
    return Path(lab_state["lab_dir"])


@pytest.fixture(scope="module")
def bare(lab: Path, lab_state: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A cold bare host now, and again when the module is done. Each cold
    start makes a new host key: the session's copy of state.json is kept
    current for the modules after this one."""
    state = bootnet.reset_bare(lab)
    lab_state["bootnet"]["bare"].update(state)
    yield state
    for name in list(bootfaults.active(lab)):
        bootfaults.undo(lab, name)
    lab_state["bootnet"]["bare"].update(bootnet.reset_bare(lab))


@pytest.fixture(scope="module")
def xdg(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One private state and cache for the module: `resume` finds the
    journals, and the inventory gathered once serves the runs after it."""
    base = tmp_path_factory.mktemp("boot-xdg")
    return {"XDG_STATE_HOME": str(base / "state"), "XDG_CACHE_HOME": str(base / "cache")}


def cli(site: Site, xdg: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, **xdg, COLUMNS="250")
    proc = subprocess.run([sys.executable, "-m", "dr_console", "--site", str(site.path), *args],
                          capture_output=True, text=True, timeout=RUN_TIMEOUT, env=env,
                          stdin=subprocess.DEVNULL)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    return proc


def rebuild(site: Site, xdg: dict[str, str], bare: dict[str, Any],
            *extra: str) -> subprocess.CompletedProcess[str]:
    return cli(site, xdg, "run", "boot-infra", "--host", "boot1", "--target", bare["target"], *extra)


def runs_dir(xdg: dict[str, str]) -> Path:
    return Path(xdg["XDG_STATE_HOME"]) / "dr-console" / "runs"


def journal(xdg: dict[str, str], run_id: str) -> list[dict[str, Any]]:
    path = runs_dir(xdg) / f"{run_id}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def newest_run(xdg: dict[str, str]) -> str:
    return max(runs_dir(xdg).glob("*.jsonl")).stem


def steps(records: list[dict[str, Any]]) -> dict[str, str]:
    """Each step's last outcome in the journal."""
    names = {"StepDone": "done", "StepSkipped": "skipped", "StepFailed": "failed"}
    out: dict[str, str] = {}
    for record in records:
        if record.get("type") == "event" and record.get("event") in names:
            out[record["step"]] = names[record["event"]]
    return out


def bare_shell(lab: Path, bare: dict[str, Any], command: str) -> str:
    """A command on the rebuilt host, trusting only the key the runbook pinned."""
    address, port = bare["target"].rsplit(":", 1)
    target = ssh.Target("boot-bare", address, int(port), "root", Path(bare["key_file"]),
                        bootnet.known_hosts(lab))
    client = ssh.connect(target)
    try:
        return ssh.run(client, target, command, check=True).stdout
    finally:
        client.close()


def newest_bundle(lab_state: dict[str, Any]) -> str:
    bundles = [o for o in lab_state["objects"] if o["kind"] == "git-bundle"]
    return str(max(bundles, key=lambda o: o["created_at"])["key"])


# -- nothing changes before the run -------------------------------------------------------------


def test_dry_run_prints_every_step_and_its_command_and_touches_nothing(
        lab_site: Site, xdg: dict[str, str], bare: dict[str, Any], lab: Path) -> None:
    proc = rebuild(lab_site, xdg, bare, "--dry-run")
    assert proc.returncode == 0, flat(proc)
    out = flat(proc)
    for words in ("Choose the copies and fetch them", "aws s3 cp", "git clone playbooks.bundle",
                  f"ssh-keyscan -p {bare['port']} 127.0.0.1", "dpkg --merge-avail",
                  "dpkg --set-selections < selections.txt", "dselect-upgrade",
                  "ansible-playbook -i inventory", "boot-infra.yml --check",
                  "busybox udhcpc -i eth0 -f -q -n", "tftp://", "ntpdig -j", "--list-only",
                  "DESTRUCTIVE (type boot1)", "Dry run: nothing will be touched"):
        assert words in out, words
    assert not runs_dir(xdg).exists()  # no journal, no lock
    assert bootnet.known_hosts(lab).read_text() == ""  # nothing pinned


def test_a_corrupt_bundle_is_refused_with_the_reason(
        lab_site: Site, lab_state: dict[str, Any], xdg: dict[str, str], bare: dict[str, Any]) -> None:
    from dr_console.backup.s3 import store_client

    # The module's cache: an inventory made while the bundle was whole.
    assert cli(lab_site, xdg, "inventory", "--class", "boot-infra").returncode == 0
    store = lab_site.store("offsite")
    client = store_client(store)
    key = newest_bundle(lab_state)
    original = client.get_object(Bucket=store.bucket, Key=key)["Body"].read()
    damaged = bytearray(original)
    damaged[len(damaged) // 2] ^= 0xFF  # same size, other bytes
    client.put_object(Bucket=store.bucket, Key=key, Body=bytes(damaged))
    try:
        # The cached inventory still calls it good: the fetch checks it as it
        # streams. (An inventory made after the damage lists it as unusable,
        # with why: copies.choose's own tests, test_copy_choice.py.)
        streamed = rebuild(lab_site, xdg, bare, "--check-only")
        out = flat(streamed)
        assert streamed.returncode == 1, out
        assert f"git-bundle refused: s3://{store.bucket}/{key}: sha256" in out
        assert "differs from the manifest's" in out and "the copy is corrupt" in out
        assert "--copy git-bundle=s3://" in out  # what to do about it
    finally:
        client.put_object(Bucket=store.bucket, Key=key, Body=original)


# -- the rebuild, its faults, and resume --------------------------------------------------------


def test_first_rebuild_names_a_package_without_candidate_and_stops_at_the_failing_task(
        lab_site: Site, xdg: dict[str, str], bare: dict[str, Any], lab: Path) -> None:
    for fault in ("package-no-candidate", "playbook-task-fails", "dhcp-wrong-interface"):
        bootfaults.provoke(lab, fault)
    proc = rebuild(lab_site, xdg, bare, "--fingerprint", bare["fingerprint"], "--yes")
    out = flat(proc)
    assert proc.returncode == 1, out
    run_id = STORY["run"] = newest_run(xdg)
    # First contact: the key the lab recorded, pinned where the site says.
    assert f"first contact with [127.0.0.1]:{bare['port']}" in out
    assert bootnet.known_hosts(lab).read_text().startswith(f"[127.0.0.1]:{bare['port']} ssh-ed25519 ")
    assert f"left out: {bootfaults.RETIRED_PACKAGE}" in out
    assert "check mode:" in out  # check mode does not validate: it passes
    assert ("task 'Configure dnsmasq for DHCP and TFTP only' failed on boot1: failed to validate"
            in out), out[-3000:]
    assert "bad dhcp-range" in out
    assert f"dr-console resume {run_id}" in out
    assert steps(journal(xdg, run_id)) == {
        "choose-copies": "done", "clone-playbooks": "done", "pin-target": "done",
        "apt-sources": "done", "install-packages": "done", "restore-etc": "done",
        "playbook-check": "done", "playbook-apply": "failed"}
    # Nothing half-applied: dnsmasq's file is boot1's (the failing template
    # never replaced it), and every package with a candidate is there.
    assert "interface=eth1" in bare_shell(lab, bare, "cat /etc/dnsmasq.d/boot-infra.conf")
    installed = bare_shell(lab, bare, "dpkg-query -W -f '${Package} ${db:Status-Status}\\n' "
                                      "dnsmasq pxelinux chrony vsftpd")
    assert sorted(installed.splitlines()) == [f"{p} installed" for p in ("chrony", "dnsmasq",
                                                                          "pxelinux", "vsftpd")]


def test_resume_after_the_fix_converges_and_the_silent_dhcp_is_named(
        lab_site: Site, xdg: dict[str, str], lab: Path) -> None:
    for fault in ("playbook-task-fails", "package-no-candidate"):
        bootfaults.undo(lab, fault)
    proc = cli(lab_site, xdg, "resume", STORY["run"], "--yes", "--skip", "playbook-check")
    out = flat(proc)
    assert proc.returncode == 1, out
    for step in ("Choose the copies and fetch them: chosen and fetched already",
                 "Reach the target; pin its new host key: [127.0.0.1]:",
                 "apt sources and keys are boot1's already",
                 "every package of boot1's list that has a candidate is installed",
                 "restored earlier in this run; the playbooks own these files"):
        assert step in out, step
    assert "changed: [boot1] Configure dnsmasq for DHCP and TFTP only" in out
    assert "✗ DHCP: sent DHCPDISCOVER from probe1's eth0" in out
    assert "got no offer" in out and "boot_interface: eth0" in out  # what to look at
    assert "✓ NTP: stratum 8" in out and "✓ FTP: drlab-netinst.iso listed and downloaded" in out
    assert steps(journal(xdg, STORY["run"]))["prove-services"] == "failed"


def _ours_alive(run_id: str) -> list[int]:
    """Processes (not zombies) working in this run's working dir: ansible's."""
    alive = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if run_id in (proc / "cmdline").read_text(errors="replace") and \
                    ") Z " not in (proc / "stat").read_text():
                alive.append(int(proc.name))
        except OSError:
            continue
    return alive


def test_kill_during_the_playbooks_then_resume_to_green(
        lab_site: Site, xdg: dict[str, str], lab: Path, bare: dict[str, Any]) -> None:
    bootfaults.undo(lab, "dhcp-wrong-interface")
    run_id = STORY["run"]
    env = dict(os.environ, **xdg, COLUMNS="250")
    proc = subprocess.Popen([sys.executable, "-m", "dr_console", "--site", str(lab_site.path), "resume",
                             run_id, "--yes", "--skip", "playbook-check"], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + RUN_TIMEOUT
    started = len(journal(xdg, run_id))
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the resume ended before the playbooks ran"
        tail = journal(xdg, run_id)[started:]
        if any(r.get("event") == "LogLine" and r.get("step") == "playbook-apply"
               and str(r.get("text", "")).startswith(("ok:", "changed:")) for r in tail):
            break
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    # ansible-playbook goes with it (its terminal closed): nothing runs on.
    for _ in range(100):
        if not _ours_alive(run_id):
            break
        time.sleep(0.2)
    assert not _ours_alive(run_id)
    green = cli(lab_site, xdg, "resume", run_id, "--yes", "--skip", "playbook-check")
    out = flat(green)
    assert green.returncode == 0, out
    for service in ("DHCP: offer of 198.51.100.", "TFTP: pxelinux.0 downloaded", "NTP: stratum 8",
                    "FTP: drlab-netinst.iso listed and downloaded"):
        assert f"✓ {service}" in out, service
    assert f"run {run_id} succeeded" in out
    # The files the roles write are the playbooks' now, not put back from the archive.
    assert "restored earlier in this run; the playbooks own these files" in out
    # An apply that did not finish may owe restarts: this one makes them.
    assert "an earlier apply of this run did not finish" in out
    assert "changed: [boot1] Configure dnsmasq for DHCP and TFTP only" in out  # eth0 -> eth1
    assert "changed: [boot1] Run dnsmasq under start-stop-daemon" in out
    runs = json.loads(cli(lab_site, xdg, "runs", "--json").stdout)
    assert next(r for r in runs if r["run_id"] == run_id)["outcome"] == "succeeded"
    # The working copies (the /etc archive holds secrets) are gone.
    assert not (Path(xdg["XDG_STATE_HOME"]) / "dr-console" / "work" / run_id).exists()
    # The target's own apt sources and role files are kept on it.
    assert bare_shell(lab, bare, f"ls /var/backups/dr-console/{run_id}/etc/apt").split()


def test_check_only_changes_nothing_and_a_changed_probe_key_is_refused(
        lab_site: Site, xdg: dict[str, str], lab: Path, bare: dict[str, Any]) -> None:
    pinned = bootnet.known_hosts(lab).read_text()
    proc = rebuild(lab_site, xdg, bare, "--check-only")
    out = flat(proc)
    assert proc.returncode == 0, out
    assert "check only: the four services" in out and "nothing was changed" in out
    assert "Reach the target" not in out and "dselect-upgrade" not in out
    assert bootnet.known_hosts(lab).read_text() == pinned
    record = bootfaults.provoke(lab, "host-key-changed")  # probe1's
    try:
        proc = rebuild(lab_site, xdg, bare, "--check-only")
        out = flat(proc)
        assert proc.returncode == 1, out
        assert "cannot probe from probe1: host key CHANGED" in out
        assert record["new_fingerprint"] in out
    finally:
        bootfaults.undo(lab, "host-key-changed")


def test_a_changed_key_on_the_pinned_target_is_never_trusted_on_yes(
        lab_site: Site, xdg: dict[str, str], lab: Path, bare: dict[str, Any]) -> None:
    pinned = bootnet.known_hosts(lab).read_text()
    record = bootfaults.provoke(lab, "host-key-changed", host=bootnet.BARE)
    try:
        proc = rebuild(lab_site, xdg, bare, "--yes")
        out = flat(proc)
        assert proc.returncode == 2, out
        assert f"host key CHANGED for [127.0.0.1]:{bare['port']}" in out
        assert "--yes does not trust a host key" in out
        assert f"--fingerprint {record['new_fingerprint']}" in out  # what to type once checked
        stale = rebuild(lab_site, xdg, bare, "--fingerprint", bare["fingerprint"], "--yes")
        assert stale.returncode == 2, flat(stale)
        assert f"--fingerprint says {bare['fingerprint']}: NOT pinned" in flat(stale)
        assert bootnet.known_hosts(lab).read_text() == pinned  # nothing changed
        assert steps(journal(xdg, newest_run(xdg))) == {
            "choose-copies": "done", "clone-playbooks": "done", "pin-target": "failed"}
    finally:
        bootfaults.undo(lab, "host-key-changed")
