"""The boot-infra runbook without a lab: its site-file section, what it
reads from the playbooks (variables, the /etc files the roles write), the
probes judged on canned answers, ansible-runner events as log lines, the
plan with every equivalent command, and a host key that --yes alone never
pins."""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko
import pytest

from dr_console.config import load_site
from dr_console.errors import DrConsoleError, SiteFileError
from dr_console.runbooks import Engine, Outcome, Runbook, boot_infra, bootprobes
from dr_console.runbooks import events as ev
from dr_console.runbooks import playbook as ansible
from dr_console.schema import BootExpect

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
MEDIA_SHA = "f4b405ea4a928f9ab3ce64094056d75f136ef17f2f74ae954db9d09de1a06e87"
LAB_VARS = {"ntp_upstream_servers": [], "ntp_daemon_options": "-x",
            "ftp_media": [{"name": "netinst.iso", "sha256": MEDIA_SHA, "url": "file:///m/netinst.iso"}],
            "boot_service_manager": "start-stop-daemon"}

SITE = """\
site: boot-test
stores:
  - name: offsite
    bucket: dr-backups
    endpoint_url: http://127.0.0.1:9
hosts:
  - name: boot1
    address: 10.0.0.5
    key_file: id_ed25519
    known_hosts: known_hosts
    roles: [dhcp, tftp, ntp]
  - name: probe1
    address: 10.0.0.6
    port: 2222
    key_file: id_ed25519
    known_hosts: known_hosts
    roles: [probe]
declared:
  - name: boot-infra-playbooks
    kind: repo
copies:
  - store: offsite
    pattern: "git/{asset}-{timestamp}.bundle"
    kind: git-bundle
    asset_kind: repo
boot:
  - host: boot1
    vars_file: rebuild.yml
    known_hosts: rebuilt_hosts
    expect: {ntp_max_offset: 0.5}
"""


def write_site(tmp_path: Path, text: str = SITE) -> Path:
    (tmp_path / "id_ed25519").write_text("key")
    (tmp_path / "known_hosts").write_text("")
    (tmp_path / "rebuild.yml").write_text(json.dumps(LAB_VARS))
    path = tmp_path / "site.yaml"
    path.write_text(textwrap.dedent(text))
    return path


# -- the site file -------------------------------------------------------------------


def test_boot_section_loads_with_paths_resolved(tmp_path: Path) -> None:
    site = load_site(write_site(tmp_path))
    boot = site.boot_host("boot1")
    assert boot.vars_file == tmp_path / "rebuild.yml"
    assert boot.known_hosts == tmp_path / "rebuilt_hosts"  # need not exist: pinning makes it
    assert boot.expect.ntp_max_offset == 0.5
    assert boot.line == SITE.splitlines().index("  - host: boot1") + 1
    # a host without an entry gets the defaults
    assert site.boot_host("probe1").playbook == "boot-infra.yml"


@pytest.mark.parametrize(("old", "new", "key", "words"), [
    ("  - host: boot1\n", "  - host: boot9\n", "boot[0].host", "no host named 'boot9'"),
    ("    vars_file: rebuild.yml\n", "    vars_file: gone.yml\n", "boot[0].vars_file", "file not found"),
    ("    known_hosts: rebuilt_hosts\n", "    known_hosts: rebuilt_hosts\n    probe: probe9\n",
     "boot[0].probe", "no host named 'probe9'"),
    ("    known_hosts: rebuilt_hosts\n", "    known_hosts: rebuilt_hosts\n    playbooks: other\n",
     "boot[0].playbooks", "no declared repo named 'other'"),
    ("    known_hosts: rebuilt_hosts\n", "    known_hosts: rebuilt_hosts\n    etc_files: [/srv/x]\n",
     "boot[0].etc_files", "under /etc"),
    ("    expect: {ntp_max_offset: 0.5}\n", "    expect: {ftp_sha256: nothex}\n",
     "boot[0].expect.ftp_sha256", "pattern"),
])
def test_bad_boot_section_names_file_line_and_key(tmp_path: Path, old: str, new: str, key: str,
                                                   words: str) -> None:
    assert old in SITE
    text = SITE.replace(old, new, 1)
    with pytest.raises(SiteFileError) as info:
        load_site(write_site(tmp_path, text))
    assert info.value.key == key, str(info.value)
    # the line of the key at fault (a flow mapping's keys share its line)
    name = key.split(".")[1]
    line = next(i for i, text_line in enumerate(text.splitlines(), 1)
                if text_line.strip().lstrip("- ").startswith(f"{name}:")
                and i > text.splitlines().index("boot:"))
    assert info.value.line == line, str(info.value)
    assert words in str(info.value)


