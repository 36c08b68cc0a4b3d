"""The lab's boot network: where the boot-infra runbook rebuilds boot1 on a
bare host and proves DHCP, TFTP, NTP and FTP from a machine on the network.

Three hosts, each in its own network namespace with its own private root
(nsroot) and an sshd reached from 127.0.0.1 through one forwarder (nsforward):

- boot-bare, the bare boot host: on the boot network (eth1, 198.51.100.10),
  with a fresh host key on every cold start that nobody has pinned, and
  without the role packages (purged in its root): nothing to serve yet.
- probe1, the probe client: on the boot network (eth0, 198.51.100.20), pinned
  in the lab's known_hosts, declared in the site file with role `probe`.
- boot1, the boot host whose /etc and package list go offsite: an image the
  playbooks built (service manager `none`), in a loopback-only namespace so
  nothing it could start ever reaches the boot network. Kept across restarts
  while its inputs are unchanged.

Everything is found again from the lab dir alone (teardown works after a
crash): namespace names and the route's metric derive from its path.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dr_console.lab import aptrepo, netns, nsroot, procs, sshd
from dr_console.lab.procs import LabError, Service
from dr_console.lab.sshd import LabHost

BOOT1 = "boot1"
PROBE = "probe1"
BARE = "boot-bare"
NAMESPACED_SITE_HOSTS = (BOOT1, PROBE)  # site hosts whose sshd lives in a namespace
PORT_NAMES = (f"ssh-{PROBE}", "ssh-bare")  # beside the lab's ssh-boot1
SSH_PORT = 22  # inside every namespace
# The role packages and what carries dnsmasq's binary: gone from the bare root.
PURGED = (*aptrepo.ROLE_PACKAGES, "dnsmasq-base")
IMAGE_FORMAT = "1"  # bump to rebuild every cached boot1 image
MEDIA_NAME = "drlab-netinst.iso"
MEDIA_SIZE = 1 << 20
PXE_FILE = "pxelinux.0"
DHCP_RANGE = ("198.51.100.100", "198.51.100.200")
NTP_LOCAL_STRATUM = 8
PYTHON_ON_HOSTS = "/usr/bin/python3"


def base_dir(lab_dir: Path) -> Path:
    return lab_dir / "bootnet"


def known_hosts(lab_dir: Path) -> Path:
    """The rebuild target's known_hosts: empty until someone pins the bare
    host's key (the runbook, after the operator confirms; or a test)."""
    return base_dir(lab_dir) / "known_hosts"


def inventory_dir(lab_dir: Path) -> Path:
    return base_dir(lab_dir) / "inventory"


def vars_file(lab_dir: Path) -> Path:
    return inventory_dir(lab_dir) / "host_vars" / f"{BOOT1}.yml"


def _media_dir(lab_dir: Path) -> Path:
    return base_dir(lab_dir) / "media"


