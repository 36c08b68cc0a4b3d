"""Runbook 1: rebuild a boot host — the germ cell every other restore
stands on (DHCP/TFTP, NTP, FTP) — on a bare host, from its offsite copies,
and prove it with real answers from a machine on the boot network.

The last good git bundle of the playbooks, `/etc` archive and package list
are chosen the one way every runbook chooses (`copies.choose`) and fetched
with their sha256 checked on the way. A rebuilt host has a new host key:
it is shown, and pinned only once typed (or given with `--fingerprint`),
never on `--yes` alone. The packages come back the safe way (the archive's
apt sources first, `dpkg --merge-avail`, `--set-selections`,
`dselect-upgrade`, packages without a candidate named), then the /etc
files the roles write (diff first, the target's own kept), then the
playbooks through ansible-runner: check mode, then apply. Green only when
DHCP, TFTP, NTP and FTP answer a probe host on the boot network.

Every step checks the target first, so a resumed run goes on where the
world is, not where the journal says."""

from __future__ import annotations

import difflib
import hashlib
import io
import os
import re
import shlex
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dr_console import drillrecord, humanize, ssh
from dr_console.errors import DrConsoleError, HostKeyError
from dr_console.runbooks import bootprobes, copies
from dr_console.runbooks import playbook as ansible
from dr_console.runbooks.drillverdict import COPY, failed_checks, record_failure_step
from dr_console.runbooks.engine import DRILL, Context, Refused, Runbook, Step, StepFailed

if TYPE_CHECKING:
    import paramiko

    from dr_console.schema import BootHost, Host, ScratchBootHost, Site

NAME = "boot-infra"
BUNDLE, ETC, PACKAGES = "git-bundle", "etc-archive", "package-list"
KINDS = (BUNDLE, ETC, PACKAGES)
FILES = {BUNDLE: "playbooks.bundle", ETC: "etc.tar.gz", PACKAGES: "selections.txt"}
CLONE = "playbooks"
# Where the target's own files go before the archive's replace them: not
# beside them, since conf.d folders (dnsmasq's -7, apt's sources.list.d)
# read every file in them.
KEEP_DIR = "/var/backups/dr-console"
# apt's sources are replaced; keys, pinning and auth are added to the target's.
APT_SOURCES = ("etc/apt/sources.list", "etc/apt/sources.list.d/")
APT_TRUST = ("etc/apt/keyrings/", "etc/apt/trusted.gpg", "etc/apt/trusted.gpg.d/", "etc/apt/preferences",
             "etc/apt/preferences.d/", "etc/apt/auth.conf.d/")
APT_ENV = "DEBIAN_FRONTEND=noninteractive"
# A conffile the package ships differently is kept as the host has it (the
# roles' own files come back after the packages anyway).
DPKG_OPTIONS = "-o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-confdef"
# Never restored by --whole-etc: they describe the new machine, not the old one.
WHOLE_ETC_EXCLUDES = ("etc/ssh/ssh_host_*", "etc/machine-id", "etc/fstab", "etc/crypttab")
# Files whose content a log must never show.
SECRETISH = re.compile(r"shadow|secret|passw|private|token|credential|auth\.conf|key|\.pem$", re.I)
DIFF_LINES = 40
APT_TIMEOUT = 3600.0
PLAYBOOK_TIMEOUT = 3600.0


def work_dir(run_id: str) -> Path:
    """The run's own files (the copies, the clone, ansible's private dir):
    0700, since the /etc archive holds the old host's secrets; removed once
    the run has succeeded."""
    from dr_console.locations import state_dir

    path = state_dir() / "work" / run_id
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def drill_known_hosts(host: str) -> Path:
    """Where a drill pins its scratch host's key: a file of the drills' own,
    so a drill never adds a line to a known_hosts the live hosts use."""
    from dr_console.locations import state_dir

    return state_dir() / "drills" / f"{host}.known_hosts"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def parse_target(text: str | None, host: Host) -> tuple[str, int]:
    """'ADDRESS[:PORT]' (or '[v6]:PORT'); the host's own address without one."""
    if not text:
        return host.address, host.port
    text = text.strip()
    if text.startswith("["):
        address, _, rest = text[1:].partition("]")
        port = rest.lstrip(":") or "22"
    elif text.count(":") == 1:
        address, port = text.split(":")
    else:
        address, port = text, "22"
    if not address or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise DrConsoleError(f"--target: expected ADDRESS[:PORT], got {text!r}")
    return address, int(port)


def normalize_fingerprint(text: str) -> str:
    """'SHA256:…' from what an operator pastes: the bare value, the
    `ssh-keygen -lf` line, or 'ssh-ed25519 SHA256:…'."""
    for word in text.replace(",", " ").split():
        if word.startswith("SHA256:") and len(word) > len("SHA256:"):
            return word.rstrip("=")
    word = text.strip()
    if re.fullmatch(r"[A-Za-z0-9+/]{43}=?", word):
        return "SHA256:" + word.rstrip("=")
    raise DrConsoleError(f"--fingerprint: expected SHA256:… as `ssh-keygen -lf` prints it, got {text!r}")


def parse_copies(value: Any) -> dict[str, str]:
    """--copy KIND=LOCATION (repeatable), as a dict."""
    if isinstance(value, dict):
        items = list(value.items())
    else:
        items = []
        for entry in value or []:
            kind, sep, location = str(entry).partition("=")
            if not sep or not location:
                raise DrConsoleError(f"--copy: expected KIND=LOCATION, got {entry!r}")
            items.append((kind.strip(), location.strip()))
    unknown = [kind for kind, _ in items if kind not in KINDS]
    if unknown:
        raise DrConsoleError(f"--copy: unknown kind {', '.join(unknown)} (kinds: {', '.join(KINDS)})")
    return dict(items)


def _confirmed_in_advance(ctx: Context) -> bool:
    """Did the operator run with --yes? The engine gives steps no public way
    to ask (Context has no assume_yes); a host key must never be trusted on
    --yes alone, so the step asks the engine itself."""
    engine = getattr(ctx, "_engine", None)
    return bool(getattr(engine, "assume_yes", False))


def _selections(text: str) -> list[tuple[str, str]]:
    """(package, state) from `dpkg --get-selections` output."""
    out = []
    for line in text.splitlines():
        words = line.split()
        if len(words) == 2:
            out.append((words[0], words[1]))
    return out


def _base(package: str) -> str:
    return package.split(":", 1)[0]


def _apt_counts(text: str) -> dict[str, int]:
    """'1 upgraded, 6 newly installed, 0 to remove and 2 not upgraded.'"""
    found = re.search(r"(\d+) upgraded, (\d+) newly installed, (\d+) to remove", text)
    if not found:
        return {}
    return dict(zip(("upgraded", "installed", "removed"), map(int, found.groups()), strict=True))


def _source_uris(text: str) -> list[str]:
    uris = re.findall(r"^\s*URIs:\s*(.+)$", text, re.MULTILINE)
    uris += [m.split()[0] for m in re.findall(r"^\s*deb(?:-src)?\s+(?:\[[^\]]*\]\s+)?(\S+.*)$", text,
                                               re.MULTILINE)]
    return [u.strip() for u in uris]


# --------------------------------------------------------------------------


def build(site: Site | None, params: dict[str, Any]) -> Runbook:
    from dr_console.config import load_site

    if site is None:
        site = load_site(params.get("site_file") or None)
    host = next((h for h in site.hosts if h.name == params["host"]), None)
    if host is None:
        boot = [h.name for h in site.hosts if h.tags.get("dr:class") == "boot-infra"
                or set(h.roles) & {"dhcp", "tftp", "ntp", "ftp"}]
        raise DrConsoleError(f"no host {params['host']!r} in {site.path} "
                             f"(boot hosts: {', '.join(boot) or 'none'})")
    drill = bool(params.get("drill"))
    scratch = _scratch_host(site, host, params) if drill else None
    if scratch is not None:
        params = {**params, "target": scratch.target}
    address, port = parse_target(params.get("target"), host)
    if scratch is not None:
        _refuse_live_target(site, address, port)
    fingerprint = params.get("fingerprint")
    params = {"host": host.name, "target": f"{address}:{port}" if params.get("target") else None,
              "copies": parse_copies(params.get("copies")),
              "fingerprint": normalize_fingerprint(fingerprint) if fingerprint else None,
              "check_only": bool(params.get("check_only")), "whole_etc": bool(params.get("whole_etc")),
              "clear_selections": bool(params.get("clear_selections")), "drill": drill,
              "site_file": str(Path(site.path).resolve())}
    rb = _BootRebuild(site, host, address, port, params, scratch)
    where = f" on {address}:{port}" if params["target"] else ""
    if scratch is not None:
        return Runbook(name=NAME, title=f"Drill: rebuild boot host {host.name} on the scratch host "
                                        f"{address}:{port}",
                       target=f"drill:boot-infra:{host.name}", params=params, steps=rb.drill_steps(),
                       site_file=params["site_file"], kind=DRILL,
                       finally_steps=[record_failure_step(rb.write_record, rb.copy_location),
                                      rb.reset_scratch_step()])
    if params["check_only"]:
        title, target = f"Probe the boot services of {host.name}{where}", f"boot-infra:{host.name}:probes"
    else:
        title, target = f"Rebuild boot host {host.name}{where}", f"boot-infra:{host.name}"
    return Runbook(name=NAME, title=title, target=target, params=params, steps=rb.steps(),
                   site_file=params["site_file"])