def test_parameters_from_the_command_line() -> None:
    from dr_console.schema import Host

    boot1 = Host(name="boot1", address="10.0.0.5", key_file=Path("k"), known_hosts=Path("kh"))
    assert boot_infra.parse_target(None, boot1) == ("10.0.0.5", 22)
    assert boot_infra.parse_target("127.0.0.1:2205", boot1) == ("127.0.0.1", 2205)
    assert boot_infra.parse_target("[::1]:2205", boot1) == ("::1", 2205)
    with pytest.raises(DrConsoleError, match="ADDRESS"):
        boot_infra.parse_target("host:port", boot1)
    sha = "SHA256:" + "A" * 43
    assert boot_infra.normalize_fingerprint(sha) == sha
    assert boot_infra.normalize_fingerprint(f"256 {sha} boot-bare@drlab (ED25519)") == sha
    assert boot_infra.normalize_fingerprint("A" * 43) == sha
    with pytest.raises(DrConsoleError, match="--fingerprint"):
        boot_infra.normalize_fingerprint("MD5:aa:bb")
    assert boot_infra.parse_copies(["git-bundle=s3://b/k"]) == {"git-bundle": "s3://b/k"}
    with pytest.raises(DrConsoleError, match="unknown kind"):
        boot_infra.parse_copies(["sql-dump=s3://b/k"])


# -- what the runbook reads in the playbooks --------------------------------------------


def test_the_files_the_roles_write_come_from_the_playbooks() -> None:
    assert ansible.role_files(PLAYBOOKS) == ["/etc/chrony/chrony.conf", "/etc/default/chrony",
                                             "/etc/dnsmasq.d/boot-infra.conf", "/etc/vsftpd.conf"]


def test_expectations_from_the_playbooks_and_the_sites_values() -> None:
    values = ansible.playbook_vars(PLAYBOOKS, "boot_infra", "boot1", LAB_VARS)
    assert values["boot_service_manager"] == "start-stop-daemon"  # the site's over the group's
    exp = bootprobes.expected(values, BootExpect())
    assert exp.server == "198.51.100.10"
    assert exp.dhcp_range == ("198.51.100.100", "198.51.100.200")
    assert (exp.tftp_file, exp.tftp_path) == ("pxelinux.0", "/srv/tftp/pxelinux.0")
    assert exp.ntp_max_stratum == 8  # no upstream: chrony serves its local stratum
    assert (exp.ftp_file, exp.ftp_sha256) == ("media/netinst.iso", MEDIA_SHA)
    assert exp.hints["boot_interface"] == "eth1"
    with_upstream = bootprobes.expected({**values, "ntp_upstream_servers": ["pool"]}, BootExpect())
    assert with_upstream.ntp_max_stratum == 15
    pinned = bootprobes.expected(values, BootExpect(server="192.0.2.9", tftp_file="grubx64.efi"))
    assert (pinned.server, pinned.tftp_path) == ("192.0.2.9", "/srv/tftp/grubx64.efi")
    with pytest.raises(bootprobes.ExpectationError, match="templated"):
        bootprobes.expected({**values, "boot_server": "{{ ansible_host }}"}, BootExpect())


# -- the probes, on canned answers ------------------------------------------------------


@dataclass
class Answer:
    status: int = 0
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 0

    def output(self, limit: int = 2000) -> str:
        return (self.stdout + "\n" + self.stderr).strip()[-limit:]


EXP = bootprobes.expected(ansible.playbook_vars(PLAYBOOKS, "boot_infra", "boot1", LAB_VARS),
                          BootExpect())
WHERE = bootprobes.Where("probe1", "eth0", "boot1")
PXE_SHA = "3570a8df28653d3a" + "0" * 48
LEASE = ("udhcpc: broadcasting discover\nudhcpc: broadcasting select for 198.51.100.142, server "
         "198.51.100.10\nudhcpc: lease of 198.51.100.142 obtained from 198.51.100.10, lease time 43200\n")
