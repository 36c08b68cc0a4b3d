"""Where the lab's OpenStack keeps its state, its secrets and ports, and how
its configuration files are rendered. Secrets go only into files of mode
0600 (configuration, clouds.yaml, secrets.json), never into argv or logs."""

from __future__ import annotations

import json
import os
import re
import secrets
import string
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from dr_console.lab import procs
from dr_console.lab.mariadb import MariaDB

REGION = "RegionOne"
DOMAIN = "Default"
SERVICE_PROJECT = "service"
TENANT_PROJECT = "drlab"
TENANT_USER = "drlab"
CLOUD = "drlab"
ADMIN_CLOUD = "drlab-admin"

# database -> the MariaDB user owning it
DATABASES: dict[str, str] = {
    "keystone": "keystone",
    "glance": "glance",
    "cinder": "cinder",
    "placement": "placement",
    "nova": "nova",
    "nova_api": "nova",
    "nova_cell0": "nova",
}
SERVICE_USERS = ("glance", "cinder", "nova", "placement")
PORT_NAMES = ("epmd", "rabbitmq", "rabbitmq_dist", "keystone", "placement", "glance",
              "cinder", "nova", "neutron")

SYSTEM_PYTHON = "/usr/bin/python3"
SITELIB = Path(__file__).resolve().parent / "sitelib"
# Services run on Debian's python3 with a plain system PATH, whatever venv
# the caller runs in; no_proxy keeps every client call on loopback.
SERVICE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "PYTHONPATH": str(SITELIB),
    "PYTHONDONTWRITEBYTECODE": "1",
    "VIRTUAL_ENV": "",
    "no_proxy": "127.0.0.1,localhost",
    "NO_PROXY": "127.0.0.1,localhost",
    "LC_ALL": "C.UTF-8",
}


@dataclass
class Layout:
    """Paths of one lab's OpenStack state (everything under lab_dir/openstack)."""

    lab_dir: Path
    root: Path = field(init=False)

    def __post_init__(self) -> None:
        self.root = self.lab_dir / "openstack"

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def secrets_file(self) -> Path:
        return self.root / "secrets.json"

    @property
    def clouds_yaml(self) -> Path:
        return self.lab_dir / "clouds.yaml"

    def conf(self, service: str) -> Path:
        """etc/<service>/<service>.conf: one directory per service because
        Keystone and Placement under uwsgi find their file by directory."""
        return self.root / "etc" / service / f"{service}.conf"

    @property
    def rabbit(self) -> Path:
        return self.root / "rabbitmq"

    @property
    def volumes(self) -> Path:
        return self.root / "cinder" / "volumes"

    @property
    def backups(self) -> Path:
        return self.root / "cinder" / "backups"

    @property
    def guests(self) -> Path:
        """Lab hosts that play Nova servers and the disks attached to them
        (shared with nova-compute; see dr_console.lab.guesthost)."""
        return self.lab_dir / "guests"

    def make_dirs(self) -> None:
        for sub in ("etc", "keystone", "glance/images", "glance/staging", "glance/lock",
                    "cinder/volumes", "cinder/backups", "cinder/lock", "cinder/coordination",
                    "nova/instances", "nova/lock", "rabbitmq/home", "rabbitmq/mnesia",
                    "rabbitmq/log"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)


def load_state(layout: Layout) -> dict[str, Any]:
    try:
        return json.loads(layout.state_file.read_text())
    except (FileNotFoundError, ValueError):
        return {}


def save_state(layout: Layout, state: dict[str, Any]) -> None:
    tmp = layout.state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
    tmp.replace(layout.state_file)


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, created with that mode (never
    world-readable, even for an instant)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def load_or_make_secrets(layout: Layout) -> dict[str, str]:
    """One password per account; kept across restarts (the DBs, Keystone and
    RabbitMQ remember them)."""
    try:
        stored = json.loads(layout.secrets_file.read_text())
    except (FileNotFoundError, ValueError):
        stored = {}
    names = ["admin", TENANT_USER, "rabbit", *(f"db_{u}" for u in set(DATABASES.values())),
             *(f"svc_{u}" for u in SERVICE_USERS)]
    changed = False
    for name in names:
        if name not in stored:
            stored[name] = secrets.token_urlsafe(18)
            changed = True
    if changed:
        write_private(layout.secrets_file, json.dumps(stored, indent=2))
    return stored


