"""`lab up`, `lab down`, `lab status`: the whole lab as one unit.

Daemons are started by `procs.start` (PIDs in services.json) and stopped by
PID only. Everything else the lab knows (ports, what was seeded, the seeded
faults with their expected status, timings) is in state.json.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from dr_console.backup.s3 import store_client
from dr_console.config import load_site
from dr_console.lab import (
    bootnet,
    guesthost,
    mariadb,
    moto,
    procs,
    seed_aws,
    seed_db,
    seed_offsite,
    sitefile,
    sshd,
    volumelab,
)
from dr_console.lab.procs import LabError
from dr_console.schema import AwsCloud

STATE_FORMAT = "dr-console/lab-state/v1"
PORT_NAMES = ("mariadb", "moto-aws", "moto-offsite", "ssh-boot1", "ssh-db1", "ssh-app1",
              "ssh-drill1", *bootnet.PORT_NAMES)

Log = Callable[[str], None]
T = TypeVar("T")


def _stderr_log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def state_path(lab_dir: Path) -> Path:
    return lab_dir / "state.json"


def read_state(lab_dir: Path) -> dict[str, Any]:
    path = state_path(lab_dir)
    if not path.exists():
        return {}
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def write_state(lab_dir: Path, state: dict[str, Any]) -> None:
    path = state_path(lab_dir)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, default=str))
    tmp.replace(path)


@contextlib.contextmanager
def _locked(lab_dir: Path) -> Iterator[None]:
    """One `lab up`/`down` at a time per lab dir (two terminals, make -j)."""
    with open(lab_dir / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def lab_status(lab_dir: Path) -> list[tuple[str, int, bool]]:
    """(name, pid, alive) of every registered service."""
    return [(s.name, s.pid, procs.pid_alive(s.pid)) for s in procs.registered(lab_dir)]


def _stop_everything(lab_dir: Path) -> list[str]:
    """Stop every registered service by PID, all at once: oslo services
    take seconds each to honour SIGTERM, and one by one that adds up to
    most of a minute. Returns the names, newest first."""
    services = procs.registered(lab_dir)
    namespaces = guesthost.namespaces(lab_dir)  # while their sshd still runs
    if services:
        with ThreadPoolExecutor(max_workers=len(services), thread_name_prefix="stop") as pool:
            list(pool.map(lambda service: procs.stop_pid(service.pid), services))
    # SSH sessions left in a lab host's namespace, then the loop devices
    # (a loop device outlives whoever made it).
    guesthost.end_namespaces(namespaces)
    guesthost.release_disks(lab_dir)
    stopped = procs.stop_all(lab_dir)  # all down already: this only clears the registry
    bootnet.teardown(lab_dir)  # daemons started inside its hosts, namespaces, route
    return stopped


def lab_down(lab_dir: Path, purge: bool = False) -> list[str]:
    """Stop every service by PID; return their names. `purge` then removes
    the lab directory (only if it is one: it has a state.json)."""
    lab_dir = lab_dir.resolve()
    if not lab_dir.exists():
        return []
    with _locked(lab_dir):
        stopped = _stop_everything(lab_dir)
        state = read_state(lab_dir)
        if state:
            state.update(up=False, stopped_at=datetime.now(UTC).isoformat())
            write_state(lab_dir, state)
    if purge and state_path(lab_dir).exists():
        shutil.rmtree(lab_dir)
    return stopped


def lab_up(lab_dir: Path, openstack: bool = True, log: Log | None = None) -> Path:
    """Start the lab (seeding what needs it) and return its site file.
    Already up: returns at once, starting nothing twice. Half up (a service
    died): stops the rest and starts cleanly; data on disk is kept."""
    log = log or _stderr_log
    lab_dir = lab_dir.resolve()
    lab_dir.mkdir(parents=True, exist_ok=True)
    with _locked(lab_dir):
        state = read_state(lab_dir)
        site = lab_dir / "site.yaml"
        services = lab_status(lab_dir)
        if services and all(alive for _, _, alive in services) and state.get("up") \
                and site.exists() and state.get("openstack") == openstack:
            log(f"lab already up in {lab_dir} ({len(services)} services)")
            return site
        if services:
            dead = [name for name, _, alive in services if not alive]
            why = (f"not running: {', '.join(dead)}" if dead else
                   f"switching to {'with' if openstack else 'without'} OpenStack")
            log(f"lab half up or in the other mode ({why}); restarting")
            _stop_everything(lab_dir)
        try:
            return _cold_start(lab_dir, openstack, state, log)
        except BaseException:
            # Never leave half a lab running: stop what this call started.
            log("lab up failed; stopping what it started")
            _stop_everything(lab_dir)
            raise


def _ports(state: dict[str, Any]) -> dict[str, int]:
    """Keep last time's ports when free, so known_hosts lines and URLs
    stay familiar across restarts."""
    old = state.get("ports", {})
    ports: dict[str, int] = {}
    for name in PORT_NAMES:
        port = old.get(name)
        while not port or procs.port_open(port) or port in ports.values():
            port = procs.free_port()
        ports[name] = port
    return ports


def _playbooks_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "playbooks"


class _Clock:
    def __init__(self, log: Log) -> None:
        self.t0 = time.monotonic()
        self.log = log
        self.marks: dict[str, float] = {}

    def timed(self, what: str, func: Callable[..., T], *args: Any) -> T:
        """Run func(*args) and record how long it took (tasks run in parallel)."""
        start = time.monotonic()
        try:
            return func(*args)
        finally:
            self.marks[f"task: {what}"] = round(time.monotonic() - start, 2)

    def mark(self, what: str) -> None:
        elapsed = round(time.monotonic() - self.t0, 2)
        self.marks[what] = elapsed
        self.log(f"[{elapsed:6.1f}s] {what}")


def _cold_start(lab_dir: Path, openstack: bool, old_state: dict[str, Any], log: Log) -> Path:
    clock = _Clock(log)
    ports = _ports(old_state)
    # Not "up" until the end: a failed start must not look like a usable lab.
    write_state(lab_dir, {**old_state, "up": False, "openstack": openstack,
                          "starting_at": datetime.now(UTC).isoformat()})
    (lab_dir / "secrets").mkdir(exist_ok=True, mode=0o700)
    (lab_dir / "secrets").chmod(0o700)
    oslab_mod = _openstack_module() if openstack else None
    hosts = sitefile.lab_hosts(ports)
    sshd.prepare(lab_dir, hosts, bootnet.prepare(lab_dir))
    for host in hosts:
        if guesthost.is_guest(host.name):
            guesthost.prepare(lab_dir, host)
    # Namespaced hosts get their sshd from bootnet.start.
    machine_hosts = [h for h in hosts if h.name not in bootnet.NAMESPACED_SITE_HOSTS]

    # Launch from this one thread: procs' registry file is read-modify-write
    # and not safe against concurrent starts. Waiting happens later.
    moto_aws = moto.start(lab_dir, "moto-aws", ports["moto-aws"])
    moto_off = moto.start(lab_dir, "moto-offsite", ports["moto-offsite"])
    ssh_services = [guesthost.start(lab_dir, host) if guesthost.is_guest(host.name)
                    else sshd.start(lab_dir, host) for host in machine_hosts]
    net = bootnet.start(lab_dir, ports, _playbooks_dir(), log)
    clock.mark("boot network started")
    db = mariadb.start(lab_dir, ports["mariadb"])
    clock.mark("mariadb ready")
    inventory = sitefile.write_inventory(lab_dir, ports)

    pool = ThreadPoolExecutor(max_workers=6, thread_name_prefix="lab")
    try:
        os_start: Future[Any] | None = None
        if oslab_mod is not None:
            # From here on only the OpenStack helper starts daemons.
            os_start = pool.submit(oslab_mod.start, lab_dir, db)
        # No daemons: the offline apt repository and boot1's image.
        boot_future = pool.submit(clock.timed, "boot network", bootnet.provision, net,
                                  _playbooks_dir(), inventory, log)

        first = not seed_db.database_exists(db, seed_db.APP_DB)
        seed_db.ensure_accounts(db, lab_dir)
        shop_counts = seed_db.seed_shop(db)
        if not openstack:
            seed_db.seed_service_placeholders(db)
        clock.mark(f"mysql seeded ({'first start' if first else 'kept from last run'})")

        for service, port in ((moto_aws, ports["moto-aws"]), (moto_off, ports["moto-offsite"]),
                              *zip(ssh_services, (h.port for h in machine_hosts), strict=True)):
            procs.wait_for_port(service, port, timeout=60)
        clock.mark("moto and sshd ready")

        data_abs = sitefile.build(lab_dir, ports, absolute=True, clouds_yaml=(
            lab_dir / "clouds.yaml") if openstack else None)
        site_abs = sitefile.model(data_abs)
        aws_cloud = site_abs.cloud(sitefile.AWS_CLOUD)
        assert isinstance(aws_cloud, AwsCloud)
        store = site_abs.store(sitefile.STORE)
        offsite = store_client(store)
        seed_offsite.ensure_bucket(offsite, store.bucket)
        now = seed_offsite.now_utc()

        bootnet_info = boot_future.result()  # boot1 is captured from its image
        clock.mark("boot network provisioned")
        ec2, rds, aws_s3 = seed_aws.clients(aws_cloud)
        aws_future = pool.submit(clock.timed, "seed aws", seed_aws.seed_aws, aws_cloud, ec2, rds)
        host_futures = [pool.submit(clock.timed, f"capture {h.name}", seed_offsite.capture_host,
                                    site_abs, offsite, now, h.name)
                        for h in hosts if h.name != bootnet.PROBE]  # the probe: nothing to keep
        bundle_future = pool.submit(clock.timed, "bundle playbooks",
                                    seed_offsite.bundle_playbooks, site_abs, offsite,
                                    _playbooks_dir(), now)
        plain_future = pool.submit(clock.timed, "plain app dumps", seed_offsite.plain_app_dumps,
                                   db, site_abs, offsite, now)
        buckets = clock.timed("seed buckets", seed_aws.seed_buckets, aws_s3)
        bucket_objects = clock.timed("archive buckets", seed_offsite.archive_buckets,
                                     site_abs, aws_s3, offsite, now)
        aws_summary = {**aws_future.result(), "buckets": buckets}
        host_objects = [obj for future in host_futures for obj in future.result()]
        early = [*host_objects, *bundle_future.result(), *plain_future.result(),
                 *bucket_objects]
        clock.mark("aws seeded; host, repo, bucket and app copies offsite")

        os_info: dict[str, Any] = {}
        os_lab: Any = None
        clouds_yaml: Path | None = None
        if oslab_mod is not None and os_start is not None:
            os_lab = os_start.result()
            clock.mark("openstack started")
            oslab_mod.wait_ready(os_lab)
            clock.mark("openstack ready")
            os_info["seed"] = oslab_mod.seed(os_lab)
            clock.mark("openstack seeded")
            # Disks Nova counted attached before this start come back.
            volumelab.reconcile(lab_dir, log)
            os_info.update(clouds_yaml=str(os_lab.clouds_yaml), cloud=os_lab.cloud,
                           admin_cloud=getattr(os_lab, "admin_cloud", None),
                           ports=getattr(os_lab, "ports", {}))
            clouds_yaml = Path(os_lab.clouds_yaml)

        image_future: Future[list[Any]] | None = None
        if os_lab is not None:
            image_future = pool.submit(clock.timed, "export images", seed_offsite.export_images,
                                       site_abs, _openstack_connection(os_lab), offsite, now)
        # Dumps last, so they hold what the OpenStack seed just created.
        dump_futures = [pool.submit(clock.timed, f"dump {name}", seed_offsite.metadata_dumps,
                                    site_abs, offsite, now, name)
                        for name in seed_offsite.dumped_databases()]
        dumps = [obj for future in dump_futures for obj in future.result()]
        if image_future is not None:
            early += image_future.result()
        faults = seed_offsite.inject_dump_faults(offsite, store.bucket, dumps)
        faults += seed_offsite.static_faults(openstack, host_objects)
        faults += volumelab.console_faults(lab_dir) if openstack else []
        clock.mark(f"metadata dumps offsite ({len(dumps)}), faults injected")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)

    site_path = sitefile.write(lab_dir, sitefile.build(lab_dir, ports, clouds_yaml=clouds_yaml))
    load_site(site_path)  # the file the console reads must load, or up fails here
    clock.mark("site.yaml written and validated")

    with db.connect() as conn, conn.cursor() as cur:
        cur.execute("SHOW DATABASES")
        databases = sorted(row[0] for row in cur.fetchall())
    write_state(lab_dir, {
        "format": STATE_FORMAT,
        "up": True,
        "lab_dir": str(lab_dir),
        "openstack": openstack,
        "started_at": datetime.now(UTC).isoformat(),
        "seeded_at": now.isoformat(),
        "site": "site.yaml",
        "ports": ports,
        "endpoints": {"aws": moto.endpoint(ports["moto-aws"]),
                      "offsite": moto.endpoint(ports["moto-offsite"])},
        "offsite_bucket": store.bucket,
        "hosts": {h.name: {"port": h.port, "roles": list(h.roles), "tags": h.tags}
                  for h in hosts},
        "databases": databases,
        "app_db_counts": shop_counts,
        "aws": aws_summary,
        "openstack_lab": os_info,
        "bootnet": bootnet_info,
        "objects": [asdict(o) for o in [*early, *dumps]],
        "faults": [f.to_dict() for f in faults],
        **volumelab.state(lab_dir, ports, os_info.get("seed", {}), aws_summary),
        "services": [s.to_dict() for s in procs.registered(lab_dir)],
        "timings": {**clock.marks, "total": round(time.monotonic() - clock.t0, 2)},
    })
    clock.mark("lab up")
    return site_path


def _openstack_connection(os_lab: Any) -> Any:
    """An openstacksdk connection as the tenant, from the lab's clouds.yaml only."""
    import openstack.config
    import openstack.connection

    config = openstack.config.OpenStackConfig(config_files=[str(os_lab.clouds_yaml)],
                                              vendor_files=[])
    return openstack.connection.Connection(config=config.get_one(cloud=os_lab.cloud))


def _openstack_module() -> Any:
    try:
        from dr_console.lab import openstack as oslab
    except ImportError as exc:
        raise LabError(f"the OpenStack part of the lab is not available ({exc}); "
                       "use --no-openstack") from None
    return oslab