NTP = json.dumps({"host": "198.51.100.10", "ip": "198.51.100.10", "stratum": 8, "offset": 0.000012})


def canned(**answers: Answer) -> bootprobes.Run:
    """A probe host whose commands answer by their first word (udhcpc, tftp…)."""

    def run(command: str, timeout: float) -> Answer:
        for word, answer in answers.items():
            if word in command:
                return answer
        return Answer()
    return run


GOOD = {"udhcpc": Answer(0, LEASE), "tftp": Answer(0, f"{PXE_SHA}  /tmp/x/pxelinux.0\n"),
        "ntpdig": Answer(0, NTP + "\n"), "list_only": Answer(0, "netinst.iso\n"),
        "ftp_get": Answer(0, f"{MEDIA_SHA}  /tmp/x/netinst.iso\n")}


def good(**changed: Answer) -> bootprobes.Run:
    answers = {**GOOD, **changed}
    return canned(udhcpc=answers["udhcpc"], tftp=answers["tftp"], ntpdig=answers["ntpdig"],
                  **{"--list-only": answers["list_only"], "ftp://": answers["ftp_get"]})


def test_four_good_answers_pass() -> None:
    lines: list[str] = []
    results = bootprobes.run_all(good(), EXP, WHERE, lambda path: PXE_SHA, lambda r: lines.append(r.line()))
    assert [r.ok for r in results] == [True] * 4
    assert lines[0] == ("✓ DHCP: offer of 198.51.100.142 from 198.51.100.10, inside "
                        "198.51.100.100-198.51.100.200")
    assert lines[2].startswith("✓ NTP: stratum 8")


def test_a_silent_dhcp_names_what_it_sent_what_came_back_and_where_to_look() -> None:
    result = bootprobes.probe_dhcp(canned(udhcpc=Answer(1, "", "udhcpc: no lease, failing")), EXP,
                                   WHERE)
    assert not result.ok
    line = result.line()
    assert "sent DHCPDISCOVER from probe1's eth0" in line
    assert "got no offer (exit 1: udhcpc: no lease, failing)" in line
    assert "boot_interface: eth1" in line and "dnsmasq on boot1" in line


@pytest.mark.parametrize(("lease", "words"), [
    ("lease of 198.51.100.9 obtained from 198.51.100.10", "outside 198.51.100.100-198.51.100.200"),
    ("lease of 198.51.100.150 obtained from 198.51.100.66", "not from 198.51.100.10"),
])
def test_a_wrong_offer_fails(lease: str, words: str) -> None:
    result = bootprobes.probe_dhcp(canned(udhcpc=Answer(0, lease)), EXP, WHERE)
    assert not result.ok and words in result.got


def test_tftp_compares_with_the_target_and_says_when_it_cannot() -> None:
    run = good()
    other = bootprobes.probe_tftp(run, EXP, WHERE, lambda path: "f" * 64)
    assert not other.ok and "the target's /srv/tftp/pxelinux.0 has ffffffffffffffff" in other.got

    def unreachable(path: str) -> str:
        raise DrConsoleError("host key for [127.0.0.1]:2205 is not in the pinned known_hosts")

    blind = bootprobes.probe_tftp(run, EXP, WHERE, unreachable)
    assert not blind.ok and "nothing to compare it with: host key" in blind.got
    refused = bootprobes.probe_tftp(canned(tftp=Answer(69, "", "curl: (69) TFTP: File Not Found")),
                                    EXP, WHERE, lambda path: PXE_SHA)
    assert not refused.ok and "File Not Found" in refused.got and "tftp-root=/srv/tftp" in refused.look_at


@pytest.mark.parametrize(("answer", "words"), [
    (Answer(1, "", "198.51.100.10: no eligible servers"), "no answer"),
    (Answer(0, json.dumps({"stratum": 16, "offset": 0.0})), "stratum 16"),
    (Answer(0, json.dumps({"stratum": 9, "offset": 0.0})), "want 1-8"),
    (Answer(0, json.dumps({"stratum": 3, "offset": 2.5})), "offset of +2.500 s"),
])
def test_ntp_wants_a_sane_stratum_and_offset(answer: Answer, words: str) -> None:
    result = bootprobes.probe_ntp(canned(ntpdig=answer), EXP, WHERE)
    assert not result.ok and words in result.got