def choose_ports(previous: dict[str, int]) -> dict[str, int]:
    """Reuse the recorded ports when they are free (the catalog and cell
    mappings then stay valid), otherwise pick new free ones."""
    ports: dict[str, int] = {}
    taken: set[int] = set()
    for name in PORT_NAMES:
        port = previous.get(name)
        if port and port not in taken and not procs.port_open(port):
            ports[name] = port
        else:
            port = procs.free_port()
            while port in taken:
                port = procs.free_port()
            ports[name] = port
        taken.add(ports[name])
    return ports


def db_url(db: MariaDB, database: str, user: str, password: str) -> str:
    return f"{db.url(database, user, password)}?charset=utf8"


def keystone_url(ports: dict[str, int]) -> str:
    return f"http://127.0.0.1:{ports['keystone']}/v3"


def transport_url(ports: dict[str, int], pw: dict[str, str]) -> str:
    return f"rabbit://drlab:{pw['rabbit']}@127.0.0.1:{ports['rabbitmq']}/"


def _auth_block(ports: dict[str, int], user: str, password: str) -> str:
    return "\n".join([
        "auth_type = password",
        f"auth_url = {keystone_url(ports)}",
        f"project_domain_name = {DOMAIN}",
        f"user_domain_name = {DOMAIN}",
        f"project_name = {SERVICE_PROJECT}",
        f"username = {user}",
        f"password = {password}",
        f"region_name = {REGION}",
    ])


def _authtoken_block(ports: dict[str, int], user: str, password: str) -> str:
    return "\n".join([
        f"www_authenticate_uri = {keystone_url(ports)}",
        _auth_block(ports, user, password),
        "interface = public",
        "service_token_roles_required = true",
    ])


def render_configs(layout: Layout, db: MariaDB, ports: dict[str, int],
                   pw: dict[str, str]) -> None:
    """Render every service's configuration from the package's templates."""
    values: dict[str, str] = {
        "state": str(layout.root),
        "transport_url": transport_url(ports, pw),
        "rabbit_password": pw["rabbit"],
        "conf_cinder": str(layout.conf("cinder")),
        "guests_dir": str(layout.guests),
    }
    for name, port in ports.items():
        values[f"port_{name}"] = str(port)
    for database, user in DATABASES.items():
        values[f"db_{database}"] = db_url(db, database, user, pw[f"db_{user}"])
    for user in SERVICE_USERS:
        values[f"auth_{user}"] = _auth_block(ports, user, pw[f"svc_{user}"])
        values[f"authtoken_{user}"] = _authtoken_block(ports, user, pw[f"svc_{user}"])

    templates = resources.files(__package__) / "templates"
    for service in ("keystone", "placement", "glance-api", "cinder", "nova"):
        text = string.Template((templates / f"{service}.conf").read_text()).substitute(values)
        write_private(layout.conf(service), text)
        if service == "nova":
            # nova-compute must not reach the databases itself (it logs "No
            # DB access allowed" errors when it can): all goes via conductor.
            write_private(layout.conf("nova-compute"),
                          re.sub(r"^connection = .*\n", "", text, flags=re.MULTILINE))
    rabbit_conf = (templates / "rabbitmq.conf").read_text()
    write_private(layout.rabbit / "rabbitmq.conf", string.Template(rabbit_conf).substitute(values))
    (layout.rabbit / "enabled_plugins").write_text("[].\n")
    (layout.rabbit / "rabbitmq-env.conf").write_text("# dr-console lab: settings come from env\n")


def write_clouds_yaml(layout: Layout, ports: dict[str, int], pw: dict[str, str]) -> None:
    def entry(user: str, project: str, password: str) -> dict[str, Any]:
        return {
            "auth": {"auth_url": keystone_url(ports), "username": user, "password": password,
                     "project_name": project, "user_domain_name": DOMAIN,
                     "project_domain_name": DOMAIN},
            "region_name": REGION,
            "identity_api_version": 3,
            "interface": "public",
        }

    doc = {"clouds": {
        CLOUD: entry(TENANT_USER, TENANT_PROJECT, pw[TENANT_USER]),
        ADMIN_CLOUD: entry("admin", "admin", pw["admin"]),
    }}
    write_private(layout.clouds_yaml, yaml.safe_dump(doc, sort_keys=False))