def _scratch_host(site: Site, host: Host, params: dict[str, Any]) -> ScratchBootHost:
    """The site's scratch host for this boot host's drill; a drill names no
    target of its own."""
    if params.get("check_only"):
        raise DrConsoleError("a drill rebuilds on a scratch host; --check-only probes a live one "
                             "(use `run boot-infra --check-only`)")
    scratch = site.drills.boot_hosts.get(host.name)
    if scratch is None:
        raise DrConsoleError(
            f"a drill of {host.name} needs a scratch boot host: drills.boot_hosts.{host.name} "
            f"(target, fingerprint_command, reset_command) in {site.path}")
    given = params.get("target")
    if given and given != scratch.target:
        raise DrConsoleError(f"a drill rebuilds {host.name} only on its scratch host "
                             f"{scratch.target} (drills.boot_hosts), not on {given}")
    return scratch


def _refuse_live_target(site: Site, address: str, port: int) -> None:
    """A scratch target that is a declared host's address is a live host."""
    for live in site.hosts:
        if (live.address, live.port) == (address, port):
            raise DrConsoleError(f"the scratch host {address}:{port} is {live.name}'s address: a drill "
                                 "never rebuilds a live host. Fix drills.boot_hosts in the site file")


def _failed_copy_kinds(state: dict[str, Any]) -> list[str]:
    """The kinds of copy (git-bundle, …) whose content check failed."""
    return [c["copy_kind"] for c in state.get("evidence", {}).values()
            if c.get("about") == COPY and c.get("passed") is False and c.get("copy_kind")]


def _playbooks_repo(site: Site, boot: BootHost) -> str:
    if boot.playbooks:
        return boot.playbooks
    repos = [d.name for d in site.declared if d.kind == "repo"]
    if len(repos) == 1:
        return repos[0]
    raise DrConsoleError(f"which declared repo holds {boot.host}'s playbooks? Name it in the site "
                         f"file: boot: [{{host: {boot.host}, playbooks: REPO}}] "
                         f"(declared repos: {', '.join(repos) or 'none'})")


def _probe_host(site: Site, boot: BootHost) -> Host:
    if boot.probe:
        return next(h for h in site.hosts if h.name == boot.probe)
    probes = [h for h in site.hosts if "probe" in h.roles]
    if len(probes) == 1:
        return probes[0]
    raise DrConsoleError(
        f"the services of {boot.host} are proven from a host on the boot network: declare one with "
        f"roles: [probe] (found {len(probes)}: {', '.join(h.name for h in probes) or 'none'}), or "
        f"name it in the site file: boot: [{{host: {boot.host}, probe: NAME}}]")