def test_ftp_wants_the_media_with_its_sha256() -> None:
    missing = bootprobes.probe_ftp(good(list_only=Answer(0, "other.iso\n")), EXP, WHERE)
    assert not missing.ok and "without netinst.iso" in missing.got
    wrong = bootprobes.probe_ftp(good(ftp_get=Answer(0, "e" * 64 + "  x\n")), EXP, WHERE)
    assert not wrong.ok and "the variables say f4b405ea4a928f9a" in wrong.got


def test_a_probe_host_without_its_tools_says_which() -> None:
    run = canned(**{"command -v": Answer(0, "ntpdig\n")}, udhcpc=Answer(0, LEASE))
    results = bootprobes.run_all(run, EXP, WHERE, lambda path: PXE_SHA, lambda r: None)
    ntp = next(r for r in results if r.service == "NTP")
    assert not ntp.ok and "install ntpdig" in ntp.look_at


# -- ansible-runner's events as the runbook's log --------------------------------------------


def event(kind: str, task: str, res: dict[str, Any] | None = None, **data: Any) -> dict[str, Any]:
    return {"event": kind, "event_data": {"host": "boot1", "task": task, "res": res or {}, **data}}


def test_runner_events_become_task_results() -> None:
    ok = ansible.task_result(event("runner_on_ok", "Install chrony", {"changed": False}))
    changed = ansible.task_result(event("runner_on_ok", "Create the TFTP root", {"changed": True}))
    failed = ansible.task_result(event(
        "runner_on_failed", "Configure dnsmasq for DHCP and TFTP only",
        {"msg": "failed to validate", "stderr": "\ndnsmasq: bad dhcp-range at line 5 of /tmp/x\n",
         "exit_status": 1}))
    assert ok is not None and ok.line(check=False) == ("info", "ok: [boot1] Install chrony")
    assert changed is not None and changed.line(check=True) == (
        "info", "would change: [boot1] Create the TFTP root")
    assert failed is not None and failed.status == "failed"
    assert failed.message == "failed to validate dnsmasq: bad dhcp-range at line 5 of /tmp/x"
    assert failed.line(check=False)[1].startswith("FAILED: [boot1] Configure dnsmasq")
    assert ansible.task_result(event("runner_on_ok", "Run dnsmasq", {},
                                     task_action="ansible.builtin.include_role")) is None
    assert ansible.task_result(event("runner_on_failed", "probe", {"msg": "x"},
                                     ignore_errors=True)).status == "ok"  # type: ignore[union-attr]
    assert ansible.task_result({"event": "playbook_on_stats", "event_data": {}}) is None
    unreachable = ansible.task_result(event("runner_on_unreachable", "Install dnsmasq",
                                            {"msg": "Host key verification failed."}))
    assert unreachable is not None and unreachable.message == "Host key verification failed."


# -- the plan --------------------------------------------------------------------------------


class ListSink:
    def __init__(self) -> None:
        self.events: list[ev.Event] = []

    def emit(self, event: ev.Event) -> None:
        self.events.append(event)

    def confirm(self, step: ev.StepInfo, expected_text: str) -> bool:
        raise AssertionError("nothing may be confirmed here")


