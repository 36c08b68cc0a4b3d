"""The lab's site file: what `dr-console --site .lab/site.yaml` reads. Built
as data first, so the seeding code uses the very same store, server and host
settings the console will use."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from dr_console.lab import bootnet, moto, netns, sshd
from dr_console.lab.seed_db import (
    READER,
    RESTORER,
    SERVICE_DBS,
    reader_password_file,
    restorer_password_file,
)
from dr_console.lab.sshd import LabHost
from dr_console.schema import Site

SITE_NAME = "drlab"
OFFSITE_BUCKET = "dr-offsite"
OPENSTACK_CLOUD = "lab-openstack"
AWS_CLOUD = "lab-aws"
STORE = "offsite"
MYSQL = "metadata-db"
SNAPSHOT_VOLUME = "metadata-db-data"
PLAYBOOKS_REPO = "boot-infra-playbooks"
SYSTEM_SCHEMAS = ["information_schema", "performance_schema", "mysql", "sys"]
# Restores write, the backup user `drconsole` only reads: restores use their
# own account, `drrestore`, with grants on the covered databases and their
# restore schemas only (lab.seed_db.ensure_accounts).
RESTORE_USER = RESTORER


def admin_password_file(lab_dir: Path) -> Path:
    return lab_dir / "secrets" / "mariadb-admin"

# Object key layouts in the offsite store. A key may name the asset only
# once ({asset} is a regex group), so the folder level is a wildcard.
DUMP_KEY = "mysql/{db}/{db}-{ts}.sql.gz"
PLAIN_DUMP_KEY = "mysql/{db}/{db}-{ts}.sql"
ETC_KEY = "hosts/{host}/etc-{ts}.tar.gz"
PACKAGES_KEY = "hosts/{host}/dpkg-selections-{ts}.txt"
BUNDLE_KEY = "git/{repo}-{ts}.bundle"
BUCKET_KEY = "buckets/{bucket}/{bucket}-{ts}.tar.gz"
IMAGE_KEY = "images/{image}/{image}-{ts}.img"

COPIES = [
    {"store": STORE, "pattern": "mysql/*/{asset}-{timestamp}.sql.gz", "kind": "sql-dump",
     "asset_kind": "database"},
    {"store": STORE, "pattern": "mysql/*/{asset}-{timestamp}.sql", "kind": "sql-dump",
     "asset_kind": "database"},
    {"store": STORE, "pattern": "hosts/{asset}/etc-{timestamp}.tar.gz", "kind": "etc-archive",
     "asset_kind": "host"},
    {"store": STORE, "pattern": "hosts/{asset}/dpkg-selections-{timestamp}.txt",
     "kind": "package-list", "asset_kind": "host"},
    {"store": STORE, "pattern": "git/{asset}-{timestamp}.bundle", "kind": "git-bundle",
     "asset_kind": "repo"},
    {"store": STORE, "pattern": "buckets/*/{asset}-{timestamp}.tar.gz", "kind": "bucket-archive",
     "asset_kind": "bucket"},
    {"store": STORE, "pattern": "images/*/{asset}-{timestamp}.img", "kind": "image-export",
     "asset_kind": "image"},
]

RULES = [
    # Explicit dr:class tags first: the operator's word beats any pattern.
    {"name": "tagged-boot-infra", "class": "boot-infra",
     "match": {"tags": {"dr:class": "boot-infra"}}},
    {"name": "tagged-metadata", "class": "metadata", "match": {"tags": {"dr:class": "metadata"}}},
    {"name": "tagged-payload", "class": "payload", "match": {"tags": {"dr:class": "payload"}}},
    {"name": "openstack-service-dbs", "class": "metadata",
     "match": {"provider": "mysql", "name": list(SERVICE_DBS)}},
    {"name": "application-dbs", "class": "payload", "match": {"provider": "mysql"}},
    {"name": "volumes", "class": "payload", "match": {"kind": "volume"}},
    {"name": "db-instances", "class": "payload", "match": {"kind": "db-instance"}},
    {"name": "customer-buckets", "class": "payload",
     "match": {"kind": "bucket", "name": "customer-*"}},
    {"name": "ci-built-servers", "class": "reproducible",
     "match": {"kind": "server", "name": "web-*"}},
    {"name": "stock-images", "class": "reproducible", "match": {"kind": "image"}},
]

# How payload volumes come back: the Cinder ones of app-1 are checked over
# SSH against the sha256 lists the lab wrote; the EBS twins can only be
# proven by the API (moto holds no bytes).
PAYLOAD = [
    {"volumes": ["app-*"], "cloud": OPENSTACK_CLOUD, "mount": "/srv/{volume}", "fstab": True,
     "checks": {"files": ["README.txt", "etc/app.conf"],
                "sha256_list": "payload/{volume}.sha256"}},
    {"volumes": ["*-ebs"], "cloud": AWS_CLOUD},
]

DRILL_SERVER = "drill-1"

LAB_HOSTS = {
    "boot1": (("dhcp", "tftp", "ntp"), {"dr:class": "boot-infra"}),
    "db1": (("mysql",), {"dr:class": "metadata"}),
    # Plays the Nova server app-1: its attached volumes show up inside it
    # (lab.guesthost, docs/lab-volumes.md).
    "app1": (("app",), {"dr:class": "payload", "dr:server": "app-1"}),
    # Plays the scratch server drill-1: payload drills attach their restored
    # volumes there, never to app-1.
    "drill1": (("drill",), {"dr:class": "reproducible", "dr:server": "drill-1"}),
    # A machine on the boot network that runbooks probe DHCP/TFTP/NTP/FTP
    # from (lab.bootnet); nothing on it needs a backup.
    bootnet.PROBE: (("probe",), {"dr:class": "reproducible"}),
}


# Ansible group of a lab host, by its dr:class tag
INVENTORY_GROUPS = {"boot-infra": "boot_infra", "payload": "app"}


def lab_hosts(ports: dict[str, int]) -> list[LabHost]:
    return [LabHost(name, ports[f"ssh-{name}"], roles, dict(tags))
            for name, (roles, tags) in LAB_HOSTS.items()]


def build(lab_dir: Path, ports: dict[str, int], *, clouds_yaml: Path | None,
          absolute: bool = False) -> dict[str, Any]:
    """The site as plain data. Paths are relative to lab_dir (as written to
    site.yaml) unless `absolute` (for using the settings before the file
    exists). `clouds_yaml` None means no OpenStack."""

    def path(p: Path) -> str:
        return str(p) if absolute else os.path.relpath(p, lab_dir)

    credentials = path(moto.write_credentials(lab_dir))
    clouds: list[dict[str, Any]] = []
    if clouds_yaml is not None:
        clouds.append({"name": OPENSTACK_CLOUD, "type": "openstack", "cloud": SITE_NAME,
                       "clouds_yaml": path(clouds_yaml), "admin_cloud": f"{SITE_NAME}-admin"})
    clouds.append({"name": AWS_CLOUD, "type": "aws", "region": "us-east-1",
                   "endpoint_url": moto.endpoint(ports["moto-aws"]),
                   "credentials_file": credentials})
    mysql: dict[str, Any] = {
        "name": MYSQL, "host": "127.0.0.1", "port": ports["mariadb"], "user": READER,
        "password_file": path(reader_password_file(lab_dir)), "exclude": SYSTEM_SCHEMAS,
        "restore_user": RESTORE_USER, "restore_password_file": path(restorer_password_file(lab_dir)),
    }
    if clouds_yaml is not None:
        mysql["snapshot_volume"] = {"cloud": OPENSTACK_CLOUD, "volume": SNAPSHOT_VOLUME}
    hosts = [
        {"name": host.name, "address": "127.0.0.1", "port": host.port, "user": "root",
         "key_file": path(sshd.client_key(lab_dir)),
         "known_hosts": path(sshd.known_hosts(lab_dir)),
         "roles": list(host.roles), "tags": host.tags}
        for host in lab_hosts(ports)
    ]
    for host in hosts:
        server = host["tags"].get("dr:server")
        if server and clouds_yaml is not None:
            # The lab host that plays this Nova server: restored volumes are
            # checked and mounted from inside it.
            host["server"] = {"cloud": OPENSTACK_CLOUD, "name": server}
    return {
        "site": SITE_NAME,
        "description": "dr-console lab: real services on 127.0.0.1"
                       + ("" if clouds_yaml else " (without OpenStack)"),
        "clouds": clouds,
        "stores": [{"name": STORE, "bucket": OFFSITE_BUCKET, "region": "us-east-1",
                    "endpoint_url": moto.endpoint(ports["moto-offsite"]),
                    "credentials_file": credentials}],
        "mysql": [mysql],
        "hosts": hosts,
        "declared": [{"name": PLAYBOOKS_REPO, "kind": "repo", "tags": {"dr:class": "boot-infra"},
                      "description": "Ansible playbooks and roles that build the boot "
                                     "infrastructure (DHCP/TFTP, NTP, FTP)"}],
        "copies": COPIES,
        "rules": RULES,
        "rpo": {"boot-infra": "7d", "metadata": "24h", "payload": "24h"},
        "rto": {"boot-infra": "30m", "metadata": "15m", "payload": "30m"},
        "payload": [rule for rule in PAYLOAD
                    if clouds_yaml is not None or rule["cloud"] != OPENSTACK_CLOUD],
        "drills": {
            # boot1's drill rebuilds it on the bare host (a namespace of its
            # own, its boot network apart from everything live), whose key the
            # lab reports out of band, and makes it bare again afterwards.
            "boot_hosts": {bootnet.BOOT1: {
                "target": f"127.0.0.1:{ports['ssh-bare']}",
                "fingerprint_command": f"{sys.executable} -m dr_console lab bare-fingerprint "
                                       "--dir {site_dir}",
                "reset_command": f"{sys.executable} -m dr_console lab bare-reset --dir " "{site_dir}",
            }},
            **({"scratch_servers": {OPENSTACK_CLOUD: DRILL_SERVER},
                # A scratch Keystone serves the drill's schema and must issue a token.
                "smoke": {"keystone": f"{sys.executable} -m dr_console.lab.scratch_keystone "
                                      "--lab-dir {site_dir} --schema {schema} "
                                      "--defaults-file {defaults_file}"}}
               if clouds_yaml is not None else {}),
        },
        # boot1 comes back on the bare host: the rebuild's values (and any
        # fault's) from the lab's rebuild vars, the new key pinned in the
        # bare host's own known_hosts, the proof from probe1.
        "boot": [{"host": bootnet.BOOT1, "playbooks": PLAYBOOKS_REPO, "playbook": "boot-infra.yml",
                  "group": "boot_infra", "vars_file": path(bootnet.vars_file(lab_dir)),
                  "known_hosts": path(bootnet.known_hosts(lab_dir)), "probe": bootnet.PROBE,
                  "probe_interface": netns.CLIENT_IF}],
    }


def model(data: dict[str, Any]) -> Site:
    """Validate without touching files (the seeding runs before they all exist)."""
    return Site.model_validate(data)


_HEADER = """\
# Site file of the dr-console lab.
# Generated by `dr-console lab up` at {when}; regenerated on every cold start,
# so edit a copy, not this file. Every service it names listens on 127.0.0.1
# and is stopped by `dr-console lab down`. Paths are relative to this file.
# Secrets are not in here: see password_file, credentials_file, clouds.yaml.
"""


def write(lab_dir: Path, data: dict[str, Any]) -> Path:
    path = lab_dir / "site.yaml"
    text = _HEADER.format(when=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ"))
    text += yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=100)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path


def write_inventory(lab_dir: Path, ports: dict[str, int]) -> Path:
    """An Ansible inventory for the lab hosts, pinned to the lab's
    known_hosts (ControlMaster off: no mux process left behind). boot1 is
    an image here (lab.bootnet): the playbooks configure it, start nothing."""
    groups: dict[str, Any] = {}
    for host in lab_hosts(ports):
        entry: dict[str, Any] = {
            "ansible_host": "127.0.0.1", "ansible_port": host.port, "ansible_user": "root",
            "ansible_ssh_private_key_file": str(sshd.client_key(lab_dir)),
            "ansible_ssh_common_args": bootnet.ssh_args(sshd.known_hosts(lab_dir)),
        }
        if host.tags.get("dr:class") == "boot-infra":
            group = "boot_infra"
            entry.update(bootnet.image_vars())
        elif "probe" in host.roles:
            group = "probe"
        else:
            group = INVENTORY_GROUPS.get(host.tags.get("dr:class", ""), "db")
        groups.setdefault(group, {"hosts": {}})["hosts"][host.name] = entry
    path = lab_dir / "inventory.yml"
    path.write_text("# Generated by dr-console lab up\n"
                    + yaml.safe_dump({"all": {"children": groups}}, sort_keys=False))
    return path
