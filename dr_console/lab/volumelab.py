"""What `lab up` records about the payload-volume part of the lab, for the
runbook and its tests (state.json keys "lab_servers", "payload_volumes",
"volume_faults"); and bringing recorded attachments back after a start.
See docs/lab-volumes.md for the meaning of every key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from dr_console.lab import guesthost, sitefile, sshd, volumefaults
from dr_console.lab.openstack._payload import LAB_QUOTA, read_record
from dr_console.lab.openstack.sitelib import drlab_guestdisk as guestdisk
from dr_console.lab.seed_offsite import Fault

Log = Callable[[str], None]


def reconcile(lab_dir: Path, log: Log) -> None:
    """Make the attachments Nova counts real again (nova-compute does the
    same when it starts; this covers a host that came up after it)."""
    for problem in guestdisk.reconcile(str(guesthost.guests_dir(lab_dir)), log):
        log(f"warning: guest disk not restored: {problem}")


def console_faults(lab_dir: Path) -> list[Fault]:
    """The payload faults the console itself must see (state.json "faults")."""
    faults = []
    for name, volume in read_record(lab_dir).get("volumes", {}).items():
        if volume.get("fault") == "error-newest-backup":
            newest = volume["backups"][-1]
            faults.append(Fault(
                "error-newest-backup", name, "volume", "openstack", "WARNING",
                f"newest Cinder backup {newest['name']} is in state error; an older one is good",
                [newest["id"]]))
    return faults


def state(lab_dir: Path, ports: dict[str, int], seed: dict[str, str],
          aws: dict[str, Any]) -> dict[str, Any]:
    """The state.json keys of this part of the lab."""
    record = read_record(lab_dir) if seed else {}
    servers = {}
    for host, server in guesthost.GUEST_HOSTS.items():
        servers[server] = {
            "id": seed.get(server), "cloud": sitefile.OPENSTACK_CLOUD if seed else None,
            "host": host, "address": "127.0.0.1", "port": ports[f"ssh-{host}"], "user": "root",
            "key_file": str(sshd.client_key(lab_dir)),
            "known_hosts": str(sshd.known_hosts(lab_dir)),
            "fstab": str(guesthost.fstab(lab_dir, host)),
            "private_mounts": ["/dev", "/mnt", "/srv", "/etc/fstab"],
            "aws_twin": aws.get("payload_instance"),
        }
    volumes = record.get("volumes", {})
    hosts = list(sitefile.LAB_HOSTS)
    return {
        "lab_servers": servers,
        "payload_volumes": {
            "server": record.get("server"),
            "guests_dir": str(guesthost.guests_dir(lab_dir)),
            "volumes": volumes,
            "aws": aws.get("payload_volumes", {}),
        },
        "volume_faults": {
            **{volume["fault"]: {
                "volume": name, "volume_id": volume["id"],
                "bad_backup": volume["backups"][-1], "good_backup": volume["backups"][0],
            } for name, volume in volumes.items() if volume.get("fault")},
            "attach-hang": {
                "switch": str(volumefaults.hang_switch(lab_dir)),
                "on": "dr-console lab fault attach-hang on [--volume VOLUME_ID ...]",
                "off": "dr-console lab fault attach-hang off",
                "limit_seconds": guestdisk.HANG_LIMIT,
            },
            "host-key": {
                "hosts": hosts,
                "rotate": "dr-console lab fault host-key rotate HOST",
                "restore": "dr-console lab fault host-key restore HOST",
                "rotated_keys": {host: volumefaults.rotated_public_key(lab_dir, host)
                                 for host in hosts},
            },
            "volume-quota": {
                "low": "dr-console lab fault volume-quota low",
                "restore": "dr-console lab fault volume-quota restore",
                "quota": LAB_QUOTA,
            } if seed else None,
        },
    }