def test_the_plan_shows_every_step_and_its_command(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    site = load_site(write_site(tmp_path))
    runbook = boot_infra.build(site, {"host": "boot1", "target": "127.0.0.1:2205"})
    sink = ListSink()
    Engine(runbook, sink, dry_run=True).run()
    plan = next(e for e in sink.events if isinstance(e, ev.Plan))
    ids = [s.id for s in plan.steps]
    assert ids == ["choose-copies", "clone-playbooks", "pin-target", "apt-sources", "install-packages",
                   "restore-etc", "playbook-check", "playbook-apply", "prove-services", "report"]
    text = "\n".join(s.command for s in plan.steps)
    for words in ("git clone playbooks.bundle", "ssh-keyscan -p 2205 127.0.0.1", "dpkg --merge-avail",
                  "dpkg --set-selections < selections.txt", "dselect-upgrade",
                  "ansible-playbook -i inventory", "boot-infra.yml --check", "busybox udhcpc -i eth0",
                  "ntpdig -j", f"UserKnownHostsFile={tmp_path / 'rebuilt_hosts'}"):
        assert words in text, words
    assert [s.id for s in plan.steps if s.destructive] == ["apt-sources"]
    assert [s.id for s in plan.steps if s.skippable] == ["playbook-check"]
    assert runbook.target == "boot-infra:boot1"
    check = boot_infra.build(site, {"host": "boot1", "check_only": True})
    assert [s.id for s in check.steps] == ["choose-copies", "clone-playbooks", "prove-services", "report"]
    assert check.target == "boot-infra:boot1:probes"


def test_a_site_without_a_probe_host_says_how_to_name_one(tmp_path: Path) -> None:
    site = load_site(write_site(tmp_path, SITE.replace("    roles: [probe]\n", "")))
    with pytest.raises(DrConsoleError, match="roles: \\[probe\\]"):
        boot_infra.build(site, {"host": "boot1"})


# -- a host key is never pinned on --yes alone ------------------------------------------------


@pytest.fixture
def offered(monkeypatch: pytest.MonkeyPatch) -> paramiko.PKey:
    key = paramiko.Ed25519Key.from_private_key_file(str(_new_key()))
    monkeypatch.setattr("dr_console.ssh.offered_key", lambda address, port, timeout=10.0: key)
    return key


def _new_key() -> Path:
    import subprocess
    import tempfile

    folder = Path(tempfile.mkdtemp())
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / "k")], check=True)
    return folder / "k"


def _pin_only(site_path: Path, **params: Any) -> Runbook:
    runbook = boot_infra.build(load_site(site_path), {"host": "boot1", "target": "127.0.0.1:2205",
                                                      **params})
    runbook.steps = [s for s in runbook.steps if s.id == "pin-target"]
    for step in runbook.steps:
        step.verify = lambda ctx: None  # nothing to log in to here
    return runbook


@pytest.mark.parametrize(("params", "yes", "outcome", "words"), [
    ({}, True, Outcome.REFUSED, "--yes does not trust a host key"),
    ({"fingerprint": "SHA256:" + "B" * 43}, True, Outcome.REFUSED, "--fingerprint says SHA256:BBB"),
    ({"fingerprint": "<the offered one>"}, True, Outcome.SUCCEEDED, ""),
])
def test_a_new_host_key_is_pinned_only_when_vouched_for(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offered: paramiko.PKey,
        params: dict[str, Any], yes: bool, outcome: Outcome, words: str) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    from dr_console import ssh

    sha = ssh.fingerprint(offered).split()[1]
    if params.get("fingerprint") == "<the offered one>":
        params = {"fingerprint": sha}
    site_path = write_site(tmp_path)
    result = Engine(_pin_only(site_path, **params), ListSink(), assume_yes=yes).run()
    assert result.outcome is outcome, result.message
    assert words in result.message
    pinned = tmp_path / "rebuilt_hosts"
    if outcome is Outcome.SUCCEEDED:
        assert pinned.read_text() == f"[127.0.0.1]:2205 ssh-ed25519 {offered.get_base64()}\n"
    else:
        assert not pinned.exists()


# -- the drill: a scratch host only, its key from the site, reset afterwards ------------------

DRILLS = """\
drills:
  boot_hosts:
    boot1:
      target: {target}
      fingerprint_command: "{fingerprint}"
      reset_command: "{reset}"
"""


def _drill_site(tmp_path: Path, target: str = "127.0.0.1:2205", fingerprint: str = "echo none",
                reset: str = "true") -> Path:
    return write_site(tmp_path, SITE + DRILLS.format(target=target, fingerprint=fingerprint, reset=reset))


