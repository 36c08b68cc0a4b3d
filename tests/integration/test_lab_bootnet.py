"""The lab's boot network against itself, nothing mocked: boot1's offsite
copies are restored on the bare host (apt sources and key, package replay,
role files), the playbooks converge there through ansible-runner, and a
machine on the boot network gets real DHCP, TFTP, NTP and FTP answers; this
machine's own /etc and dpkg selections stay as they were. The module leaves
a cold bare host behind (bootnet.reset_bare), as the lab started it.

Tests run in file order: each builds on the one before."""

from __future__ import annotations

import contextlib
import hashlib
import io
import ipaddress
import json
import re
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paramiko
import pytest
from labenv import lab_missing

from dr_console.backup.host import ssh_connect
from dr_console.backup.s3 import store_client
from dr_console.lab import bootfaults, bootnet, netns
from dr_console.lab.aptrepo import ROLE_PACKAGES
from dr_console.schema import Host, Site
from dr_console.ssh import fingerprint

pytestmark = pytest.mark.lab

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
ROLE_FILES = ("etc/dnsmasq.d/boot-infra.conf", "etc/chrony/chrony.conf", "etc/default/chrony",
              "etc/vsftpd.conf")
APT_FILES = ("etc/apt/sources.list.d/drlab-offline.sources", "etc/apt/keyrings/drlab-offline.gpg")
DAEMONS = ("dnsmasq", "chronyd", "vsftpd")


# -- helpers --------------------------------------------------------------------------


def run(client: paramiko.SSHClient, command: str, stdin: bytes | None = None,
        timeout: float = 300) -> tuple[int, str, str]:
    chan_in, out, err = client.exec_command(command, timeout=timeout)
    if stdin is not None:
        chan_in.write(stdin)
        chan_in.channel.shutdown_write()
    status = out.channel.recv_exit_status()
    return status, out.read().decode(errors="replace"), err.read().decode(errors="replace")


def must(client: paramiko.SSHClient, command: str, stdin: bytes | None = None) -> str:
    status, out, err = run(client, command, stdin)
    assert status == 0, f"{command!r} exited {status}:\n{out[-2000:]}\n{err[-2000:]}"
    return out


def etc_hashes() -> dict[str, str]:
    """path -> sha256 of every regular file under this machine's /etc."""
    out = {}
    for path in Path("/etc").rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                continue
    return out


def selections() -> str:
    return subprocess.run(["dpkg", "--get-selections"], capture_output=True, text=True,
                          check=True).stdout


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def machine_before() -> dict[str, Any]:
    return {"selections": selections(), "etc": etc_hashes()}