class _BootRebuild:
    def __init__(self, site: Site, host: Host, address: str, port: int, params: dict[str, Any],
                 scratch: ScratchBootHost | None = None) -> None:
        self.site = site
        self.host = host
        self.scratch = scratch  # a drill's scratch host: nothing live is touched
        self.boot = site.boot_host(host.name)
        self.address = address
        self.port = port
        self.params = params
        self.check_only = bool(params["check_only"])
        self.repo = _playbooks_repo(site, self.boot)
        self.probe = _probe_host(site, self.boot)
        # Absolute: ansible runs from the clone, not from where dr-console started.
        self.known_hosts = (drill_known_hosts(host.name) if scratch is not None
                            else Path(self.boot.known_hosts or host.known_hosts)).absolute()
        self.key_file = Path(host.key_file).absolute()
        self.where = ssh.known_hosts_name(address, port)
        self.target_name = f"{host.name} at {self.where}" if params["target"] else host.name
        self.refs = {BUNDLE: copies.AssetRef(self.repo, "repo", self.repo),
                     ETC: copies.AssetRef(host.name, "host", host.name),
                     PACKAGES: copies.AssetRef(host.name, "host", host.name)}
        # What an inventory-only look says, for the plan (the cache: touches nothing).
        self.hints = {kind: params["copies"].get(kind) or copies.cached_choice(site, ref, {kind})
                      for kind, ref in self.refs.items()}

    # -- where things are --------------------------------------------------------------

    @property
    def fetched(self) -> tuple[str, ...]:
        """The copies the run reads: a check reads only the playbooks' variables."""
        return (BUNDLE,) if self.check_only else KINDS

    def _work(self, ctx: Context) -> Path:
        return work_dir(ctx.run_id)

    def _file(self, ctx: Context, kind: str) -> Path:
        return self._work(ctx) / FILES[kind]

    def _clone(self, ctx: Context) -> Path:
        return self._work(ctx) / CLONE

    def _target(self) -> ssh.Target:
        return ssh.Target(self.host.name, self.address, self.port, self.host.user, self.key_file,
                          self.known_hosts, float(self.host.timeout))

    def _keep(self, ctx: Context) -> str:
        return f"{KEEP_DIR}/{ctx.run_id}"

    def _location(self, state: dict[str, Any], kind: str) -> str:
        chosen = (state.get("copies") or {}).get(kind, {}).get("location") or self.hints.get(kind)
        return chosen or f"<last good {kind} of {self.refs[kind].name}>"

    # -- equivalent commands -------------------------------------------------------------

    def _ssh_target(self) -> str:
        return f"ssh -o UserKnownHostsFile={self.known_hosts} -p {self.port} {self.host.user}@{self.address}"

    def _ssh_probe(self) -> str:
        return f"ssh -p {self.probe.port} {self.probe.user}@{self.probe.address}"

    def _aws_cp(self, location: str, dest: str) -> str:
        endpoint = ""
        for store in self.site.stores:
            if location.startswith(f"s3://{store.bucket}/") and store.endpoint_url:
                endpoint = f" --endpoint-url {store.endpoint_url}"
        return f"aws s3 cp{endpoint} {location} {dest}"

    def _cmd_choose(self, state: dict[str, Any]) -> str:
        fetch = [self._aws_cp(self._location(state, kind), FILES[kind]) for kind in self.fetched]
        return (" && ".join(fetch) + "  # then sha256sum each and compare with its .manifest.json"
                + ("; the others are only chosen: dr-console inventory --class boot-infra"
                   if self.check_only else ""))

    def _cmd_clone(self, state: dict[str, Any]) -> str:
        return f"git clone {FILES[BUNDLE]} {CLONE} && git -C {CLONE} log -1 --format='%H %cI %s'"

    def _cmd_pin(self, state: dict[str, Any]) -> str:
        scan = f"ssh-keyscan -p {self.port} {self.address} 2>/dev/null"
        return (f"{scan} | ssh-keygen -lf -  # compare with the host's console, then: "
                f"ssh-keygen -R '{self.where}' -f {self.known_hosts}; {scan} >> {self.known_hosts}")

    def _cmd_apt(self, state: dict[str, Any]) -> str:
        keep = state.get("keep") or f"{KEEP_DIR}/<run>"
        target = self._ssh_target()
        return (f"tar -xzf {FILES[ETC]} etc/apt && {target} 'mkdir -p {keep} && cd / && "
                f"cp -an --parents etc/apt/sources.list* {keep}/; rm -f /etc/apt/sources.list "
                f"/etc/apt/sources.list.d/*' && tar -cf - etc/apt | {target} 'tar -C / -xpf - && "
                "apt-get update'")

    def _cmd_packages(self, state: dict[str, Any]) -> str:
        target = self._ssh_target()
        clear = f" && {target} dpkg --clear-selections" if self.params["clear_selections"] else ""
        return (f"{target} 'apt-get update && apt-cache dumpavail > /tmp/avail && "
                f"dpkg --merge-avail /tmp/avail'{clear} && {target} dpkg --set-selections < "
                f"{FILES[PACKAGES]} && {target} '{APT_ENV} apt-get -y {DPKG_OPTIONS} dselect-upgrade'")

    def _etc_files(self, state: dict[str, Any]) -> list[str]:
        roles = state.get("role_files") or []
        return sorted({*roles, *self.boot.etc_files})

    def _cmd_etc(self, state: dict[str, Any]) -> str:
        keep = state.get("keep") or f"{KEEP_DIR}/<run>"
        target = self._ssh_target()
        if self.params["whole_etc"]:
            excluded = " ".join(f"--exclude='{p}'" for p in WHOLE_ETC_EXCLUDES)
            return (f"{target} 'mkdir -p {keep} && tar -C / -czf {keep}/etc-before.tar.gz etc' && "
                    f"{target} 'tar -C / -xzpf - {excluded}' < {FILES[ETC]}")
        files = " ".join(f.lstrip("/") for f in self._etc_files(state)) or "<the /etc files the roles write>"
        return (f"tar -xzf {FILES[ETC]} {files} && diff -u <({target} cat /FILE) FILE; "
                f"{target} 'mkdir -p {keep} && cd / && cp -an --parents {files} {keep}/' && "
                f"tar -cf - {files} | {target} tar -C / -xpf -")

    def _cmd_playbook(self, check: bool) -> Callable[[dict[str, Any]], str]:
        def command(state: dict[str, Any]) -> str:
            common = ansible.ssh_common_args(self.known_hosts)
            vars_file = self.boot.vars_file or "<the site's vars>"
            restart = "".join(f" -e {k}={v}" for k, v in self.boot.restart_vars.items()) \
                if not check and state.get("apply_unfinished") else ""
            return (f"cd {CLONE} && ansible-playbook -i inventory{restart} -e ansible_host={self.address} "
                    f"-e ansible_port={self.port} -u {self.host.user} --private-key {self.key_file} "
                    f"--ssh-common-args '{common}' {self.boot.playbook}{' --check' if check else ''}"
                    f"  # inventory: {self.boot.group} → {self.host.name}, host vars from {vars_file}")
        return command

    def _shown_expectations(self, state: dict[str, Any]) -> bootprobes.Expected:
        saved = state.get("expect")
        if saved:
            return bootprobes.Expected(**{**saved, "dhcp_range": tuple(saved["dhcp_range"])
                                          if saved.get("dhcp_range") else None})
        # Before the clone, the playbooks' variables are unknown: their names
        # stand in (shell-safe, so the command stays readable).
        e = self.boot.expect
        tftp_file = e.tftp_file or "PXE_BOOT_FILE"
        return bootprobes.Expected(e.server or "BOOT_SERVER", None, tftp_file,
                                   e.tftp_path or f"TFTP_ROOT/{tftp_file}", 15, e.ntp_max_offset,
                                   e.ftp_file or "media/FTP_MEDIA_NAME", e.ftp_sha256)

    def _cmd_probes(self, state: dict[str, Any]) -> str:
        exp = self._shown_expectations(state)
        probe = self._ssh_probe()
        lines = [f"{probe} {shlex.quote(c)}"
                 for c in bootprobes.hand_commands(exp, self.boot.probe_interface)]
        lines.insert(2, f"{self._ssh_target()} sha256sum {exp.tftp_path}")
        return " ; ".join(lines)

    # -- steps --------------------------------------------------------------------------

    def steps(self) -> list[Step]:
        host, repo = self.host.name, self.repo
        choose = Step(
            "choose-copies", "Choose the copies and fetch them", self.check_copies, self.choose,
            guidance=f"The last **good** git bundle of `{repo}`, `/etc` archive and package list of "
                     f"`{host}` (or the ones given with `--copy KIND=LOCATION`), chosen from a fresh "
                     "inventory, and fetched with their sha256 and size checked against the "
                     "manifest as they stream: a corrupt copy is refused, with the reason."
                     + (" A check fetches only the playbooks (for the probes' expectations)."
                        if self.check_only else ""),
            command=self._cmd_choose, cleanup=self.drop_partial)
        clone = Step(
            "clone-playbooks", "Clone the playbooks and show their commit", self.check_clone,
            self.clone,
            guidance="`git clone` of the bundle, here (nothing on the target yet): its commit, date "
                     "and subject, the /etc files the roles write, and what the probes will expect "
                     "(the playbooks' variables with the site's own over them).",
            command=self._cmd_clone)
        probes = Step(
            "prove-services", f"Prove DHCP, TFTP, NTP and FTP from {self.probe.name}",
            lambda ctx: False, self.prove,
            guidance=f"From `{self.probe.name}`, on the boot network: a DHCP DISCOVER must get an "
                     "offer inside the configured range, a TFTP download of the boot loader must "
                     "have the sha256 of the one on the target, NTP must answer at a sane stratum "
                     "and offset, FTP must list and serve the install media with its sha256. The "
                     "run is green only when all four answer; each failing probe names what it sent, "
                     "what came back and what to look at.",
            command=self._cmd_probes)
        report = Step(
            "report", "Report what came back", lambda ctx: False, self.report,
            guidance="The copies and commit used, the host key pinned, packages that had no "
                     "candidate, where the target's own files were kept; then the run's working "
                     "copy of the /etc archive is removed.",
            command="dr-console runs --json  # every step's duration")
        if self.check_only:
            return [choose, clone, probes, report]
        return [
            choose, clone,
            Step("pin-target", "Reach the target; pin its new host key", self.check_pinned, self.pin,
                 self.verify_reached,
                 guidance=f"A rebuilt host has a new host key. Its fingerprint is shown and must be "
                          "typed (compare it with the host's own console), or given with "
                          "`--fingerprint SHA256:…`; `--yes` alone never trusts a key. It is pinned "
                          f"in `{self.known_hosts}`, the only file SSH and ansible trust for it.",
                 command=self._cmd_pin),
            Step("apt-sources", f"Replace the target's apt sources with {host}'s", self.check_apt,
                 self.restore_apt,
                 guidance=f"From the `/etc` archive: `{host}`'s sources replace the target's (kept "
                          f"under `{KEEP_DIR}/<run>`), its keys, pinning and apt auth are added; then "
                          "`apt-get update` must succeed with them. The first step that changes "
                          "the target: type its name.",
                 command=self._cmd_apt, destructive=True, target=host),
            Step("install-packages", f"Replay {host}'s package list", self.check_packages,
                 self.install_packages,
                 guidance="`apt-cache dumpavail | dpkg --merge-avail` (else dpkg ignores what it has "
                          "never seen), `dpkg --set-selections`, `apt-get dselect-upgrade` with "
                          "`--force-confold`. Packages with no installation candidate are named and "
                          "left out, not failed on blind; removals are shown and need the typed "
                          "name; `--clear-selections` only when asked, typed.",
                 command=self._cmd_packages),
            Step("restore-etc", "Restore the /etc files the roles write"
                 + (" (the whole /etc)" if self.params["whole_etc"] else ""),
                 self.check_etc, self.restore_etc,
                 guidance="Only the files the roles write (and `etc_files` of the site's `boot:` "
                          "entry), each with its diff in the log first, the target's own kept "
                          f"under `{KEEP_DIR}/<run>`. `--whole-etc` restores the whole archive "
                          "instead (typed; host keys, machine-id, fstab and crypttab excluded).",
                 command=self._cmd_etc),
            Step("playbook-check", "Run the playbooks in check mode", lambda ctx: False,
                 self.playbook_check,
                 guidance="`ansible-playbook --check` through ansible-runner: what an apply would "
                          "change, task by task, changing nothing. Skippable: nothing relies on it.",
                 command=self._cmd_playbook(True), skippable=True),
            Step("playbook-apply", "Apply the playbooks", lambda ctx: False, self.playbook_apply,
                 guidance="The same run for real; each task's result streams into the log. A task "
                          "that fails is named with its host and message: fix it, then resume (the "
                          "steps before are checked and skipped). Running it again changes nothing.",
                 command=self._cmd_playbook(False)),
            probes, report,
        ]

    # 1. choose and fetch ---------------------------------------------------------------

    def check_copies(self, ctx: Context) -> bool | str:
        chosen = ctx.state.get("copies") or {}
        if any(kind not in chosen for kind in KINDS):
            return False
        for kind in self.fetched:
            path = self._file(ctx, kind)
            if not path.is_file() or sha256_file(path) != chosen[kind]["sha256"]:
                return False
        return f"chosen and fetched already: the sha256 of {len(self.fetched)} file(s) checked again"

    def choose(self, ctx: Context) -> None:
        chosen: dict[str, Any] = {}
        rpo = self.site.rpo.boot_infra
        for kind in KINDS:
            forced = self.params["copies"].get(kind)
            if forced:
                location, created = self._forced(forced, kind), None
                ctx.log(f"{kind}: the copy named with --copy: {location}")
            else:
                best = copies.choose(self.site, self.refs[kind], {kind}, ctx.log)
                location, created = best.location, best.created_at
                age = (datetime.now(UTC) - created).total_seconds()
                if age > rpo:
                    ctx.log(f"{kind}: {humanize.age(age)} old, OUTSIDE the boot-infra RPO of "
                            f"{humanize.age(rpo)}: the newest good one there is", "warning")
            store, key = self.site.store_for(location)
            chosen[kind] = {"location": location, "store": store.name, "key": key,
                            "created_at": created.isoformat() if created else None}
        for kind in self.fetched:
            chosen[kind].update(self._fetch(ctx, kind, chosen[kind]))
        for kind in KINDS:
            if kind not in self.fetched:
                chosen[kind]["sha256"] = None
                ctx.log(f"{kind}: chosen, not fetched (a check changes nothing and needs only the "
                        "playbooks)")
        ctx.state["copies"] = chosen

    def _forced(self, value: str, kind: str) -> str:
        if value.startswith("s3://"):
            return value
        stores = {p.store for p in self.site.copies if p.kind == kind}
        if len(stores) != 1:
            raise StepFailed(f"--copy {kind}={value}: give it as s3://bucket/key")
        store = self.site.store(stores.pop())
        key = value if value.startswith(store.prefix) else store.prefix + value
        return f"s3://{store.bucket}/{key}"

    def _fetch(self, ctx: Context, kind: str, copy: dict[str, Any]) -> dict[str, Any]:
        """Stream the copy into the work dir, sha256 and size checked against
        its manifest on the way; a copy without one needs the typed name."""
        from dr_console.backup.s3 import store_client
        from dr_console.manifest import Manifest, ManifestError, manifest_key
        from dr_console.providers._boto import BOTO_ERRORS, error_code
        from dr_console.restore.errors import CorruptCopy
        from dr_console.restore.pipeline import head_copy
        from dr_console.restore.s3stream import ResumableReader

        store = self.site.store(copy["store"])
        client = store_client(store)
        head = head_copy(client, store, copy["key"])
        try:
            body = client.get_object(Bucket=store.bucket, Key=manifest_key(copy["key"]))["Body"].read()
            manifest: Manifest | None = Manifest.from_json(body)
        except BOTO_ERRORS as exc:
            if error_code(exc) not in ("NoSuchKey", "404", "NotFound"):
                raise StepFailed(f"cannot read the manifest of {copy['location']}: "
                                 f"{error_code(exc) or exc}") from None
            manifest = None
        except ManifestError as exc:
            raise StepFailed(f"{copy['location']}: {exc}") from None
        if manifest is None:
            ctx.log(f"{copy['location']} has no manifest: UNVERIFIED, nothing to compare its sha256 "
                    "with", "warning")
            if not ctx.confirm(self.host.name, f"rebuild {self.host.name} from an unverified {kind}"):
                raise Refused(f"an unverified {kind} needs the typed confirmation; nothing changed")
        elif manifest.kind != kind:
            raise StepFailed(f"{copy['location']} is a {manifest.kind}, not a {kind}")
        size = int(head["ContentLength"])
        reader = ResumableReader(client, store.bucket, copy["key"], size=size, etag=head["ETag"],
                                 cancel=ctx.cancel_event, store=store.name)
        path = self._file(ctx, kind)
        part = path.with_name(path.name + ".part")
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            for piece in reader:
                out.write(piece)
                ctx.progress(reader.bytes_read, size, "B")
        try:
            reader.finish(manifest)
        except CorruptCopy as exc:
            part.unlink(missing_ok=True)
            ctx.evidence(f"the {kind} matches its manifest", False, str(exc), about=COPY, copy_kind=kind)
            raise StepFailed(f"{kind} refused: {exc}. Choose another with --copy {kind}=s3://…, or "
                             "find out who changed it (the inventory lists every copy and why)") from None
        part.replace(path)
        checked = "sha256 and size equal its manifest's" if manifest else "unverified"
        ctx.evidence(f"the {kind} matches its manifest", True if manifest else None,
                     f"sha256 {reader.sha256}, {size} bytes" if manifest
                     else "no manifest: nothing to compare its sha256 and size with",
                     about=COPY, copy_kind=kind, sha256=reader.sha256)
        ctx.log(f"{kind}: fetched {humanize.size(size)}, {checked}")
        out_state: dict[str, Any] = {"sha256": reader.sha256, "size": size, "verified": bool(manifest)}
        if manifest is not None:
            out_state["created_at"] = manifest.created_at.isoformat()
            if manifest.source.get("head"):
                out_state["head"] = manifest.source["head"]
        return out_state

    def drop_partial(self, ctx: Context) -> None:
        for kind in KINDS:
            part = self._file(ctx, kind)
            part.with_name(part.name + ".part").unlink(missing_ok=True)

    # 2. clone ------------------------------------------------------------------------

    def _git(self, *args: str, cwd: Path | None = None) -> str:
        proc = subprocess.run(["git", *args], capture_output=True, text=True, timeout=300, cwd=cwd,
                              env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
        if proc.returncode != 0:
            raise StepFailed(f"git {args[0]} failed: {(proc.stderr or proc.stdout).strip()[-600:]}")
        return proc.stdout.strip()

    def check_clone(self, ctx: Context) -> bool | str:
        commit = ctx.state.get("commit", {}).get("id")
        clone = self._clone(ctx)
        if not commit or not (clone / ".git").is_dir():
            return False
        try:
            head = self._git("-C", str(clone), "rev-parse", "HEAD")
        except StepFailed:
            return False
        return head == commit and f"cloned already at {commit[:12]}"

    def clone(self, ctx: Context) -> None:
        clone = self._clone(ctx)
        shutil.rmtree(clone, ignore_errors=True)
        self._git("clone", "--quiet", str(self._file(ctx, BUNDLE)), str(clone))
        line = self._git("-C", str(clone), "log", "-1", "--format=%H%x00%cI%x00%an%x00%s")
        commit, when, author, subject = line.split("\x00", 3)
        ctx.state["commit"] = {"id": commit, "date": when, "author": author, "subject": subject}
        ctx.log(f"{self.repo} at commit {commit[:12]} ({when}, {author}): {subject}")
        head = ctx.state.get("copies", {}).get(BUNDLE, {}).get("head")
        if head and head != commit:
            ctx.log(f"the manifest recorded HEAD {head[:12]} when the bundle was made; the clone is at "
                    f"{commit[:12]}", "warning")
        if not (clone / self.boot.playbook).is_file():
            found = sorted(p.name for p in clone.glob("*.y*ml"))
            raise StepFailed(f"no {self.boot.playbook} in {self.repo}'s bundle (playbooks there: "
                             f"{', '.join(found) or 'none'}); set boot[].playbook in the site file")
        files = ansible.role_files(clone)
        ctx.state["role_files"] = files
        ctx.log(f"the roles write {len(files)} file(s) under /etc: {', '.join(files) or 'none'}")
        exp = self._expected(ctx)
        for line in exp.lines():
            ctx.log(f"the probes will expect: {line}")

    def _values(self, ctx: Context) -> dict[str, Any]:
        """The variables the roles see: re-read at every use (the site's
        vars file may have been fixed since)."""
        values = ansible.site_vars(self.boot.vars_file, self.boot.vars)
        return ansible.playbook_vars(self._clone(ctx), self.boot.group, self.host.name, values)

    def _expected(self, ctx: Context) -> bootprobes.Expected:
        try:
            exp = bootprobes.expected(self._values(ctx), self.boot.expect)
        except bootprobes.ExpectationError as exc:
            raise StepFailed(f"the probes cannot know what to expect: {exc}") from None
        ctx.state["expect"] = exp.to_state()
        return exp

    # 3. pin ---------------------------------------------------------------------------

    def check_pinned(self, ctx: Context) -> bool | str:
        pinned = ssh.pinned_key(self.known_hosts, self.address, self.port)
        if pinned is None:
            return False
        try:
            ssh.connect(self._target()).close()
        except (HostKeyError, ssh.SSHError):  # a changed key or no answer: the action says which
            return False
        fingerprint = ssh.fingerprint(pinned)
        ctx.state["pinned"] = {"where": self.where, "fingerprint": fingerprint,
                               "known_hosts": str(self.known_hosts)}
        return f"{self.where} is pinned already ({fingerprint} in {self.known_hosts}) and lets us in"

    def pin(self, ctx: Context) -> None:
        offered = ssh.offered_key(self.address, self.port, float(self.host.timeout))
        fingerprint = ssh.fingerprint(offered)
        sha = fingerprint.split()[1]
        pinned = ssh.pinned_key(self.known_hosts, self.address, self.port)
        if pinned is not None and pinned.asbytes() == offered.asbytes():
            ctx.log(f"{self.where} offers {fingerprint}, the key pinned in {self.known_hosts}")
        else:
            if pinned is not None:
                ctx.log(f"host key CHANGED for {self.where}: {self.known_hosts} pins "
                        f"{ssh.fingerprint(pinned)}, the server now offers {fingerprint}. Expected "
                        "after a rebuild; otherwise someone may be between you and the host", "warning")
            else:
                ctx.log(f"first contact with {self.where}: it offers {fingerprint}, pinned nowhere yet")
            self._trust(ctx, sha, fingerprint, changed=pinned is not None)
            ssh.pin(self.known_hosts, self.address, self.port, offered)
            ctx.log(f"pinned {fingerprint} for {self.where} in {self.known_hosts}")
        ctx.state["pinned"] = {"where": self.where, "fingerprint": fingerprint,
                               "known_hosts": str(self.known_hosts)}

    def _trust(self, ctx: Context, sha: str, fingerprint: str, *, changed: bool) -> None:
        """The operator vouches for the key: --fingerprint, or typed."""
        console = "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on the host's own console"
        given = self.params.get("fingerprint") or (self._scratch_fingerprint(ctx) if self.scratch else None)
        if given:
            if given != sha:
                raise Refused(f"{self.where} offers {sha}, --fingerprint says {given}: NOT pinned, "
                              f"nothing changed. Check the key ({console}): a different key can be "
                              "someone in the middle")
            ctx.log(f"{sha} is the fingerprint given with --fingerprint")
            return
        if _confirmed_in_advance(ctx):
            raise Refused(f"--yes does not trust a host key: {self.where} offers {fingerprint}. Check "
                          f"it ({console}), then run again with --fingerprint {sha}, or without --yes "
                          "to type it")
        what = "its key CHANGED" if changed else "first contact"
        if not ctx.confirm(sha, f"{self.where} ({what}) offers {fingerprint}; compare it with "
                                f"{console} and type the fingerprint to pin it in {self.known_hosts}"):
            raise Refused(f"the host key of {self.where} was not confirmed: not pinned, nothing changed")

    def verify_reached(self, ctx: Context) -> None:
        target = self._target()
        try:
            client = ssh.connect(target)
        except HostKeyError:
            raise
        except ssh.SSHError as exc:
            raise StepFailed(f"{exc}. The rebuilt host must let {self.host.user} in with "
                             f"{self.key_file} (its public key in authorized_keys)") from None
        try:
            found = ssh.run(client, target, ". /etc/os-release 2>/dev/null; hostname; "
                                            "echo \"${PRETTY_NAME:-unknown system}\"; "
                                            "command -v dpkg apt-get apt-cache | wc -l")
        finally:
            client.close()
        lines = found.stdout.splitlines()
        if len(lines) < 3 or lines[2].strip() != "3":
            raise StepFailed(f"{self.where} has no dpkg, apt-get and apt-cache: this runbook replays "
                             "a Debian package list")
        ctx.log(f"reached {self.where} as {self.host.user}: hostname {lines[0]}, {lines[1]}")

    # a connection for a step -------------------------------------------------------------

    def _connect(self) -> paramiko.SSHClient:
        return ssh.connect(self._target())

    def _run(self, client: paramiko.SSHClient, command: str, *, check: bool = False,
             timeout: float | None = None, stdin: bytes | None = None) -> ssh.Completed:
        return ssh.run(client, self._target(), command, check=check, timeout=timeout, stdin=stdin)

    def _remote_sha256(self, client: paramiko.SSHClient, paths: list[str]) -> dict[str, str]:
        if not paths:
            return {}
        listed = self._run(client, "sha256sum -- " + " ".join(shlex.quote(p) for p in paths)
                           + " 2>/dev/null; true")
        out = {}
        for line in listed.stdout.splitlines():
            digest, _, path = line.partition("  ")
            if len(digest) == 64 and path:
                out[path] = digest
        return out

    # the archive --------------------------------------------------------------------------

    def _archive_files(self, ctx: Context,
                       wanted: Callable[[str], bool]) -> dict[str, tuple[tarfile.TarInfo, bytes]]:
        """'/etc/…' -> (member, content) for the archive's regular files `wanted` takes."""
        out = {}
        with tarfile.open(self._file(ctx, ETC), mode="r:*") as tar:
            for member in tar:
                name = member.name.removeprefix("./").lstrip("/")
                if member.isfile() and wanted(name):
                    handle = tar.extractfile(member)
                    out["/" + name] = (member, handle.read() if handle else b"")
        return out

    @staticmethod
    def _tar_of(files: dict[str, tuple[tarfile.TarInfo, bytes]]) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as out:
            for path, (member, data) in sorted(files.items()):
                info = tarfile.TarInfo(path.lstrip("/"))
                info.size, info.mode, info.mtime = len(data), member.mode, member.mtime
                info.uid, info.gid = member.uid, member.gid
                info.uname, info.gname = member.uname, member.gname
                out.addfile(info, io.BytesIO(data))
        return buffer.getvalue()

    def _keep_on_target(self, ctx: Context, client: paramiko.SSHClient, paths: list[str]) -> str:
        """Copy the target's own versions of `paths` under the run's keep dir,
        never over a copy kept before (a resumed run keeps the originals)."""
        keep = self._keep(ctx)
        ctx.state["keep"] = keep
        if paths:
            quoted = " ".join(shlex.quote(p.lstrip("/")) for p in paths)
            self._run(client, f"mkdir -p {keep} && chmod 700 {KEEP_DIR} {keep} && cd / && "
                              f"for f in {quoted}; do if [ -e \"$f\" ]; then cp -an --parents \"$f\" "
                              f"{keep}/; fi; done", check=True)
        return keep

    # 4. apt sources ---------------------------------------------------------------------------

    def _apt_files(self, ctx: Context) -> tuple[dict[str, Any], dict[str, Any]]:
        files = self._archive_files(ctx, lambda n: n.startswith(APT_SOURCES + APT_TRUST))
        sources = {p: f for p, f in files.items() if p.lstrip("/").startswith(APT_SOURCES)}
        trust = {p: f for p, f in files.items() if p not in sources}
        return sources, trust

    def check_apt(self, ctx: Context) -> bool | str:
        sources, trust = self._apt_files(ctx)
        if not sources:
            return False  # the action says there are none
        client = self._connect()
        try:
            current = self._run(client, "for f in /etc/apt/sources.list /etc/apt/sources.list.d/*; do "
                                        "if [ -f \"$f\" ]; then sha256sum \"$f\"; fi; done; true")
            remote = self._remote_sha256(client, list(trust))
        finally:
            client.close()
        have = {line.partition("  ")[2]: line.partition("  ")[0] for line in current.stdout.splitlines()}
        want = {p: hashlib.sha256(data).hexdigest() for p, (_, data) in sources.items()}
        trusted = all(remote.get(p) == hashlib.sha256(data).hexdigest() for p, (_, data) in trust.items())
        if have == want and trusted:
            return f"the target's apt sources and keys are {self.host.name}'s already"
        return False

    def restore_apt(self, ctx: Context) -> None:
        sources, trust = self._apt_files(ctx)
        if not sources:
            raise StepFailed(f"the /etc archive of {self.host.name} holds no apt sources "
                             "(etc/apt/sources.list*): nothing to install its packages from")
        client = self._connect()
        try:
            listed = self._run(client, "ls -1 /etc/apt/sources.list /etc/apt/sources.list.d/* "
                                       "2>/dev/null; true")
            own = [p for p in listed.stdout.split() if p]
            keep = self._keep_on_target(ctx, client, own + [p for p in trust if p not in own])
            self._run(client, "rm -f /etc/apt/sources.list && find /etc/apt/sources.list.d "
                              "-maxdepth 1 -type f -delete 2>/dev/null; mkdir -p /etc/apt/sources.list.d",
                      check=True)
            self._run(client, "tar -C / -xpf -", stdin=self._tar_of({**sources, **trust}), check=True)
            uris = sorted({u for _, data in sources.values()
                           for u in _source_uris(data.decode(errors="replace"))})
            ctx.log(f"apt sources now {self.host.name}'s: {', '.join(p.rsplit('/', 1)[-1] for p in sources)} "
                    f"({', '.join(uris) or 'no URI found'}); {len(trust)} key/pinning file(s) added; "
                    f"the target's own ({', '.join(p.rsplit('/', 1)[-1] for p in own) or 'none'}) kept in "
                    f"{keep}")
            updated = self._run(client, f"{APT_ENV} apt-get update -q", timeout=APT_TIMEOUT)
        finally:
            client.close()
        if not updated.ok:
            raise StepFailed(f"`apt-get update` with {self.host.name}'s sources failed (exit "
                             f"{updated.status}): {updated.output(800)}. Are they reachable from the "
                             f"target? Its own sources are kept in {keep}/etc/apt")
        ctx.log("apt-get update: the restored sources answer")

    # 5. packages --------------------------------------------------------------------------

    def _wanted(self, ctx: Context) -> list[tuple[str, str]]:
        return _selections(self._file(ctx, PACKAGES).read_text(encoding="utf-8", errors="replace"))

    def _installed_and_known(self, client: paramiko.SSHClient) -> tuple[set[str], set[str]]:
        installed = self._run(client, "dpkg-query -W -f='${Package} ${db:Status-Status}\\n'", check=True)
        known = self._run(client, "apt-cache pkgnames", check=True, timeout=300)
        names = {line.split()[0] for line in installed.stdout.splitlines()
                 if line.endswith(" installed") and line.split()}
        return names, set(known.stdout.split())

    def check_packages(self, ctx: Context) -> bool | str:
        wanted = {_base(p) for p, state in self._wanted(ctx) if state in ("install", "hold")}
        client = self._connect()
        try:
            installed, known = self._installed_and_known(client)
        finally:
            client.close()
        missing = wanted - installed
        if missing - (missing - known):  # something installable is not installed yet
            return False
        no_candidate = sorted(missing - known)
        tail = f"; no candidate for {', '.join(no_candidate)}" if no_candidate else ""
        return f"every package of {self.host.name}'s list that has a candidate is installed{tail}"

    def install_packages(self, ctx: Context) -> None:
        selections = self._wanted(ctx)
        client = self._connect()
        try:
            ctx.log(f"{len(selections)} selections in {self.host.name}'s list; apt-get update")
            self._run(client, f"{APT_ENV} apt-get update -q", check=True, timeout=APT_TIMEOUT)
            self._run(client, 'f=$(mktemp) && apt-cache dumpavail > "$f" && dpkg --merge-avail "$f"; '
                              'rc=$?; rm -f "$f"; exit $rc', check=True, timeout=APT_TIMEOUT)
            installed, known = self._installed_and_known(client)
            no_candidate = sorted({_base(p) for p, state in selections if state in ("install", "hold")
                                   and _base(p) not in installed and _base(p) not in known})
            kept = [(p, s) for p, s in selections if _base(p) not in no_candidate]
            if self.params["clear_selections"]:
                if not ctx.confirm(self.host.name, f"dpkg --clear-selections on {self.target_name}: "
                                                   "every package not in the list gets removed"):
                    raise Refused("--clear-selections was not confirmed; nothing changed")
                self._run(client, "dpkg --clear-selections", check=True)
                ctx.log("dpkg --clear-selections: every package not in the list is marked for removal",
                        "warning")
            body = "".join(f"{p}\t{s}\n" for p, s in kept).encode()
            set_result = self._run(client, "dpkg --set-selections", stdin=body, timeout=600)
            unknown = re.findall(r"not in (?:status nor available )?database at line \d+: (\S+)",
                                 set_result.output(20000))
            if not set_result.ok:
                raise StepFailed(f"dpkg --set-selections failed: {set_result.output(800)}")
            no_candidate = sorted({*no_candidate, *map(_base, unknown)})
            ctx.state["no_candidate"] = no_candidate
            if no_candidate:
                ctx.log(f"no installation candidate for {len(no_candidate)} package(s) of the list, left "
                        f"out: {', '.join(no_candidate)}. They are in no apt source {self.host.name} "
                        "had: find where they went, or drop them from the list", "warning")
            simulated = self._run(client, f"{APT_ENV} apt-get -s {DPKG_OPTIONS} dselect-upgrade",
                                  timeout=APT_TIMEOUT)
            if not simulated.ok:
                raise StepFailed(self._apt_failure("a simulated dselect-upgrade", simulated))
            removals = re.findall(r"^Remv (\S+)", simulated.stdout, re.MULTILINE)
            counts = _apt_counts(simulated.stdout)
            if removals and not ctx.confirm(self.host.name, f"replaying the list removes "
                                            f"{len(removals)} package(s) from {self.target_name}: "
                                            f"{', '.join(removals[:20])}"):
                raise Refused("the removals were not confirmed; nothing was installed or removed")
            ctx.log(f"apt-get dselect-upgrade: {counts.get('installed', 0)} to install, "
                    f"{counts.get('upgraded', 0)} to upgrade, {counts.get('removed', 0)} to remove")
            done = self._run(client, f"{APT_ENV} apt-get -y -q {DPKG_OPTIONS} dselect-upgrade",
                             timeout=APT_TIMEOUT)
            if not done.ok:
                raise StepFailed(self._apt_failure("apt-get dselect-upgrade", done))
            counts = _apt_counts(done.stdout) or counts
            ctx.state["packages"] = {"selections": len(selections), **counts}
            ctx.log(f"installed {counts.get('installed', 0)}, upgraded {counts.get('upgraded', 0)}, "
                    f"removed {counts.get('removed', 0)}")
        finally:
            client.close()

    def _apt_failure(self, what: str, ran: ssh.Completed) -> str:
        text = ran.output(20000)
        none = sorted(set(re.findall(r"Package '?([^' ]+)'? has no installation candidate", text)))
        errors = [line for line in text.splitlines() if line.startswith("E:")]
        detail = "; ".join(errors[:5]) or ran.output(800)
        named = f" No installation candidate: {', '.join(none)}." if none else ""
        return f"{what} failed (exit {ran.status}): {detail}.{named} Nothing was half-installed that " \
               "a rerun cannot finish: resume once it is fixed"

    # 6. /etc ------------------------------------------------------------------------------------

    def _etc_restore(self, ctx: Context) -> dict[str, tuple[tarfile.TarInfo, bytes]]:
        wanted = set(self._etc_files(ctx.state))
        return self._archive_files(ctx, lambda n: "/" + n in wanted)

    def check_etc(self, ctx: Context) -> bool | str:
        if ctx.state.get("etc") and ("apply" in ctx.state or ctx.state.get("apply_unfinished")):
            # Restored, then the playbooks rendered them from the site's values:
            # putting the archive's back would only undo the playbooks' work.
            return "restored earlier in this run; the playbooks own these files since they ran"
        if self.params["whole_etc"]:
            return False  # the whole archive: no cheap way to tell, and it is asked for
        files = self._etc_restore(ctx)
        if not files:
            return False
        client = self._connect()
        try:
            remote = self._remote_sha256(client, list(files))
        finally:
            client.close()
        if all(remote.get(p) == hashlib.sha256(data).hexdigest() for p, (_, data) in files.items()):
            return f"the {len(files)} file(s) the roles write are {self.host.name}'s already"
        return False

    def restore_etc(self, ctx: Context) -> None:
        if self.params["whole_etc"]:
            self._restore_whole_etc(ctx)
            return
        wanted = self._etc_files(ctx.state)
        files = self._etc_restore(ctx)
        absent = [p for p in wanted if p not in files]
        if absent:
            ctx.log(f"not in the archive (the playbooks write them): {', '.join(absent)}")
        if not files:
            ctx.log("nothing of the roles' files to restore from the archive")
            return
        client = self._connect()
        try:
            remote = self._remote_sha256(client, list(files))
            changed = [p for p, (_, data) in files.items()
                       if remote.get(p) != hashlib.sha256(data).hexdigest()]
            for path in changed:
                self._show_diff(ctx, client, path, files[path][1], exists=path in remote)
            keep = self._keep_on_target(ctx, client, [p for p in changed if p in remote])
            self._run(client, "tar -C / -xpf -", stdin=self._tar_of({p: files[p] for p in changed}),
                      check=True)
            after = self._remote_sha256(client, list(files))
        finally:
            client.close()
        wrong = [p for p, (_, data) in files.items() if after.get(p) != hashlib.sha256(data).hexdigest()]
        if wrong:
            raise StepFailed(f"after the restore these differ from the archive: {', '.join(wrong)}")
        kept = [p for p in changed if p in remote]
        ctx.state["etc"] = {"restored": changed, "kept": kept, "unchanged": sorted(set(files) - set(changed))}
        ctx.log(f"restored {len(changed)} file(s)" + (f"; the target's own kept in {keep}" if kept else "")
                + (f"; {len(files) - len(changed)} were equal already" if len(files) > len(changed) else ""))

    def _show_diff(self, ctx: Context, client: paramiko.SSHClient, path: str, new: bytes,
                   exists: bool) -> None:
        if not exists:
            ctx.log(f"new: {path} ({humanize.size(len(new))})")
            return
        if SECRETISH.search(path):
            ctx.log(f"differs: {path} (content not shown: it may hold secrets)")
            return
        old = self._run(client, f"cat {shlex.quote(path)}", check=True).stdout
        try:
            text = new.decode("utf-8")
        except UnicodeDecodeError:
            ctx.log(f"differs: {path} (binary)")
            return
        diff = list(difflib.unified_diff(old.splitlines(), text.splitlines(), f"{path} (target)",
                                         f"{path} ({self.host.name}'s)", lineterm=""))
        more = f"\n… {len(diff) - DIFF_LINES} more lines" if len(diff) > DIFF_LINES else ""
        ctx.log(f"differs: {path}\n" + "\n".join(diff[:DIFF_LINES]) + more)

    def _restore_whole_etc(self, ctx: Context) -> None:
        if not ctx.confirm(self.host.name, f"restore the whole /etc of {self.host.name} over "
                                           f"{self.target_name}'s (its own kept as a tarball first)"):
            raise Refused("the whole-/etc restore was not confirmed; nothing changed")
        keep = self._keep(ctx)
        ctx.state["keep"] = keep
        excluded = " ".join(f"--exclude={shlex.quote(p)}" for p in WHOLE_ETC_EXCLUDES)
        client = self._connect()
        try:
            self._run(client, f"mkdir -p {keep} && chmod 700 {KEEP_DIR} {keep} && "
                              f"if [ ! -e {keep}/etc-before.tar.gz ]; then "
                              f"tar -C / -czf {keep}/etc-before.tar.gz etc; fi", check=True, timeout=600)
            self._run(client, f"tar -C / -xzpf - {excluded}", stdin=self._file(ctx, ETC).read_bytes(),
                      check=True, timeout=600)
        finally:
            client.close()
        ctx.state["etc"] = {"whole": True, "kept": f"{keep}/etc-before.tar.gz"}
        ctx.log(f"restored the whole /etc of {self.host.name} (not: {', '.join(WHOLE_ETC_EXCLUDES)}); "
                f"the target's own is in {keep}/etc-before.tar.gz")

    # 7-8. the playbooks ---------------------------------------------------------------------------

    def _playbook(self, ctx: Context, check: bool,
                  more_vars: dict[str, Any] | None = None) -> ansible.PlaybookRun:
        work = self._work(ctx)
        clone = self._clone(ctx)
        values = ansible.site_vars(self.boot.vars_file, self.boot.vars)
        inventory = ansible.write_inventory(work / "inventory", self.boot.group, self.host.name, values)
        extravars = {"ansible_host": self.address, "ansible_port": self.port,
                     "ansible_user": self.host.user,
                     "ansible_ssh_private_key_file": str(self.key_file),
                     "ansible_ssh_common_args": ansible.ssh_common_args(self.known_hosts),
                     **(more_vars or {})}
        env = ansible.environment(clone, work / "ansible", self.known_hosts)
        done = 0

        def on_result(result: ansible.TaskResult) -> None:
            nonlocal done
            if result.status == "skipped":
                return
            done += 1
            level, text = result.line(check)
            ctx.log(text, level)
            ctx.progress(done, None, "tasks")

        ctx.log(f"ansible-playbook {self.boot.playbook}{' --check' if check else ''} against "
                f"{self.where} (group {self.boot.group}, host {self.host.name})")
        run = ansible.run(private_dir=work / "runner", project=clone, playbook=self.boot.playbook,
                          inventory=inventory, extravars=extravars, envvars=env, check=check,
                          on_result=on_result, cancel=ctx.cancel_event, timeout=PLAYBOOK_TIMEOUT)
        ctx.raise_if_cancelled()
        return run

    def _judge(self, ctx: Context, run: ansible.PlaybookRun, check: bool) -> None:
        bad = run.having("failed", "unreachable")
        what = "check mode" if check else "the apply"
        if bad:
            first = bad[0]
            more = f" ({len(bad) - 1} more failed)" if len(bad) > 1 else ""
            fix = (f"the site's values ({self.boot.vars_file or 'boot[].vars'}) or the playbooks"
                   if first.status == "failed" else f"SSH from here to {self.where}")
            raise StepFailed(f"{what}: task {first.task!r} {first.status} on {first.host}: "
                             f"{first.message}{more}. Look at {fix}; once fixed, resume: the steps "
                             "before are checked and skipped")
        if run.status != "successful":
            raise StepFailed(f"{what} ended {run.status} (rc {run.rc}) with no failed task reported: "
                             f"see the artifacts in {self._work(ctx) / 'runner' / 'artifacts'}")

    def playbook_check(self, ctx: Context) -> None:
        run = self._playbook(ctx, check=True)
        self._judge(ctx, run, check=True)
        changing = [r.task for r in run.having("changed")]
        ctx.state["check"] = {"would_change": changing, "tasks": len(run.results),
                              "seconds": round(run.seconds, 1)}
        ctx.log(f"check mode: {len(changing)} of {len(run.results)} task results would change"
                + (f": {', '.join(changing)}" if changing else " (the target is converged)"))

    def playbook_apply(self, ctx: Context) -> None:
        # Journaled before the run: after a kill -9 or a failed task the next
        # apply knows the restarts this one owed were lost with it (a config
        # written, its daemon not restarted, and no change seen next time).
        unfinished = bool(ctx.state.get("apply_unfinished"))
        ctx.state["apply_unfinished"] = True
        more = dict(self.boot.restart_vars) if unfinished else {}
        if unfinished:
            shown = ", ".join(f"{k}={v}" for k, v in more.items()) or "none set (boot[].restart_vars)"
            ctx.log("an earlier apply of this run did not finish: a configuration it changed may "
                    f"still wait for its daemon's restart, so this one restarts them ({shown})",
                    "warning")
        run = self._playbook(ctx, check=False, more_vars=more)
        try:
            self._judge(ctx, run, check=False)
        except StepFailed as exc:
            ctx.evidence("the playbooks apply with no failed task", False, str(exc))
            raise
        ctx.state.pop("apply_unfinished", None)
        changed = [r.task for r in run.having("changed")]
        counts = run.summary()
        ctx.state["apply"] = {"changed": changed, "counts": counts, "seconds": round(run.seconds, 1)}
        ctx.evidence("the playbooks apply with no failed task", True,
                     f"{counts.get('ok', 0)} ok, {len(changed)} changed, 0 failed")
        ctx.log(f"applied: {counts.get('ok', 0)} ok, {len(changed)} changed, "
                f"{counts.get('skipped', 0)} skipped, 0 failed ({run.seconds:.0f}s)")

    # 9. probes -------------------------------------------------------------------------------------

    def prove(self, ctx: Context) -> None:
        exp = self._expected(ctx)
        probe = ssh.Target.from_host(self.probe)
        try:
            client = ssh.connect(probe)
        except HostKeyError as exc:
            raise StepFailed(f"cannot probe from {self.probe.name}: {exc}. A probe host whose key is "
                             "not the pinned one proves nothing: check it, then correct "
                             f"{self.probe.known_hosts}") from None
        except ssh.SSHError as exc:
            raise StepFailed(f"cannot reach the probe host {self.probe.name}: {exc}") from None
        target_client: list[paramiko.SSHClient] = []
        done = 0

        def run(command: str, timeout: float) -> ssh.Completed:
            ctx.raise_if_cancelled()
            return ssh.run(client, probe, command, timeout=timeout)

        def target_sha256(path: str) -> str | None:
            if not target_client:
                target_client.append(self._connect())
            found = self._run(target_client[0], f"sha256sum {shlex.quote(path)}")
            return bootprobes.parse_sha256(found.stdout) if found.ok else None

        def report(result: bootprobes.ProbeResult) -> None:
            nonlocal done
            done += 1
            ctx.log(result.line(), "info" if result.ok else "warning")
            ctx.progress(done, 4, "probes")

        where = bootprobes.Where(self.probe.name, self.boot.probe_interface, self.target_name)
        try:
            results = bootprobes.run_all(run, exp, where, target_sha256, report)
        finally:
            client.close()
            for opened in target_client:
                opened.close()
        ctx.state["probes"] = {r.service: r.to_state() for r in results}
        for r in results:
            ctx.evidence(f"{r.service} answers {self.probe.name} on the boot network", r.ok,
                         r.got if r.ok else r.line())
        failed = [r for r in results if not r.ok]
        if failed:
            raise StepFailed(f"{len(failed)} of 4 probes failed: "
                             + "; ".join(f"{r.service}: {r.got}" for r in failed)
                             + ". What each sent and what to look at is in the log above")
        ctx.log(f"all four services answer {self.probe.name} on the boot network")

    # the drill: the same rebuild on a scratch host, recorded, the scratch host reset -------------

    def drill_steps(self) -> list[Step]:
        steps = self.steps()
        record = Step(
            "record-drill", "Record the drill beside the copies", lambda ctx: False, self.record_drill,
            guidance="`<key>.drill.json` beside the git bundle, the /etc archive and the package "
                     "list in their store: every operator's inventory shows them drilled and "
                     "smoke-tested (the four services answered), with the date.",
            command=lambda state: "; ".join(f"aws s3 cp - {self._location(state, kind)}"
                                            f"{drillrecord.SUFFIX}" for kind in KINDS))
        return [*steps[:-1], record, steps[-1]]

    def _scratch_command(self, command: str) -> str:
        return command.replace("{site_dir}", str(Path(self.site.path).resolve().parent)) \
            .replace("{host}", self.host.name).replace("{target}", f"{self.address}:{self.port}")

    def _scratch_fingerprint(self, ctx: Context) -> str:
        """The scratch host's key as its own side reports it, out of band."""
        assert self.scratch is not None
        command = self.scratch.fingerprint_command
        if not command:
            raise Refused(f"a drill pins {self.where}'s key only when the site says what it is: set "
                          f"drills.boot_hosts.{self.host.name}.fingerprint_command, or give "
                          "--fingerprint SHA256:… (check it on the scratch host's console)")
        ran = subprocess.run(self._scratch_command(command), shell=True, capture_output=True,
                             text=True, timeout=120, stdin=subprocess.DEVNULL)
        found = re.findall(r"SHA256:[A-Za-z0-9+/]+", ran.stdout)
        if ran.returncode != 0 or not found:
            raise Refused(f"the scratch host's fingerprint command (exit {ran.returncode}) printed no "
                          f"SHA256:… fingerprint: {(ran.stdout + ran.stderr).strip()[-300:]}. Not pinned")
        ctx.log(f"the scratch host's own side reports {found[-1]} (drills.boot_hosts fingerprint_command)")
        return normalize_fingerprint(found[-1])

    def record_drill(self, ctx: Context) -> None:
        from dr_console import __version__

        failed = failed_checks(ctx.state)
        if failed:
            raise StepFailed(f"not recorded: checks failed: {', '.join(failed)}")
        evidence = ctx.state.get("evidence", {})
        record = drillrecord.DrillRecord(
            run_id=ctx.run_id, at=datetime.now(UTC).isoformat(timespec="seconds"),
            copy=self.copy_location(ctx.state), smoke_tested=True,  # the four services answered
            checks={name: {"passed": c.get("passed"), "detail": c.get("detail", "")}
                    for name, c in evidence.items()},
            tool_version=__version__)
        self.write_record(ctx, record)
        ctx.log(f"drill recorded beside {len(KINDS)} copies ({drillrecord.SUFFIX}): the bundle of "
                f"{self.repo}, the /etc archive and package list of {self.host.name}")

    @staticmethod
    def copy_location(state: dict[str, Any]) -> str:
        """The copies a record is about: the ones whose content failed, else all."""
        chosen = state.get("copies") or {}
        bad = _failed_copy_kinds(state)
        return ", ".join(chosen[kind]["location"] for kind in (bad or KINDS) if kind in chosen)

    def write_record(self, ctx: Context, record: drillrecord.DrillRecord) -> None:
        """`<key>.drill.json` beside each copy the record is about."""
        from dr_console.backup.s3 import store_client

        chosen = ctx.state.get("copies") or {}
        bad = _failed_copy_kinds(ctx.state)
        for kind in KINDS:
            if kind not in chosen or (not record.passed and kind not in bad):
                continue
            store = self.site.store(chosen[kind]["store"])
            store_client(store).put_object(
                Bucket=store.bucket, Key=drillrecord.record_key(chosen[kind]["key"]),
                Body=record.to_json().encode(), ContentType="application/json")

    def reset_scratch_step(self) -> Step:
        command = (self.scratch.reset_command if self.scratch else None) or ""
        return Step("reset-scratch", "Make the scratch host bare again (always)", lambda ctx: False,
                    self.reset_scratch,
                    guidance="Whatever happened: the site's reset command makes the scratch host "
                             "bare again (nothing the drill installed keeps serving), the key the "
                             "drill pinned is forgotten and the run's working copies (the /etc "
                             "archive holds secrets) are removed.",
                    command=lambda state: self._scratch_command(command) if command
                    else "# no drills.boot_hosts reset_command: reset the scratch host by hand")

    def reset_scratch(self, ctx: Context) -> None:
        shutil.rmtree(work_dir(ctx.run_id), ignore_errors=True)
        self.known_hosts.unlink(missing_ok=True)  # the drills' own file: the next key is a new one
        assert self.scratch is not None
        command = self.scratch.reset_command
        if not command:
            raise StepFailed(f"the scratch host {self.where} still runs what the drill installed: no "
                             f"drills.boot_hosts.{self.host.name}.reset_command; reset it by hand")
        line = self._scratch_command(command)
        ran = subprocess.run(line, shell=True, capture_output=True, text=True, timeout=600,
                             stdin=subprocess.DEVNULL)
        output = (ran.stdout + ran.stderr).strip()
        if ran.returncode != 0:
            raise StepFailed(f"the scratch host {self.where} may still run what the drill installed: "
                             f"its reset failed (exit {ran.returncode}: {output[-300:]}); run it "
                             f"again: {line}")
        ctx.log(f"the scratch host {self.where} is bare again (its reset command exited 0)")

    # 10. report --------------------------------------------------------------------------------------

    def report(self, ctx: Context) -> None:
        state = ctx.state
        for kind, copy in (state.get("copies") or {}).items():
            made = copies.when_text(datetime.fromisoformat(copy["created_at"])) \
                if copy.get("created_at") else "time unknown"
            ctx.log(f"{kind}: {copy['location']} ({made})")
        commit = state.get("commit") or {}
        if commit:
            ctx.log(f"playbooks at {commit.get('id', '?')[:12]}: {commit.get('subject', '')}")
        if self.check_only:
            ctx.log(f"check only: the four services of {self.target_name} answer; nothing was changed")
        else:
            pinned = state.get("pinned") or {}
            ctx.log(f"{self.where} rebuilt as {self.host.name}; host key "
                    f"{pinned.get('fingerprint', '?')} pinned in "
                    f"{pinned.get('known_hosts', self.known_hosts)}")
            if state.get("keep"):
                ctx.log(f"the target's own files replaced by the restore are kept on it in {state['keep']}")
            if state.get("no_candidate"):
                ctx.log(f"left out, no installation candidate: {', '.join(state['no_candidate'])}",
                        "warning")
        work = work_dir(ctx.run_id)
        shutil.rmtree(work, ignore_errors=True)
        ctx.log(f"removed this run's working copies (the /etc archive holds secrets): {work}")
