"""The lab's real OpenStack control plane: Keystone, Glance, Cinder (api,
scheduler, volume, backup), Placement and Nova (api, conductor, scheduler,
compute with a fake virt driver), RabbitMQ and a read-only Neutron stub, all
plain processes bound to 127.0.0.1, started and stopped through `procs`.

    lab = start(lab_dir, db)     # db: the lab's MariaDB
    wait_ready(lab)
    ids = seed(lab)

Services run on Debian's /usr/bin/python3 (the distribution packages); this
module runs in dr-console's venv and only talks to them over HTTP. See
docs/lab.md for the facts behind the choices made here.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dr_console.lab import procs
from dr_console.lab.mariadb import MariaDB
from dr_console.lab.openstack import _catalog
from dr_console.lab.openstack._config import (
    ADMIN_CLOUD,
    CLOUD,
    DATABASES,
    SERVICE_ENV,
    SITELIB,
    SYSTEM_PYTHON,
    Layout,
    choose_ports,
    load_or_make_secrets,
    load_state,
    render_configs,
    save_state,
    write_clouds_yaml,
)
from dr_console.lab.openstack._seed import run_seed

if TYPE_CHECKING:
    import openstack.connection

__all__ = ["OpenStackLab", "connect", "seed", "start", "wait_ready"]


@dataclass
class OpenStackLab:
    clouds_yaml: Path  # lab_dir/clouds.yaml, mode 0600
    cloud: str = CLOUD  # the operator's entry (tenant user in project drlab)
    admin_cloud: str = ADMIN_CLOUD
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def lab_dir(self) -> Path:
        return self.clouds_yaml.parent


# Every service this module starts, in start order (stop_all stops newest first).
SERVICES = ("epmd", "rabbitmq", "neutron-stub", "keystone", "placement", "glance-api",
            "cinder-api", "cinder-scheduler", "cinder-volume", "cinder-backup",
            "nova-api", "nova-conductor", "nova-scheduler", "nova-compute")

# procs' registry is a read-modify-write JSON file: start services one at a time.
_start_lock = threading.Lock()


def start(lab_dir: Path, db: MariaDB) -> OpenStackLab:
    """Bring the control plane up (first time: create the DBs, sync them in
    parallel, bootstrap Keystone and fill its catalog). With an already
    configured lab_dir it only starts the services. Returns once every API
    listens; call wait_ready() before using compute or volumes."""
    lab_dir = Path(lab_dir).resolve()
    layout = Layout(lab_dir)
    state = load_state(layout)
    lab = OpenStackLab(clouds_yaml=layout.clouds_yaml)

    alive = {s.name for s in procs.registered(lab_dir)
             if s.name in SERVICES and procs.pid_alive(s.pid)}
    if alive:
        if alive == set(SERVICES) and state.get("db_port") == db.port:
            lab.ports = dict(state["ports"])
            return lab
        raise procs.LabError(f"the OpenStack lab in {lab_dir} is (partly) running "
                             f"({', '.join(sorted(alive))}) but not as asked (all services, "
                             f"MariaDB on port {db.port}); stop the lab first")

    fresh = not (state.get("bootstrapped") and _databases_exist(db))
    if fresh and layout.root.exists():
        shutil.rmtree(layout.root)  # stale state from an unfinished bootstrap
    layout.make_dirs()
    pw = load_or_make_secrets(layout)
    ports = choose_ports({} if fresh else state.get("ports", {}))
    lab.ports = ports
    render_configs(layout, db, ports, pw)
    write_clouds_yaml(layout, ports, pw)
    if fresh:
        _create_databases(db, pw)
        _write_key_repositories(layout)
    save_state(layout, {"bootstrapped": not fresh, "ports": ports,
                        "db_port": db.port})

    # The catalog needs writing on a fresh lab, or when a port moved.
    catalog = fresh or ports != state.get("ports")
    boot = _Boot(layout, ports, pw, fresh, catalog)
    boot.run()
    save_state(layout, {"bootstrapped": True, "ports": ports, "db_port": db.port})
    return lab


# -- databases -----------------------------------------------------------------


def _databases_exist(db: MariaDB) -> bool:
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute("SHOW DATABASES")
        present = {row[0] for row in cur.fetchall()}
        if not set(DATABASES) <= present:
            return False
        cur.execute("SELECT COUNT(*) FROM information_schema.tables "
                    "WHERE table_schema = 'keystone' AND table_name = 'project'")
        return bool(cur.fetchone()[0])


def _create_databases(db: MariaDB, pw: dict[str, str]) -> None:
    """Fresh bootstrap: drop what an earlier lab left under our names, then
    create each DB with its owner (the password is reset too)."""
    with db.connect() as conn, conn.cursor() as cur:
        for database in DATABASES:
            cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
    for database, user in DATABASES.items():
        db.create_database(database, user, pw[f"db_{user}"])
    with db.connect() as conn, conn.cursor() as cur:
        for user in set(DATABASES.values()):
            cur.execute("ALTER USER %s@'127.0.0.1' IDENTIFIED BY %s", (user, pw[f"db_{user}"]))


def _write_key_repositories(layout: Layout) -> None:
    """What `keystone-manage fernet_setup` and `credential_setup` do (keys 0
    staged, 1 primary), without two more Python start-ups on the critical
    path."""
    for name in ("fernet-keys", "credential-keys"):
        repo = layout.root / "keystone" / name
        repo.mkdir(parents=True, exist_ok=True)
        repo.chmod(0o700)
        for index in ("0", "1"):
            path = repo / index
            if not path.exists():
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(base64.urlsafe_b64encode(os.urandom(32)))


def _scrub(text: str, pw: dict[str, str]) -> str:
    for secret in pw.values():
        text = text.replace(secret, "***")
    return text


# -- the start-up graph -------------------------------------------------------------


class _Boot:
    """Runs the start-up steps on a thread pool: independent chains (one per
    service family) in parallel, each waiting only for what it needs."""

    def __init__(self, layout: Layout, ports: dict[str, int], pw: dict[str, str],
                 fresh: bool, catalog: bool) -> None:
        self.catalog = catalog
        self.layout = layout
        self.lab_dir = layout.lab_dir
        self.ports = ports
        self.pw = pw
        self.fresh = fresh
        self.pool = ThreadPoolExecutor(max_workers=10, thread_name_prefix="os-lab")
        self.futures: dict[str, Future[None]] = {}
        self.timings: dict[str, float] = {}
        self.steps: list[str] = []
        self.t0 = time.monotonic()

    def submit(self, name: str, fn: Callable[[], None]) -> None:
        def timed() -> None:
            fn()
            self.timings[name] = round(time.monotonic() - self.t0, 1)
        self.futures[name] = self.pool.submit(timed)

    def after(self, *names: str) -> None:
        for name in names:
            self.futures[name].result()

    def run(self) -> None:
        self.submit("rabbitmq", self._rabbitmq)
        self.submit("neutron", self._neutron)
        self.submit("keystone", self._keystone)
        self.submit("placement", self._placement)
        self.submit("glance", self._glance)
        self.submit("cinder", self._cinder)
        self.submit("nova", self._nova)
        try:
            for future in list(self.futures.values()):
                future.result()
        finally:
            self.pool.shutdown(wait=True)
        # Kept for whoever tunes the start-up: when each chain finished and
        # what each set-up command cost.
        (self.layout.root / "last-start-timings.txt").write_text(
            "".join(f"{v:6.1f} {k} done\n" for k, v in sorted(self.timings.items(),
                                                             key=lambda kv: kv[1]))
            + "".join(f"{line}\n" for line in sorted(self.steps)))

    # helpers

    def conf(self, service: str) -> str:
        return str(self.layout.conf(service))

    def manage(self, *argv: str, timeout: float = 600, input: bytes | None = None,
               background: bool = False) -> str:
        """Run a set-up command. `background`: off the critical path (Nova's
        set-up is on it), so it runs niced and leaves Nova the CPU."""
        started = time.monotonic()
        cmd = ["nice", "-n", "10", *argv] if background else list(argv)
        try:
            out = procs.run(cmd, env=SERVICE_ENV, timeout=timeout, input=input)
        except procs.LabError as exc:
            # The tail of a failed command's output goes into the message: make
            # sure no password of ours rides along (a DB URL in a traceback).
            raise procs.LabError(_scrub(str(exc), self.pw)) from None
        step = " ".join(os.path.basename(a) for a in argv[:6] if not a.endswith(".conf"))
        self.steps.append(f"{started - self.t0:6.1f} +{time.monotonic() - started:5.1f}s {step}")
        return out

    def daemon(self, name: str, argv: list[str], port: int | None = None,
               env: dict[str, str] | None = None, timeout: float = 120) -> procs.Service:
        started = time.monotonic()
        with _start_lock:
            service = procs.start(name, argv, self.lab_dir, env={**SERVICE_ENV, **(env or {})},
                                  cwd=self.layout.root)
        if port is not None:
            procs.wait_for_port(service, port, timeout=timeout)
        self.steps.append(f"{started - self.t0:6.1f} +{time.monotonic() - started:5.1f}s "
                          f"start {name}")
        return service

    def oslo(self, name: str, conf: str, port: int | None = None) -> procs.Service:
        return self.daemon(name, [SYSTEM_PYTHON, f"/usr/bin/{name}", "--config-file",
                                  self.conf(conf)], port)

    def uwsgi(self, name: str, wsgi_file: str, port: int, env: dict[str, str]) -> None:
        self.daemon(name, uwsgi_argv(name, wsgi_file, port), port, env=env)

    # chains

    def _rabbitmq(self) -> None:
        rabbit = self.layout.rabbit
        epmd_env = {"ERL_EPMD_ADDRESS": "127.0.0.1", "ERL_EPMD_PORT": str(self.ports["epmd"])}
        # Our own epmd in the foreground: one erl would start as a detached
        # daemon that no PID of ours covers.
        self.daemon("epmd", ["epmd", "-address", "127.0.0.1", "-port", str(self.ports["epmd"])],
                    self.ports["epmd"], env=epmd_env)
        env = {
            **epmd_env,
            "HOME": str(rabbit / "home"),
            "RABBITMQ_NODENAME": "drlab@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.ports["rabbitmq"]),
            "RABBITMQ_DIST_PORT": str(self.ports["rabbitmq_dist"]),
            "RABBITMQ_MNESIA_BASE": str(rabbit / "mnesia"),
            "RABBITMQ_LOG_BASE": str(rabbit / "log"),
            "RABBITMQ_LOGS": "-",
            "RABBITMQ_CONFIG_FILE": str(rabbit / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(rabbit / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(rabbit / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(rabbit / "rabbitmq-env.conf"),
            "RABBITMQ_PID_FILE": str(rabbit / "rabbitmq.pid"),
            # The distribution listener binds 0.0.0.0 unless told otherwise.
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }
        self.daemon("rabbitmq", ["/usr/lib/rabbitmq/bin/rabbitmq-server"],
                    self.ports["rabbitmq"], env=env, timeout=120)

    def _neutron(self) -> None:
        self.daemon("neutron-stub", [SYSTEM_PYTHON, str(SITELIB / "drlab_neutron_stub.py"),
                                     str(self.ports["neutron"])], self.ports["neutron"])

    def _keystone(self) -> None:
        if self.catalog:
            # db_sync, bootstrap and the catalog in one Keystone process; the
            # spec carries passwords, so it goes on stdin.
            spec = _catalog.keystone_spec(self.ports, self.pw, db_sync=self.fresh)
            self.manage(SYSTEM_PYTHON, str(SITELIB / "drlab_keystone_setup.py"),
                        self.conf("keystone"), input=json.dumps(spec).encode())
        self.uwsgi("keystone", "/usr/bin/keystone-wsgi-public", self.ports["keystone"],
                   {"OS_KEYSTONE_CONFIG_DIR": str(self.layout.conf("keystone").parent)})

    def _placement(self) -> None:
        if self.fresh:
            self.manage("placement-manage", "--config-file", self.conf("placement"), "db",
                        "sync", background=True)
        self.uwsgi("placement", "/usr/bin/placement-api", self.ports["placement"],
                   {"OS_PLACEMENT_CONFIG_DIR": str(self.layout.conf("placement").parent)})

    def _glance(self) -> None:
        if self.fresh:
            self.manage("glance-manage", "--config-file", self.conf("glance-api"), "db_sync",
                        background=True)
        self.oslo("glance-api", "glance-api", self.ports["glance"])

    def _cinder(self) -> None:
        if self.fresh:
            self.manage("cinder-manage", "--config-file", self.conf("cinder"), "db", "sync",
                        background=True)
        self.oslo("cinder-api", "cinder", self.ports["cinder"])
        self.after("rabbitmq")
        for name in ("cinder-scheduler", "cinder-volume", "cinder-backup"):
            self.oslo(name, "cinder")

    def _nova(self) -> None:
        if self.fresh:
            # api_db sync, map_cell0, create_cell, db sync: one process
            # (sitelib/drlab_nova_setup.py), three Nova imports fewer.
            out = self.manage(SYSTEM_PYTHON, str(SITELIB / "drlab_nova_setup.py"),
                              self.conf("nova"))
            self.steps += [f"{'':6} {line}" for line in out.splitlines()
                           if line.startswith("drlab-step")]
        api = self.oslo("nova-api", "nova")  # its port is awaited last
        self.after("rabbitmq")
        self.oslo("nova-conductor", "nova")
        self.oslo("nova-scheduler", "nova")
        # nova-compute reports to Placement at once, finding it through the
        # catalog; requests sent while uwsgi still loads an app just wait.
        self.after("placement", "neutron")
        if self.catalog:
            self.after("keystone")
        self.daemon("nova-compute", [SYSTEM_PYTHON, str(SITELIB / "drlab_nova_compute.py"),
                                     "--config-file", self.conf("nova-compute")])
        procs.wait_for_port(api, self.ports["nova"], timeout=120)


# -- readiness ------------------------------------------------------------------------


def uwsgi_argv(name: str, wsgi_file: str, port: int) -> list[str]:
    """A WSGI service of the lab (Keystone, Placement) under uwsgi, on loopback."""
    return [
        "uwsgi", "--plugins", "python3", "--http-socket", f"127.0.0.1:{port}",
        "--wsgi-file", wsgi_file, "--master", "--processes", "1", "--threads", "4",
        "--enable-threads", "--die-on-term", "--need-app", "--lazy-apps",
        "--buffer-size", "65535", "--procname-prefix", f"drlab-{name}-",
        # keystoneauth reuses connections uwsgi drops: connection resets
        # unless every response says so (docs/lab.md, pitfall 7).
        "--add-header", "Connection: close",
    ]


def connect(lab: OpenStackLab, admin: bool = False) -> openstack.connection.Connection:
    """An openstacksdk connection from the lab's clouds.yaml (imported late:
    openstacksdk takes a while to import and start() does not need it)."""
    import openstack.config
    import openstack.connection

    config = openstack.config.OpenStackConfig(config_files=[str(lab.clouds_yaml)],
                                              vendor_files=[])
    region = config.get_one(cloud=lab.admin_cloud if admin else lab.cloud)
    return openstack.connection.Connection(config=region)


def wait_ready(lab: OpenStackLab, timeout: float = 180) -> None:
    """Wait until every service answers and Nova/Cinder can do real work:
    tokens for both users, RPC services up, the compute host mapped into its
    cell with a resource provider, Cinder's scheduler aware of its pool."""
    deadline = time.monotonic() + timeout
    problems: list[str] = ["not checked yet"]
    while time.monotonic() < deadline:
        try:
            problems = _readiness_problems(lab)
        except Exception as exc:  # a service still starting: try again
            problems = [f"{type(exc).__name__}: {str(exc)[:200]}"]
        if not problems:
            return
        time.sleep(1.0)
    raise procs.LabError(f"OpenStack lab not ready after {timeout:.0f}s: "
                         f"{'; '.join(problems)}; see {lab.lab_dir / 'logs'}")