def test_a_drill_rebuilds_on_the_scratch_host_and_ends_by_resetting_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    runbook = boot_infra.build(load_site(_drill_site(tmp_path)), {"host": "boot1", "drill": True})
    assert runbook.kind == "drill" and runbook.target == "drill:boot-infra:boot1"
    assert runbook.params["target"] == "127.0.0.1:2205"
    ids = [s.id for s in runbook.steps]
    assert ids[-2:] == ["record-drill", "report"] and "prove-services" in ids
    assert [s.id for s in runbook.finally_steps] == ["record-failure", "reset-scratch"]
    # The key goes to the drills' own known_hosts, never to the live one's.
    pin = next(s for s in runbook.steps if s.id == "pin-target")
    assert str(tmp_path / "state" / "dr-console" / "drills" / "boot1.known_hosts") in pin.command({})
    assert "rebuilt_hosts" not in pin.command({})


@pytest.mark.parametrize(("site_text", "params", "words"), [
    (SITE, {}, "drills.boot_hosts.boot1"),  # no scratch host declared
    (None, {"target": "127.0.0.1:9999"}, "only on its scratch host"),
    (None, {"check_only": True}, "--check-only"),
])
def test_a_drill_without_its_scratch_host_is_refused(tmp_path: Path, site_text: str | None,
                                                     params: dict[str, Any], words: str) -> None:
    path = write_site(tmp_path, site_text) if site_text else _drill_site(tmp_path)
    with pytest.raises(DrConsoleError, match=words.replace(".", r"\.").replace("-", r"\-")):
        boot_infra.build(load_site(path), {"host": "boot1", "drill": True, **params})


def test_a_drill_never_names_a_live_host(tmp_path: Path) -> None:
    # boot1 itself is at 10.0.0.5:22: a scratch target there is the live host.
    with pytest.raises(DrConsoleError, match="is boot1's address: a drill never rebuilds a live host"):
        boot_infra.build(load_site(_drill_site(tmp_path, target="10.0.0.5:22")),
                         {"host": "boot1", "drill": True})


def test_a_scratch_host_for_an_unknown_host_names_file_line_and_key(tmp_path: Path) -> None:
    text = SITE + DRILLS.format(target="127.0.0.1:2205", fingerprint="x", reset="y").replace(
        "    boot1:", "    boot9:")
    with pytest.raises(SiteFileError) as caught:
        load_site(write_site(tmp_path, text))
    message = str(caught.value)
    assert "drills.boot_hosts.boot9" in message and "no host named 'boot9'" in message
    assert f":{text.splitlines().index('    boot9:') + 1}:" in message


@pytest.mark.parametrize(("printed", "outcome", "words"), [
    ("<the offered one>", Outcome.SUCCEEDED, ""),
    ("SHA256:" + "B" * 43, Outcome.REFUSED, "--fingerprint says SHA256:BBB"),
    ("nothing useful", Outcome.REFUSED, "printed no SHA256"),
])
def test_a_drill_pins_the_key_its_scratch_host_reports(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offered: paramiko.PKey,
        printed: str, outcome: Outcome, words: str) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    from dr_console import ssh

    if printed == "<the offered one>":
        printed = ssh.fingerprint(offered).split()[1]
    runbook = boot_infra.build(load_site(_drill_site(tmp_path, fingerprint=f"echo 256 {printed} x")),
                               {"host": "boot1", "drill": True})
    runbook.steps = [s for s in runbook.steps if s.id == "pin-target"]
    runbook.finally_steps = []
    for step in runbook.steps:
        step.verify = lambda ctx: None
    result = Engine(runbook, ListSink(), assume_yes=True).run()  # as `drill` runs it
    assert result.outcome is outcome, result.message
    assert words in result.message
    pinned = ssh.pinned_key(boot_infra.drill_known_hosts("boot1"), "127.0.0.1", 2205)
    assert (pinned is not None) == (outcome is Outcome.SUCCEEDED)
    assert not (tmp_path / "rebuilt_hosts").exists()  # the live hosts' file untouched


def test_a_reset_that_fails_says_what_is_left(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    runbook = boot_infra.build(load_site(_drill_site(tmp_path, reset="echo no console; exit 3")),
                               {"host": "boot1", "drill": True})
    runbook.steps = []
    runbook.finally_steps = [s for s in runbook.finally_steps if s.id == "reset-scratch"]
    result = Engine(runbook, ListSink(), assume_yes=True).run()
    left = result.state["cleanup"]
    assert left["ok"] is False
    assert "[127.0.0.1]:2205 may still run what the drill installed" in left["left"][0]
    assert "exit 3: no console" in left["left"][0]
