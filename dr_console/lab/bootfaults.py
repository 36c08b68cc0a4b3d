"""Faults of the boot network, provoked on demand (a runbook test provokes
one, watches the runbook notice it, undoes it) and recorded in
bootnet/faults.json with what undoing needs:

- dhcp-wrong-interface: the rebuild inventory binds DHCP to the bare host's
  management NIC (eth0); dnsmasq starts, the playbook converges, and no
  DHCP answer ever reaches the boot network.
- playbook-task-fails: the rebuild inventory sets a lease time dnsmasq
  refuses; the "Configure dnsmasq" task fails its validation (check mode
  does not validate, so only the apply fails). Undo, run again: converges.
- package-no-candidate: boot1's newest offsite package list names a package
  the offline repository lacks (its manifest rewritten to match, its age
  kept): the package replay must report it by name.
- host-key-changed: a namespaced host (probe1 by default, or boot-bare after
  someone pinned it, or boot1) gets a new host key; pinned clients refuse it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from dr_console.lab import bootnet, sshd
from dr_console.lab.procs import LabError

RETIRED_PACKAGE = "drlab-retired-tool"
FAULTS = {
    "dhcp-wrong-interface": "DHCP bound to the bare host's management NIC (boot_interface: eth0): "
                            "the playbook converges, DHCP does not answer on the boot network",
    "playbook-task-fails": "dhcp_lease_time: twelve-hours in the rebuild inventory: the "
                           "'Configure dnsmasq for DHCP and TFTP only' task fails validation",
    "package-no-candidate": f"boot1's newest package list names {RETIRED_PACKAGE}, which the "
                            "offline repository lacks",
    "host-key-changed": "a namespaced host's sshd gets a new host key (default probe1)",
}
_VAR_FAULTS = {
    "dhcp-wrong-interface": {"boot_interface": "eth0"},
    "playbook-task-fails": {"dhcp_lease_time": "twelve-hours"},
}
KEY_HOSTS = (bootnet.PROBE, bootnet.BARE, bootnet.BOOT1)


def _path(lab_dir: Path) -> Path:
    return bootnet.base_dir(lab_dir) / "faults.json"


def active(lab_dir: Path) -> dict[str, dict[str, Any]]:
    path = _path(lab_dir)
    return dict(json.loads(path.read_text())) if path.exists() else {}


def _save(lab_dir: Path, faults: dict[str, dict[str, Any]]) -> None:
    path = _path(lab_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(faults, indent=2))
    tmp.replace(path)


def var_overrides(lab_dir: Path) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for name in active(lab_dir):
        merged.update(_VAR_FAULTS.get(name, {}))
    return merged


def clear(lab_dir: Path) -> None:
    """Forget every fault before a cold start: a changed host key goes back
    (the lab pins its hosts from the key files), everything else is made
    anew by the start anyway (the offsite store is seeded afresh)."""
    faults = active(lab_dir)
    record = faults.get("host-key-changed")
    if record:
        key = _host_key(lab_dir, record["host"])
        saved = _fault_dir(lab_dir, "host-key-changed")
        for path in (key, key.with_suffix(".pub")):
            if (saved / path.name).exists():
                shutil.copy2(saved / path.name, path)
    shutil.rmtree(bootnet.base_dir(lab_dir) / "fault-data", ignore_errors=True)
    _path(lab_dir).unlink(missing_ok=True)


def _state(lab_dir: Path) -> dict[str, Any]:
    from dr_console.lab.runner import read_state

    state = read_state(lab_dir)
    if not state.get("up") or "bootnet" not in state:
        raise LabError(f"no running lab with a boot network in {lab_dir}")
    return state


def _rewrite_inventory(lab_dir: Path, state: dict[str, Any]) -> None:
    bootnet.write_rebuild_inventory(lab_dir, state["ports"]["ssh-bare"], var_overrides(lab_dir))


def provoke(lab_dir: Path, name: str, host: str | None = None) -> dict[str, Any]:
    """Provoke one fault; returns its record (also in faults.json)."""
    lab_dir = lab_dir.resolve()
    if name not in FAULTS:
        raise LabError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
    faults = active(lab_dir)
    if name in faults:
        raise LabError(f"fault {name} is already active; undo it first")
    state = _state(lab_dir)
    record: dict[str, Any] = {"description": FAULTS[name]}
    if name in _VAR_FAULTS:
        record["vars"] = _VAR_FAULTS[name]
    elif name == "package-no-candidate":
        record.update(_damage_package_list(lab_dir, state))
    else:
        record.update(_change_host_key(lab_dir, state, host or bootnet.PROBE))
    faults[name] = record
    _save(lab_dir, faults)
    if name in _VAR_FAULTS:
        _rewrite_inventory(lab_dir, state)  # from faults.json, just saved
    return record


def undo(lab_dir: Path, name: str) -> dict[str, Any]:
    """Undo one active fault; returns the record it had."""
    lab_dir = lab_dir.resolve()
    faults = active(lab_dir)
    if name not in faults:
        raise LabError(f"fault {name} is not active")
    state = _state(lab_dir)
    record = faults.pop(name)
    if name == "package-no-candidate":
        _restore_package_list(lab_dir, state, record)
    elif name == "host-key-changed":
        _restore_host_key(lab_dir, state, record)
    _save(lab_dir, faults)
    if name in _VAR_FAULTS:
        _rewrite_inventory(lab_dir, state)
    return record


def _fault_dir(lab_dir: Path, name: str) -> Path:
    path = bootnet.base_dir(lab_dir) / "fault-data" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def _offsite(lab_dir: Path, state: dict[str, Any]) -> tuple[Any, str]:
    from dr_console.backup.s3 import store_client
    from dr_console.config import load_site
    from dr_console.lab import sitefile

    store = load_site(lab_dir / state["site"]).store(sitefile.STORE)
    return store_client(store), store.bucket


def _damage_package_list(lab_dir: Path, state: dict[str, Any]) -> dict[str, Any]:
    from dr_console.backup.s3 import put_manifest
    from dr_console.manifest import Manifest, manifest_key

    lists = [o for o in state["objects"]
             if o["asset"] == bootnet.BOOT1 and o["kind"] == "package-list"]
    if not lists:
        raise LabError("the lab seeded no package list for boot1")
    key = max(lists, key=lambda o: o["created_at"])["key"]
    client, bucket = _offsite(lab_dir, state)
    original = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    manifest_text = client.get_object(Bucket=bucket, Key=manifest_key(key))["Body"].read()
    saved = _fault_dir(lab_dir, "package-no-candidate")
    (saved / "object").write_bytes(original)
    (saved / "manifest.json").write_bytes(manifest_text)
    damaged = original + f"{RETIRED_PACKAGE}\t\t\t\t\t\tinstall\n".encode()
    client.put_object(Bucket=bucket, Key=key, Body=damaged)
    manifest = dataclasses.replace(Manifest.from_json(manifest_text), size=len(damaged),
                                   sha256=hashlib.sha256(damaged).hexdigest())
    put_manifest(client, bucket, key, manifest)
    return {"object": key, "package": RETIRED_PACKAGE}


def _restore_package_list(lab_dir: Path, state: dict[str, Any], record: dict[str, Any]) -> None:
    from dr_console.manifest import manifest_key

    client, bucket = _offsite(lab_dir, state)
    saved = _fault_dir(lab_dir, "package-no-candidate")
    client.put_object(Bucket=bucket, Key=record["object"], Body=(saved / "object").read_bytes())
    client.put_object(Bucket=bucket, Key=manifest_key(record["object"]),
                      Body=(saved / "manifest.json").read_bytes(), ContentType="application/json")
    shutil.rmtree(saved)


def _host_key(lab_dir: Path, host: str) -> Path:
    if host == bootnet.BARE:
        return bootnet.base_dir(lab_dir) / "bare" / "ssh_host_ed25519_key"
    return sshd.ssh_dir(lab_dir) / "hosts" / host / "ssh_host_ed25519_key"


def _port(state: dict[str, Any], host: str) -> int:
    return int(state["ports"]["ssh-bare" if host == bootnet.BARE else f"ssh-{host}"])


def _change_host_key(lab_dir: Path, state: dict[str, Any], host: str) -> dict[str, Any]:
    if host not in KEY_HOSTS:
        raise LabError(f"host-key-changed works on {', '.join(KEY_HOSTS)} (got {host!r})")
    key = _host_key(lab_dir, host)
    saved = _fault_dir(lab_dir, "host-key-changed")
    old = bootnet.fingerprint(key.with_suffix(".pub"))[0]
    for path in (key, key.with_suffix(".pub")):
        shutil.copy2(path, saved / path.name)
        path.unlink()
    sshd.keygen(key, f"{host}@drlab (changed)")
    bootnet.restart_sshd(lab_dir, host, _port(state, host))
    return {"host": host, "port": _port(state, host), "old_fingerprint": old,
            "new_fingerprint": bootnet.fingerprint(key.with_suffix(".pub"))[0]}


def _restore_host_key(lab_dir: Path, state: dict[str, Any], record: dict[str, Any]) -> None:
    host = record["host"]
    key = _host_key(lab_dir, host)
    saved = _fault_dir(lab_dir, "host-key-changed")
    for path in (key, key.with_suffix(".pub")):
        shutil.copy2(saved / path.name, path)
    shutil.rmtree(saved)
    bootnet.restart_sshd(lab_dir, host, _port(state, host))
