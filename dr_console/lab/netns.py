"""Network namespaces of one lab: the boot network (a bare boot host and a
client on a veth pair) and a loopback-only namespace for the captured boot1.

Names derive from the lab directory, so two labs on one machine never share
a namespace, and everything is found again from the lab dir alone. Nothing
is ever created in the main namespace except one `unreachable` route for the
boot subnet, so a mistake fails here instead of leaving the machine."""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from dr_console.lab import procs
from dr_console.lab.procs import LabError

# RFC 5737 TEST-NET-2. Not TEST-NET-1: machines of this kind sit on
# 192.0.2.0/24 themselves (their default route is 192.0.2.1).
BOOT_SUBNET = "198.51.100.0/24"
BARE_ADDRESS = "198.51.100.10"
CLIENT_ADDRESS = "198.51.100.20"
PREFIX_LEN = 24
BARE_BOOT_IF = "eth1"   # the boot NIC, as the playbooks' site values name it
BARE_MGMT_IF = "eth0"   # a second NIC on the bare host: the "wrong interface"
CLIENT_IF = "eth0"


@dataclass(frozen=True)
class Names:
    bare: str
    client: str
    boot1: str
    route_metric: int

    def all(self) -> tuple[str, ...]:
        return (self.bare, self.client, self.boot1)


def names(lab_dir: Path) -> Names:
    digest = hashlib.sha256(str(lab_dir.resolve()).encode()).hexdigest()
    tag = f"drlab-{digest[:10]}"
    # A metric of our own makes the unreachable route ours alone: another
    # lab's route for the same subnet is a different route.
    return Names(f"{tag}-bare", f"{tag}-client", f"{tag}-boot1",
                 route_metric=100_000 + int(digest[10:16], 16) % 900_000)


def _ip(*args: str) -> str:
    return procs.run(["ip", *args], timeout=30)


def existing() -> set[str]:
    out = _ip("-j", "netns", "list") or "[]"
    return {entry["name"] for entry in json.loads(out)}


def create(name: str) -> None:
    if name in existing():
        raise LabError(f"network namespace {name} already exists; run `lab down` first")
    _ip("netns", "add", name)
    _ip("-n", name, "link", "set", "lo", "up")


def wire(names_: Names) -> None:
    """The boot network: a veth pair whose ends are born inside the two
    namespaces (nothing appears in the main one, not even for a moment)."""
    _ip("link", "add", BARE_BOOT_IF, "netns", names_.bare, "type", "veth",
        "peer", "name", CLIENT_IF, "netns", names_.client)
    # A second, addressless NIC on the bare host, as real boot hosts have a
    # management NIC: a DHCP server bound to it starts fine and answers nobody.
    _ip("-n", names_.bare, "link", "add", BARE_MGMT_IF, "type", "veth", "peer", "name", "mgmt-peer")
    for ns, ifname, address in ((names_.bare, BARE_BOOT_IF, BARE_ADDRESS),
                                (names_.client, CLIENT_IF, CLIENT_ADDRESS)):
        _ip("-n", ns, "addr", "add", f"{address}/{PREFIX_LEN}", "dev", ifname)
        _ip("-n", ns, "link", "set", ifname, "up")
    for ifname in (BARE_MGMT_IF, "mgmt-peer"):
        _ip("-n", names_.bare, "link", "set", ifname, "up")


def _conflicts(subnet: ipaddress.IPv4Network) -> list[str]:
    """Routes or addresses of the main namespace inside the subnet: with one
    of those our unreachable route would protect nothing (or break the
    machine's own network)."""
    found = []
    for route in json.loads(_ip("-j", "-4", "route", "show", "table", "all") or "[]"):
        dst = route.get("dst", "default")
        if dst == "default":
            continue
        net = ipaddress.ip_network(dst, strict=False)
        if not net.overlaps(subnet):
            continue
        if route.get("type") == "unreachable" and net == subnet:
            continue  # ours, or another lab's guard for the same subnet
        found.append(f"route {dst} ({route.get('type', 'unicast')} dev {route.get('dev', '-')})")
    for link in json.loads(_ip("-j", "-4", "addr", "show") or "[]"):
        for addr in link.get("addr_info", []):
            if ipaddress.ip_address(addr["local"]) in subnet:
                found.append(f"address {addr['local']} on {link['ifname']}")
    return found


def add_unreachable_route(metric: int, subnet: str = BOOT_SUBNET) -> bool:
    """`ip route add unreachable SUBNET` (with our metric), unless already
    there. True when the route is ours to remove at `lab down`."""
    net = ipaddress.ip_network(subnet)
    conflicts = _conflicts(net)
    if conflicts:
        raise LabError(f"the lab's boot subnet {subnet} is in use on this machine "
                       f"({'; '.join(conflicts)}): refusing to build the boot network")
    if route_present(metric, subnet):
        return True  # left by this lab's own earlier run: same metric
    _ip("route", "add", "unreachable", subnet, "metric", str(metric))
    return True


def route_present(metric: int, subnet: str = BOOT_SUBNET) -> bool:
    routes = json.loads(_ip("-j", "route", "show", "type", "unreachable", subnet) or "[]")
    return any(r.get("metric") == metric for r in routes)


def remove_unreachable_route(metric: int, subnet: str = BOOT_SUBNET) -> None:
    if route_present(metric, subnet):
        _ip("route", "del", "unreachable", subnet, "metric", str(metric))


def pids(name: str) -> list[int]:
    """Every process whose network namespace is `name` (by namespace, never
    by process name)."""
    if name not in existing():
        return []
    out = procs.run(["ip", "netns", "pids", name], timeout=30)
    return [int(p) for p in out.split() if p.strip().isdigit() and int(p) != os.getpid()]


def kill_all(name: str, grace: float = 5.0) -> list[int]:
    """SIGTERM every process in the namespace, then SIGKILL what is left.
    Returns the PIDs found at first."""
    victims = pids(name)
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 3.0)):
        left = pids(name)
        if not left:
            break
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            for pid in left:
                procs.pid_alive(pid)  # reaps the ones that are our children
            if not pids(name):
                break
            time.sleep(0.1)
    return victims


def delete(name: str) -> None:
    if name in existing():
        _ip("netns", "del", name)