def media_bytes() -> bytes:
    """A small, deterministic stand-in for an installation ISO."""
    seed = b"dr-console lab install media"
    return b"".join(hashlib.sha256(seed + i.to_bytes(4, "big")).digest()
                    for i in range(MEDIA_SIZE // 32))


def ensure_media(lab_dir: Path) -> dict[str, Any]:
    data = media_bytes()
    path = _media_dir(lab_dir) / MEDIA_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_bytes() != data:
        path.write_bytes(data)
    return {"name": MEDIA_NAME, "path": str(path), "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data)}


def _lab_vars() -> dict[str, Any]:
    """What the lab, as a site, sets over the playbooks' group_vars."""
    media = hashlib.sha256(media_bytes()).hexdigest()
    return {
        "ansible_python_interpreter": PYTHON_ON_HOSTS,
        # The lab has no upstream: chrony serves its local clock only...
        "ntp_upstream_servers": [],
        # ...and never disciplines this machine's clock (it is not namespaced).
        "ntp_daemon_options": "-x",
        "ftp_media": [{"name": MEDIA_NAME, "sha256": media,
                       "url": f"file://{nsroot.MEDIA_MOUNT}/install/{MEDIA_NAME}"}],
    }


def image_vars() -> dict[str, Any]:
    """boot1 is an image: configured by the playbooks, its daemons never run."""
    return {**_lab_vars(), "boot_service_manager": "none"}


def rebuild_vars(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The bare host has no init: daemons run under start-stop-daemon."""
    return {**_lab_vars(), "boot_service_manager": "start-stop-daemon", **(overrides or {})}


def ssh_args(known: Path) -> str:
    return (f"-o UserKnownHostsFile={known} -o StrictHostKeyChecking=yes "
            "-o ControlMaster=no")


def write_rebuild_inventory(lab_dir: Path, port: int, overrides: dict[str, Any]) -> Path:
    """An inventory directory for rebuilding boot1 on the bare host: hosts.yml
    (group boot_infra, host boot1 at 127.0.0.1:port, pinned to
    known_hosts(lab_dir)) and host_vars/boot1.yml (the lab's site values,
    with any fault's overrides)."""
    inv = inventory_dir(lab_dir)
    vars_file(lab_dir).parent.mkdir(parents=True, exist_ok=True)
    hosts = {"all": {"children": {"boot_infra": {"hosts": {BOOT1: {
        "ansible_host": procs.LOOPBACK, "ansible_port": port, "ansible_user": "root",
        "ansible_ssh_private_key_file": str(sshd.client_key(lab_dir)),
        "ansible_ssh_common_args": ssh_args(known_hosts(lab_dir)),
    }}}}}}
    (inv / "hosts.yml").write_text("# Generated by dr-console lab up: boot1 rebuilt on the bare host\n"
                                   + yaml.safe_dump(hosts, sort_keys=False))
    vars_file(lab_dir).write_text("# Generated by dr-console lab up (and `lab fault`)\n"
                                  + yaml.safe_dump(rebuild_vars(overrides), sort_keys=False))
    return inv


def fingerprint(pub: Path) -> tuple[str, str]:
    """(SHA256:…, the whole `ssh-keygen -lf` line)."""
    line = procs.run(["ssh-keygen", "-lf", str(pub)]).strip()
    return line.split()[1], line


def _image_key(playbooks: Path) -> str:
    digest = hashlib.sha256(IMAGE_FORMAT.encode())
    for path in sorted(p for p in playbooks.rglob("*") if p.is_file()
                       and "captures" not in p.parts and p.suffix != ".retry"):
        digest.update(str(path.relative_to(playbooks)).encode() + b"\0" + path.read_bytes())
    digest.update(json.dumps(image_vars(), sort_keys=True).encode())
    # boot1's dpkg database is a copy in its upper layer: when this
    # machine's packages change under it, build it again.
    digest.update(Path("/var/lib/dpkg/status").read_bytes())
    return digest.hexdigest()


@dataclass
class BootNet:
    lab_dir: Path
    names: netns.Names
    ports: dict[str, int]
    holders: dict[str, Service] = field(default_factory=dict)
    image_key: str = ""
    image_cached: bool = False
    bare_fingerprint: str = ""
    bare_fingerprint_line: str = ""
    media: dict[str, Any] = field(default_factory=dict)


def _sshd_config(lab_dir: Path, name: str) -> Path:
    if name == BARE:
        return base_dir(lab_dir) / "bare" / "sshd_config"
    return sshd.ssh_dir(lab_dir) / "hosts" / name / "sshd_config"


def start_sshd(lab_dir: Path, name: str, holder: Service | int) -> Service:
    argv = sshd.daemon_argv(_sshd_config(lab_dir, name))
    return procs.start(f"sshd-{name}", nsroot.enter(holder, argv), lab_dir)


def _holder_pid(lab_dir: Path, name: str) -> int:
    for service in procs.registered(lab_dir):
        if service.name == f"root-{name}" and procs.pid_alive(service.pid):
            return service.pid
    raise LabError(f"lab host {name} is not running (no root-{name} holder)")


def restart_sshd(lab_dir: Path, name: str, port: int) -> Service:
    """Restart one namespaced host's sshd (a new host key takes effect);
    its root and daemons stay."""
    holder = _holder_pid(lab_dir, name)
    procs.stop_service(lab_dir, f"sshd-{name}")
    service = start_sshd(lab_dir, name, holder)
    wait_ssh(service, port)
    return service


def wait_ssh(service: Service, port: int, timeout: float = 30) -> None:
    """Until an SSH banner comes back through the forwarder (the forwarder
    alone listening proves nothing about the sshd behind it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((procs.LOOPBACK, port), timeout=2) as sock:
                if sock.recv(4) == b"SSH-":
                    return
        except OSError:
            pass
        if not procs.pid_alive(service.pid):
            raise LabError(f"{service.name} exited during start-up; see {service.log}")
        time.sleep(0.1)
    raise LabError(f"{service.name}: no SSH banner on 127.0.0.1:{port} within {timeout:.0f}s; "
                   f"see {service.log}")


def prepare(lab_dir: Path) -> dict[str, int]:
    """Before the lab's host keys are read: clear what a crashed run left
    and every fault. Returns the ports the namespaced site hosts' sshds
    listen on (for sshd.prepare)."""
    from dr_console.lab import bootfaults

    nsroot.check_lab_dir(lab_dir)
    teardown(lab_dir)
    bootfaults.clear(lab_dir)
    return dict.fromkeys(NAMESPACED_SITE_HOSTS, SSH_PORT)


def _binds(lab_dir: Path) -> dict[str, Path]:
    """Read-only under /media/drlab on the hosts that install the roles."""
    return {"apt": aptrepo.repo_dir(base_dir(lab_dir)), "install": _media_dir(lab_dir)}


def _start_bare(lab_dir: Path, ns: str, port: int) -> tuple[Service, Service, str, str]:
    """A cold bare host: a fresh root without the role packages, a host key
    made now and pinned nowhere, its sshd started. Returns (holder, sshd,
    fingerprint, `ssh-keygen -lf` line)."""
    base = base_dir(lab_dir)
    nsroot.reset(base, BARE)
    holder = nsroot.start_holder(lab_dir, base, BARE, ns, _binds(lab_dir))
    # man-db's trigger re-indexes every manual page on each install (12 s
    # here) for pages nobody reads in the lab.
    nsroot.run(holder, ["sh", "-c", "rm -f /var/lib/man-db/auto-update; "
                        f"dpkg --purge {' '.join(PURGED)}"], timeout=120)
    bare_dir = base / "bare"
    shutil.rmtree(bare_dir, ignore_errors=True)
    key = bare_dir / "ssh_host_ed25519_key"
    sshd.keygen(key, f"{BARE}@drlab")
    sshd.write_config(lab_dir, LabHost(BARE, port, (), {}), key, bare_dir, SSH_PORT)
    known_hosts(lab_dir).write_text("")
    return (holder, start_sshd(lab_dir, BARE, holder), *fingerprint(key.with_suffix(".pub")))


def reset_bare(lab_dir: Path) -> dict[str, Any]:
    """Make the running lab's bare host cold again (as `lab up` leaves it):
    its daemons stopped, its root and host key new, nothing pinned. For a
    test or drill that needs the bare host as it was. Returns state.json's
    new `bootnet.bare`."""
    from dr_console.lab import bootfaults
    from dr_console.lab.runner import read_state, write_state

    lab_dir = lab_dir.resolve()
    state = read_state(lab_dir)
    if not state.get("up") or "bootnet" not in state:
        raise LabError(f"no running lab with a boot network in {lab_dir}")
    port = int(state["ports"]["ssh-bare"])
    for name in (f"sshd-{BARE}", f"root-{BARE}"):
        procs.stop_service(lab_dir, name)
    netns.kill_all(netns.names(lab_dir).bare)  # what ran in it: daemons ansible started
    _, service, fp, line = _start_bare(lab_dir, netns.names(lab_dir).bare, port)
    wait_ssh(service, port)
    write_rebuild_inventory(lab_dir, port, bootfaults.var_overrides(lab_dir))
    state["bootnet"]["bare"].update(fingerprint=fp, fingerprint_line=line)
    state["services"] = [s.to_dict() for s in procs.registered(lab_dir)]
    write_state(lab_dir, state)
    return dict(state["bootnet"]["bare"])


def start(lab_dir: Path, ports: dict[str, int], playbooks: Path, log: Any) -> BootNet:
    """Namespaces, route, private roots, sshds and the forwarder; the bare
    host purged of the role packages. Starts daemons: call from the thread
    that starts the lab's other daemons, after prepare()."""
    base = base_dir(lab_dir)
    base.mkdir(parents=True, exist_ok=True)
    net = BootNet(lab_dir, netns.names(lab_dir), ports)
    netns.add_unreachable_route(net.names.route_metric)
    for name in net.names.all():
        netns.create(name)
    netns.wire(net.names)
    net.media = ensure_media(lab_dir)
    aptrepo.repo_dir(base).mkdir(parents=True, exist_ok=True)

    net.image_key = _image_key(playbooks)
    stamp = nsroot.root_dir(base, BOOT1) / ".image"
    net.image_cached = stamp.exists() and stamp.read_text() == net.image_key
    if not net.image_cached:
        nsroot.reset(base, BOOT1)
    net.holders[BARE], bare_sshd, net.bare_fingerprint, net.bare_fingerprint_line = \
        _start_bare(lab_dir, net.names.bare, ports["ssh-bare"])
    net.holders[PROBE] = nsroot.start_holder(lab_dir, base, PROBE, net.names.client)
    net.holders[BOOT1] = nsroot.start_holder(lab_dir, base, BOOT1, net.names.boot1, _binds(lab_dir))
    nsroot.run(net.holders[BOOT1], ["rm", "-f", "/var/lib/man-db/auto-update"])

    sshds = {BARE: bare_sshd, **{name: start_sshd(lab_dir, name, net.holders[name])
                                 for name in (PROBE, BOOT1)}}
    forward = {BARE: (ports["ssh-bare"], net.names.bare),
               PROBE: (ports[f"ssh-{PROBE}"], net.names.client),
               BOOT1: (ports[f"ssh-{BOOT1}"], net.names.boot1)}
    forwarder = procs.start("nsforward", [sys.executable, "-m", "dr_console.lab.nsforward",
                                          *(f"{port}={ns}:{SSH_PORT}"
                                            for port, ns in forward.values())], lab_dir)
    for name, service in sshds.items():
        procs.wait_for_port(forwarder, forward[name][0], timeout=30)
        wait_ssh(service, forward[name][0])
    log(f"boot network up: bare {ports['ssh-bare']}, probe {forward[PROBE][0]}, "
        f"boot1 {forward[BOOT1][0]} ({'cached image' if net.image_cached else 'image to build'})")
    return net


def ansible_env(lab_dir: Path, playbooks: Path) -> dict[str, str]:
    """Environment for ansible-playbook (or ansible-runner's envvars) against
    the lab: the playbooks' ansible.cfg, host keys checked, state in the lab dir."""
    tmp = base_dir(lab_dir) / "ansible"
    tmp.mkdir(parents=True, exist_ok=True)
    # ansible-runner looks its ansible-playbook up on PATH: ours first.
    path = f"{Path(ansible_playbook()).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {"PATH": path, "ANSIBLE_CONFIG": str(playbooks / "ansible.cfg"), "ANSIBLE_HOME": str(tmp),
            "ANSIBLE_LOCAL_TEMP": str(tmp / "tmp"), "ANSIBLE_HOST_KEY_CHECKING": "True",
            "ANSIBLE_RETRY_FILES_ENABLED": "False", "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0"}


def ansible_playbook() -> str:
    here = Path(sys.executable).parent / "ansible-playbook"
    found = str(here) if here.exists() else shutil.which("ansible-playbook")
    if not found:
        raise LabError("ansible-playbook not found (pip install ansible-core)")
    return found


def run_playbook(lab_dir: Path, playbooks: Path, inventory: Path, *args: str,
                 log_name: str, timeout: float = 600) -> str:
    """ansible-playbook against the lab, its output kept in logs/<log_name>.log."""
    log_path = lab_dir / "logs" / f"{log_name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    argv = [ansible_playbook(), "-i", str(inventory), *args]
    env = {**os.environ, **ansible_env(lab_dir, playbooks)}
    with open(log_path, "ab") as out:
        proc = subprocess.run(argv, cwd=playbooks, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=timeout)
        out.write(proc.stdout)
    text = proc.stdout.decode(errors="replace")
    if proc.returncode != 0:
        raise LabError(f"ansible-playbook {' '.join(args)} failed ({proc.returncode}); "
                       f"see {log_path}:\n{text[-2500:]}")
    return text


def provision(net: BootNet, playbooks: Path, inventory: Path, log: Any) -> dict[str, Any]:
    """The slow part, no daemons started: the offline repository (fetching
    what is missing), boot1's image when its inputs changed, the rebuild
    inventory. Returns what state.json records under `bootnet`."""
    base = base_dir(net.lab_dir)
    started = time.monotonic()
    repo = aptrepo.ensure(base, net.holders[BARE])
    log(f"offline apt repository: {len(repo['packages'])} packages, "  # type: ignore[arg-type]
        f"{repo['fetched']} fetched ({time.monotonic() - started:.1f}s)")
    if not net.image_cached:
        started = time.monotonic()
        aptrepo.install_sources(net.holders[BOOT1])
        run_playbook(net.lab_dir, playbooks, inventory, "boot-infra.yml", "--limit", BOOT1,
                     log_name="boot1-image")
        (nsroot.root_dir(base, BOOT1) / ".image").write_text(net.image_key)
        log(f"boot1 image built by the playbooks ({time.monotonic() - started:.1f}s)")
    from dr_console.lab import bootfaults

    write_rebuild_inventory(net.lab_dir, net.ports["ssh-bare"], bootfaults.var_overrides(net.lab_dir))
    return describe(net, repo)


def describe(net: BootNet, repo: dict[str, Any]) -> dict[str, Any]:
    lab_dir = net.lab_dir
    server = netns.BARE_ADDRESS
    media_path = f"media/{MEDIA_NAME}"
    return {
        "subnet": netns.BOOT_SUBNET,
        "namespaces": {"bare": net.names.bare, "client": net.names.client,
                       "boot1": net.names.boot1},
        "route": {"type": "unreachable", "subnet": netns.BOOT_SUBNET,
                  "metric": net.names.route_metric},
        "bare": {"name": BARE, "address": procs.LOOPBACK, "port": net.ports["ssh-bare"],
                 "target": f"{procs.LOOPBACK}:{net.ports['ssh-bare']}", "user": "root",
                 "key_file": str(sshd.client_key(lab_dir)),
                 "fingerprint": net.bare_fingerprint, "fingerprint_line": net.bare_fingerprint_line,
                 "known_hosts": str(known_hosts(lab_dir)),
                 "boot_interface": netns.BARE_BOOT_IF, "boot_address": server,
                 "other_interfaces": [netns.BARE_MGMT_IF]},
        "probe": {"host": PROBE, "role": "probe", "port": net.ports[f"ssh-{PROBE}"],
                  "interface": netns.CLIENT_IF, "boot_address": netns.CLIENT_ADDRESS},
        "boot1": {"port": net.ports[f"ssh-{BOOT1}"], "image": "cached" if net.image_cached else "built",
                  "image_key": net.image_key},
        "services": {
            "dhcp": {"server": server, "range": list(DHCP_RANGE),
                     "command": f"busybox udhcpc -i {netns.CLIENT_IF} -f -q -n -t 4 -T 2 -s /bin/true"},
            "tftp": {"server": server, "file": PXE_FILE, "path_on_host": f"/srv/tftp/{PXE_FILE}",
                     "command": f"curl -sS -o /tmp/{PXE_FILE} tftp://{server}/{PXE_FILE}"},
            "ntp": {"server": server, "stratum": NTP_LOCAL_STRATUM,
                    "command": f"ntpdig -j -t 3 {server}"},
            "ftp": {"server": server, "file": media_path, "sha256": net.media["sha256"],
                    "size": net.media["size"],
                    "list_command": f"curl -sS --list-only ftp://{server}/media/",
                    "get_command": f"curl -sS -o /tmp/{MEDIA_NAME} ftp://{server}/{media_path}"},
        },
        "apt_repo": repo,
        "inventory": str(inventory_dir(lab_dir)),
        "vars_file": str(vars_file(lab_dir)),
        "playbook": "boot-infra.yml",
        "service_manager": {"variable": "boot_service_manager", "bare": "start-stop-daemon",
                            "boot1": "none", "default": "service"},
    }


def teardown(lab_dir: Path) -> list[int]:
    """Stop every process in the lab's namespaces (daemons ansible started
    too: found by namespace, never by name), delete the namespaces (their
    veths go with them) and our unreachable route. Mounts need no unmount:
    they lived in mount namespaces that died with their last process.
    Returns the PIDs it stopped; raises if anything of ours is left."""
    names = netns.names(lab_dir)
    killed: list[int] = []
    for name in names.all():
        killed += netns.kill_all(name)
    for name in names.all():
        netns.delete(name)
    netns.remove_unreachable_route(names.route_metric)
    left = leftovers(lab_dir)
    if left:
        raise LabError("boot network not fully torn down: " + "; ".join(left))
    return killed


def leftovers(lab_dir: Path) -> list[str]:
    """What of this lab's boot network still exists on the machine: its
    namespaces, its route, and any process (in any mount namespace) that
    still has one of its private roots mounted."""
    names = netns.names(lab_dir)
    found = [f"network namespace {name}" for name in names.all() if name in netns.existing()]
    if netns.route_present(names.route_metric):
        found.append(f"unreachable route {netns.BOOT_SUBNET} metric {names.route_metric}")
    roots = str(base_dir(lab_dir.resolve()) / "roots")
    for mountinfo in Path("/proc").glob("[0-9]*/mountinfo"):
        try:
            if roots in mountinfo.read_text():
                found.append(f"process {mountinfo.parent.name} holds a mount of {roots}")
        except OSError:
            continue  # gone meanwhile
    return found