@pytest.fixture(scope="module")
def bn(lab_state: dict[str, Any], machine_before: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if "bootnet" not in lab_state:
        lab_missing("this lab has no boot network")
    yield lab_state["bootnet"]
    # Leave the bare host as cold as the lab made it, for whoever comes next.
    bootnet.reset_bare(Path(lab_state["lab_dir"]))


@pytest.fixture(scope="module")
def lab_dir(lab_state: dict[str, Any]) -> Path:
    return Path(lab_state["lab_dir"])


@pytest.fixture(scope="module")
def pinned(bn: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A known_hosts of this test's own, written once the key the bare host
    offers has the fingerprint the lab recorded (the operator's check)."""
    transport = paramiko.Transport(("127.0.0.1", bn["bare"]["port"]))
    try:
        transport.start_client(timeout=10)
        key = transport.get_remote_server_key()
    finally:
        transport.close()
    assert fingerprint(key).split()[1] == bn["bare"]["fingerprint"]  # "type SHA256:…"
    path = tmp_path_factory.mktemp("bare-pin") / "known_hosts"
    path.write_text(f"[127.0.0.1]:{bn['bare']['port']} {key.get_name()} {key.get_base64()}\n")
    return path


@pytest.fixture(scope="module")
def bare(bn: dict[str, Any], pinned: Path) -> Iterator[paramiko.SSHClient]:
    host = Host(name=bootnet.BARE, address="127.0.0.1", port=bn["bare"]["port"],
                key_file=Path(bn["bare"]["key_file"]), known_hosts=pinned, timeout=20)
    client = ssh_connect(host)
    yield client
    client.close()


@pytest.fixture(scope="module")
def probe(lab_site: Site, bn: dict[str, Any]) -> Iterator[paramiko.SSHClient]:
    [host] = [h for h in lab_site.hosts if "probe" in h.roles]
    assert host.name == bn["probe"]["host"]
    client = ssh_connect(host)  # pinned in the lab's own known_hosts
    yield client
    client.close()


@pytest.fixture(scope="module")
def boot1_copies(lab_site: Site, lab_state: dict[str, Any]) -> dict[str, bytes]:
    """boot1's newest /etc archive and package list from the offsite store."""
    store = lab_site.store("offsite")
    client = store_client(store)
    newest: dict[str, dict[str, Any]] = {}
    for obj in lab_state["objects"]:
        if obj["asset"] == "boot1" and obj["created_at"] >= newest.get(obj["kind"], obj)["created_at"]:
            newest[obj["kind"]] = obj
    return {kind: client.get_object(Bucket=store.bucket, Key=obj["key"])["Body"].read()
            for kind, obj in newest.items()}


def _archive(copies: dict[str, bytes]) -> tarfile.TarFile:
    return tarfile.open(fileobj=io.BytesIO(copies["etc-archive"]), mode="r:gz")


def playbook(lab_dir: Path, pinned: Path, tmp: Path, *, check: bool = False,
             tags: str | None = None) -> Any:
    """boot-infra.yml through ansible-runner, as the runbook runs it, against
    the lab's rebuild inventory, pinned to this test's known_hosts."""
    cmdline = " ".join([*(["--check"] if check else []), *([f"--tags {tags}"] if tags else [])])
    import ansible_runner

    env = bootnet.ansible_env(lab_dir, PLAYBOOKS)
    tmp.mkdir(parents=True, exist_ok=True)
    return ansible_runner.run(
        private_data_dir=str(tmp), project_dir=str(PLAYBOOKS), playbook="boot-infra.yml",
        inventory=str(bootnet.inventory_dir(lab_dir)),
        extravars={"ansible_ssh_common_args": bootnet.ssh_args(pinned)},
        cmdline=cmdline or None, envvars=env, quiet=True, timeout=600)


def changed_tasks(result: Any) -> list[str]:
    return [e["event_data"]["task"] for e in result.events
            if e["event"] == "runner_on_ok" and e["event_data"].get("res", {}).get("changed")]


def failed_tasks(result: Any) -> list[str]:
    return [e["event_data"]["task"] for e in result.events if e["event"] == "runner_on_failed"
            and not e["event_data"].get("ignore_errors")]


# -- the network and the bare host as the lab starts them ---------------------------------


def test_namespaces_route_and_no_veth_in_the_main_namespace(bn: dict[str, Any],
                                                           lab_dir: Path) -> None:
    names = netns.names(lab_dir)
    assert set(bn["namespaces"].values()) == set(names.all()) <= netns.existing()
    routes = json.loads(subprocess.run(["ip", "-j", "route", "show", "type", "unreachable",
                                        bn["subnet"]], capture_output=True, check=True).stdout)
    assert any(r.get("metric") == bn["route"]["metric"] for r in routes)
    main_links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert "veth" not in main_links
    bare_links = subprocess.run(["ip", "-n", names.bare, "-o", "-4", "addr"],
                                capture_output=True, text=True, check=True).stdout
    assert f"inet {bn['bare']['boot_address']}/24" in bare_links
    assert bn["bare"]["boot_interface"] in bare_links


def test_bare_host_key_is_pinned_nowhere_and_refused(bn: dict[str, Any], lab_site: Site,
                                                     lab_dir: Path) -> None:
    port = bn["bare"]["port"]
    assert bootnet.known_hosts(lab_dir).read_text() == ""
    for host in lab_site.hosts:
        assert f"]:{port} " not in Path(host.known_hosts).read_text()
    client = paramiko.SSHClient()
    client.load_host_keys(str(next(iter(lab_site.hosts)).known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        client.connect("127.0.0.1", port=port, username="root", timeout=10,
                       key_filename=bn["bare"]["key_file"], allow_agent=False, look_for_keys=False)
    client.close()


def test_bare_host_starts_empty_of_boot_services(bare: paramiko.SSHClient, bn: dict[str, Any],
                                                 lab_dir: Path) -> None:
    assert must(bare, "hostname").strip() == bootnet.BARE
    _, out, _ = run(bare, "dpkg-query -W -f '${Package} ${db:Status-Status}\\n' "
                          + " ".join(ROLE_PACKAGES))
    assert not [line for line in out.splitlines() if line.endswith(" installed")], out
    for path in ("/etc/dnsmasq.d", "/etc/chrony", "/etc/vsftpd.conf", "/usr/sbin/dnsmasq",
                 "/usr/sbin/chronyd", "/usr/sbin/vsftpd", "/srv/tftp", "/srv/ftp"):
        assert run(bare, f"test -e {path}")[0] != 0, path
    comms = set()
    for pid in netns.pids(netns.names(lab_dir).bare):
        with contextlib.suppress(OSError):  # a session process may be gone meanwhile
            comms.add(Path(f"/proc/{pid}/comm").read_text().strip())
    assert comms and not comms & set(DAEMONS), comms


def test_boot1_copies_describe_a_configured_boot_host(boot1_copies: dict[str, bytes],
                                                      bn: dict[str, Any]) -> None:
    selected = dict(line.split() for line in boot1_copies["package-list"].decode().splitlines())
    for package in ROLE_PACKAGES:
        assert selected.get(package) == "install", package
    with _archive(boot1_copies) as tar:
        names = set(tar.getnames())
        assert set(ROLE_FILES) | set(APT_FILES) <= names

        def text(name: str) -> str:
            member = tar.extractfile(name)
            assert member is not None
            return member.read().decode()

        dnsmasq = text("etc/dnsmasq.d/boot-infra.conf")
        assert "interface=eth1" in dnsmasq and "port=0" in dnsmasq
        assert "dhcp-range=198.51.100.100,198.51.100.200," in dnsmasq
        chrony = text("etc/chrony/chrony.conf")
        assert "local stratum 8" in chrony and "allow 198.51.100.0/24" in chrony
        assert not re.search(r"^\s*(pool|server) ", chrony, re.MULTILINE)
        assert 'DAEMON_OPTS="-x"' in text("etc/default/chrony")
        assert "anonymous_enable=YES" in text("etc/vsftpd.conf")
        assert f"URIs: {bn['apt_repo']['uri']}" in text(APT_FILES[0])
        assert not any(n.startswith("etc/apt/sources.list.d/") and n != APT_FILES[0]
                       for n in names if tar.getmember(n).isfile())


# -- the restore and the playbooks --------------------------------------------------------------


def test_restore_apt_sources_and_replay_the_package_list(
        bare: paramiko.SSHClient, boot1_copies: dict[str, bytes]) -> None:
    with _archive(boot1_copies) as tar:
        files = {name: tar.extractfile(name).read() for name in APT_FILES}  # type: ignore[union-attr]
    # The archive's sources replace the host's own (its mirror is unreachable).
    must(bare, "rm -f /etc/apt/sources.list /etc/apt/sources.list.d/* && mkdir -p /etc/apt/keyrings")
    for name, data in files.items():
        must(bare, f"cat > /{name}", stdin=data)
    must(bare, "apt-get update -q")
    must(bare, "apt-cache dumpavail | dpkg --merge-avail")
    must(bare, "dpkg --set-selections", stdin=boot1_copies["package-list"])
    out = must(bare, "DEBIAN_FRONTEND=noninteractive apt-get -y -q "
                     "-o Dpkg::Options::=--force-confold dselect-upgrade")
    assert re.search(r"\b0 to remove\b", out), out[-1500:]
    installed = must(bare, "dpkg-query -W -f '${Package} ${db:Status-Status}\\n' "
                           + " ".join(ROLE_PACKAGES))
    assert sorted(installed.split("\n")[:-1]) == sorted(f"{p} installed" for p in ROLE_PACKAGES)


def test_restore_role_files_then_check_mode_and_converge(
        bare: paramiko.SSHClient, boot1_copies: dict[str, bytes], lab_dir: Path, pinned: Path,
        tmp_path: Path) -> None:
    with _archive(boot1_copies) as tar:
        for name in ROLE_FILES:
            must(bare, f"mkdir -p /{Path(name).parent} && cat > /{name}",
                 stdin=tar.extractfile(name).read())  # type: ignore[union-attr]
    check = playbook(lab_dir, pinned, tmp_path / "check", check=True)
    assert check.status == "successful", failed_tasks(check)
    assert run(bare, "test -e /srv/tftp")[0] != 0  # check mode changed nothing
    apply = playbook(lab_dir, pinned, tmp_path / "apply")
    assert apply.status == "successful", failed_tasks(apply)
    changed = changed_tasks(apply)
    for daemon in ("dnsmasq", "chrony", "vsftpd"):
        assert f"Run {daemon} under start-stop-daemon" in changed, changed
    # boot1's files are what the playbooks render with the site's values.
    for task in ("Configure dnsmasq for DHCP and TFTP only", "Configure chrony as the site's NTP "
                 "server", "Set chronyd's options", "Configure vsftpd for anonymous read-only access"):
        assert task not in changed, task


# -- proofs from a machine on the boot network -------------------------------------------------


def dhcp_lease(probe: paramiko.SSHClient, bn: dict[str, Any]) -> tuple[int, str]:
    status, out, err = run(probe, bn["services"]["dhcp"]["command"], timeout=60)
    return status, out + err


def test_dhcp_offers_an_address_in_range(probe: paramiko.SSHClient, bn: dict[str, Any]) -> None:
    status, out = dhcp_lease(probe, bn)
    assert status == 0, out
    match = re.search(r"lease of (\S+) obtained from (\S+)", out)
    assert match, out
    low, high = (ipaddress.ip_address(a) for a in bn["services"]["dhcp"]["range"])
    assert low <= ipaddress.ip_address(match.group(1)) <= high
    assert match.group(2).rstrip(",") == bn["bare"]["boot_address"]
    # -s /bin/true: the lease configured nothing on the probe
    assert must(probe, "ip -4 -o addr show eth0").count("inet ") == 1


def test_tftp_serves_the_boot_loader_the_host_has(probe: paramiko.SSHClient,
                                                  bare: paramiko.SSHClient,
                                                  bn: dict[str, Any]) -> None:
    tftp = bn["services"]["tftp"]
    must(probe, tftp["command"])
    got = must(probe, f"sha256sum /tmp/{tftp['file']}").split()[0]
    assert got == must(bare, f"sha256sum {tftp['path_on_host']}").split()[0]
    assert got == must(bare, "sha256sum /usr/lib/PXELINUX/pxelinux.0").split()[0]


def test_ntp_answers_with_the_local_stratum(probe: paramiko.SSHClient, bn: dict[str, Any]) -> None:
    ntp = bn["services"]["ntp"]
    answer = json.loads(must(probe, ntp["command"]).splitlines()[0])  # one object per server
    assert answer["stratum"] == ntp["stratum"]
    assert abs(float(answer["offset"])) < 1.0
    assert answer["ip"] == ntp["server"]


def test_ftp_lists_and_serves_the_install_media(probe: paramiko.SSHClient,
                                                bn: dict[str, Any]) -> None:
    ftp = bn["services"]["ftp"]
    assert Path(ftp["file"]).name in must(probe, ftp["list_command"]).split()
    must(probe, ftp["get_command"])
    assert must(probe, f"sha256sum /tmp/{Path(ftp['file']).name}").split()[0] == ftp["sha256"]
    # anonymous and read-only
    status, _, _ = run(probe, f"echo x | curl -sS -T - ftp://{ftp['server']}/media/upload.txt")
    assert status != 0


# -- faults, each provoked and undone --------------------------------------------------------


def test_fault_playbook_task_fails_until_fixed(lab_dir: Path, pinned: Path,
                                               tmp_path: Path) -> None:
    bootfaults.provoke(lab_dir, "playbook-task-fails")
    try:
        result = playbook(lab_dir, pinned, tmp_path / "fault", tags="dhcp")
        assert result.status == "failed"
        assert failed_tasks(result) == ["Configure dnsmasq for DHCP and TFTP only"]
    finally:
        bootfaults.undo(lab_dir, "playbook-task-fails")
    # fixed: the full run at the end of this module converges with no change


def test_fault_dhcp_wrong_interface(lab_dir: Path, pinned: Path, tmp_path: Path,
                                    probe: paramiko.SSHClient, bn: dict[str, Any]) -> None:
    bootfaults.provoke(lab_dir, "dhcp-wrong-interface")
    try:
        result = playbook(lab_dir, pinned, tmp_path / "fault", tags="dhcp")
        assert result.status == "successful", failed_tasks(result)  # converges...
        status, out = dhcp_lease(probe, bn)
        assert status != 0 and "obtained" not in out  # ...and nobody gets an answer
    finally:
        bootfaults.undo(lab_dir, "dhcp-wrong-interface")
    result = playbook(lab_dir, pinned, tmp_path / "fixed", tags="dhcp")
    assert result.status == "successful", failed_tasks(result)
    assert dhcp_lease(probe, bn)[0] == 0


def test_fault_package_without_candidate(lab_dir: Path, lab_site: Site, lab_state: dict[str, Any],
                                         bare: paramiko.SSHClient) -> None:
    record = bootfaults.provoke(lab_dir, "package-no-candidate")
    try:
        store = lab_site.store("offsite")
        listed = store_client(store).get_object(Bucket=store.bucket, Key=record["object"])
        data = listed["Body"].read()
        assert f"{bootfaults.RETIRED_PACKAGE}\t".encode() in data
        _, out, err = run(bare, "dpkg --set-selections", stdin=data)
        assert bootfaults.RETIRED_PACKAGE in out + err  # dpkg names what it cannot select
    finally:
        bootfaults.undo(lab_dir, "package-no-candidate")
    store = lab_site.store("offsite")
    restored = store_client(store).get_object(Bucket=store.bucket, Key=record["object"])
    assert bootfaults.RETIRED_PACKAGE.encode() not in restored["Body"].read()


def test_fault_host_key_changed(lab_dir: Path, lab_site: Site) -> None:
    [host] = [h for h in lab_site.hosts if "probe" in h.roles]
    record = bootfaults.provoke(lab_dir, "host-key-changed")
    try:
        assert record["host"] == host.name and record["old_fingerprint"] != record["new_fingerprint"]
        from dr_console.errors import HostKeyError

        with pytest.raises(HostKeyError, match="host key CHANGED"):
            ssh_connect(host)
    finally:
        bootfaults.undo(lab_dir, "host-key-changed")
    ssh_connect(host).close()


def test_second_run_changes_nothing(lab_dir: Path, pinned: Path, tmp_path: Path) -> None:
    """After the converge and every fault undone: a whole run changes nothing."""
    again = playbook(lab_dir, pinned, tmp_path)
    assert again.status == "successful", failed_tasks(again)
    assert changed_tasks(again) == []
    assert again.stats["changed"].get("boot1", 0) == 0


# -- and this machine stayed as it was ----------------------------------------------------------


def test_this_machine_is_unchanged(machine_before: dict[str, Any], lab_dir: Path) -> None:
    assert selections() == machine_before["selections"]
    for package in ("dnsmasq", "pxelinux", "vsftpd"):
        assert f"\n{package}\t" not in "\n" + selections()
    # Every /etc file the bare host wrote is, on this machine, as it was.
    upper = bootnet.base_dir(lab_dir) / "roots" / bootnet.BARE / "etc" / "upper"
    # Files it wrote, and whiteouts (character devices) for files it removed.
    touched = [p for p in upper.rglob("*") if p.is_file() or p.is_char_device()]
    written = [f"/etc/{p.relative_to(upper)}" for p in touched]
    assert len(written) > 10, written
    now = etc_hashes()
    for path in written:
        assert now.get(path) == machine_before["etc"].get(path), path
    for path in ("/etc/dnsmasq.d/boot-infra.conf", "/etc/vsftpd.conf", "/srv/tftp", "/srv/ftp"):
        assert not Path(path).exists(), path