def _readiness_problems(lab: OpenStackLab) -> list[str]:
    problems = []
    admin = connect(lab, admin=True)
    tenant = connect(lab)
    tenant.authorize()
    list(tenant.image.images(limit=1))
    compute_up = {s.binary for s in admin.compute.services() if s.state == "up"}
    for binary in ("nova-conductor", "nova-scheduler", "nova-compute"):
        if binary not in compute_up:
            problems.append(f"{binary} not up")
    if not list(admin.compute.hypervisors()):
        problems.append("compute host not mapped to a cell yet")
    if not list(admin.placement.resource_providers()):
        problems.append("no resource provider in placement")
    volume_up = {s.binary for s in admin.block_storage.services() if s.state == "up"}
    for binary in ("cinder-scheduler", "cinder-volume", "cinder-backup"):
        if binary not in volume_up:
            problems.append(f"{binary} not up")
    if not list(admin.block_storage.backend_pools()):
        problems.append("cinder-scheduler has no pool yet")
    return problems


# -- seeding -----------------------------------------------------------------------------


def seed(lab: OpenStackLab) -> dict[str, str]:
    """Create the tenant's resources (images, volumes with real bytes,
    snapshots, backups, servers); returns their ids by name. Resources that
    already exist by name are kept."""
    return run_seed(lab)

