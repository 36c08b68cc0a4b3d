"""Teardown of the boot network leaves nothing: a second, small lab (its
own namespaces, beside any lab already running) is started in a temporary
dir, a daemon is started inside its bare host the way ansible would (known
to no registry), and `lab down` must leave no namespace, veth, route, mount
or process of it behind, and the other lab untouched. Real namespaces,
mounts and processes; nothing mocked."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from dr_console.lab import bootnet, netns, nsroot, procs, sitefile, sshd
from dr_console.lab.runner import PORT_NAMES, lab_down

pytestmark = pytest.mark.lab

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"


def test_lab_down_leaves_nothing_of_the_boot_network(tmp_path: Path) -> None:
    lab = tmp_path / "lab"  # under /tmp: the hosts' private /tmp must not hide it
    lab.mkdir()
    others = netns.existing()
    ports = {name: procs.free_port() for name in PORT_NAMES}
    sshd.prepare(lab, sitefile.lab_hosts(ports), bootnet.prepare(lab))
    try:
        net = bootnet.start(lab, ports, PLAYBOOKS, log=lambda _: None)
        names = net.names
        assert set(names.all()) <= netns.existing()
        assert not set(names.all()) & others  # its own names, not another lab's
        assert netns.route_present(names.route_metric)
        nsroot.run(net.holders[bootnet.BARE], [
            "start-stop-daemon", "--start", "--background", "--make-pidfile",
            "--pidfile", "/run/drlab-test.pid", "--exec", "/usr/bin/sleep", "--", "3600"])
        daemon = int(nsroot.run(net.holders[bootnet.BARE], ["cat", "/run/drlab-test.pid"]))
        assert daemon in netns.pids(names.bare) and daemon != net.holders[bootnet.BARE].pid
        assert bootnet.leftovers(lab)  # while up, there is something to find
    finally:
        lab_down(lab)
    assert bootnet.leftovers(lab) == []
    assert not procs.pid_alive(daemon)
    assert not set(names.all()) & netns.existing()
    assert others <= netns.existing()  # every other lab's namespaces are still there
    assert "veth" not in subprocess.run(["ip", "-o", "link"], capture_output=True,
                                        text=True).stdout
    mounts = subprocess.run(["findmnt", "-rn", "-o", "TARGET,SOURCE,OPTIONS"],
                            capture_output=True, text=True).stdout
    assert str(lab) not in mounts and names.bare not in mounts
