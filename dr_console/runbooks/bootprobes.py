"""The boot-infra runbook's proof: DHCP, TFTP, NTP and FTP asked from a
machine on the boot network, the way a booting server asks them.

Each probe is one or two shell commands run on the probe host (busybox
`udhcpc`, `curl` for tftp:// and ftp://, `ntpdig`), read back and judged
against what the playbooks' variables (or the site's `expect:`) say the
service must answer. A failing probe names what it sent, what came back and
what to look at. No I/O here: the runbook hands in a way to run a command on
the probe and to read a file's sha256 on the target."""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from dr_console.schema import BootExpect

TOOLS = ("busybox", "curl", "ntpdig")
DHCP_TRIES, DHCP_WAIT = 4, 2  # udhcpc: 4 DISCOVERs, 2 s apart
CONNECT_TIMEOUT = 5  # seconds for a TFTP or FTP server's first answer
TFTP_TIMEOUT = 60  # a boot loader is small
FTP_TIMEOUT = 1800  # install media are not
LIST_TIMEOUT = 30
NTP_TIMEOUT = 3
# Above this NTP stratum a server says it is not synchronised (16 = never).
MAX_SANE_STRATUM = 15


class Ran(Protocol):
    """What running a command gives back (ssh.Completed)."""

    @property
    def status(self) -> int: ...
    @property
    def ok(self) -> bool: ...
    def output(self, limit: int = 2000) -> str: ...
    @property
    def stdout(self) -> str: ...


Run = Callable[[str, float], Ran]  # (command, timeout) on the probe host


class ExpectationError(ValueError):
    """A value the probes need is missing or templated in the variables."""


@dataclass(frozen=True)
class Expected:
    """What the four services must answer, and the variables' values an
    operator looks at when one does not."""

    server: str
    dhcp_range: tuple[str, str] | None
    tftp_file: str
    tftp_path: str  # the same file on the target
    ntp_max_stratum: int
    ntp_max_offset: float
    ftp_file: str | None  # under the FTP root, e.g. media/netinst.iso
    ftp_sha256: str | None
    hints: dict[str, Any] = field(default_factory=dict)

    def to_state(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        first, last = self.dhcp_range or ("?", "?")
        ftp = (f"lists and serves {self.ftp_file}"
               + (f" with sha256 {self.ftp_sha256[:16]}…" if self.ftp_sha256 else " (no sha256 known)")
               if self.ftp_file else "lists its root (no install media declared in ftp_media)")
        return [f"DHCP: an offer from {self.server} inside {first}-{last}",
                f"TFTP: {self.tftp_file} from {self.server}, sha256 equal to the target's {self.tftp_path}",
                f"NTP: {self.server} answers at stratum ≤ {self.ntp_max_stratum}, "
                f"offset under {self.ntp_max_offset:g} s",
                f"FTP: {self.server} {ftp}"]


def _literal(values: dict[str, Any], name: str) -> Any:
    value = values.get(name)
    if isinstance(value, str) and "{{" in value:
        raise ExpectationError(f"{name} is templated ({value!r}): set it under the site's "
                               "boot[].expect instead")
    return value


def expected(values: dict[str, Any], expect: BootExpect) -> Expected:
    """The expectations from the playbooks' variables (role defaults, the
    playbooks' group vars, the site's vars), any `expect:` value winning."""
    server = expect.server or _literal(values, "boot_server")
    if not server:
        raise ExpectationError("no address to probe: boot_server is not in the variables "
                               "(set it, or boot[].expect.server)")
    dhcp_range: tuple[str, str] | None = None
    if expect.dhcp_range:
        dhcp_range = (expect.dhcp_range[0], expect.dhcp_range[1])
    elif values.get("boot_dhcp_range_start") and values.get("boot_dhcp_range_end"):
        dhcp_range = (str(_literal(values, "boot_dhcp_range_start")),
                      str(_literal(values, "boot_dhcp_range_end")))
    tftp_file = expect.tftp_file or _literal(values, "pxe_boot_file") or "pxelinux.0"
    tftp_root = _literal(values, "tftp_root") or "/srv/tftp"
    tftp_path = expect.tftp_path or f"{str(tftp_root).rstrip('/')}/{tftp_file}"
    upstreams = values.get("ntp_upstream_servers")
    local = values.get("ntp_local_stratum")
    if expect.ntp_max_stratum is not None:
        stratum = expect.ntp_max_stratum
    elif not upstreams and isinstance(local, int):
        stratum = local  # no upstream: it serves its own clock at exactly this stratum
    else:
        stratum = MAX_SANE_STRATUM
    media = [m for m in values.get("ftp_media") or [] if isinstance(m, dict) and m.get("name")]
    ftp_file = expect.ftp_file or (f"media/{media[0]['name']}" if media else None)
    ftp_sha256 = expect.ftp_sha256
    if ftp_sha256 is None and ftp_file is not None:
        named = next((m for m in media if f"media/{m['name']}" == ftp_file), None)
        ftp_sha256 = str(named["sha256"]).lower() if named and named.get("sha256") else None
    hints = {k: values[k] for k in ("boot_interface", "tftp_root", "ftp_root", "ftp_pasv_min_port",
                                    "ftp_pasv_max_port", "ntp_allow_networks", "boot_service_manager")
             if k in values}
    return Expected(str(server), dhcp_range, str(tftp_file), tftp_path, int(stratum),
                    float(expect.ntp_max_offset), ftp_file, ftp_sha256, hints)


# ---------------------------------------------------------------------------
# Commands, as an operator types them on the probe host


def dhcp_command(interface: str) -> str:
    # -n: exit non-zero without a lease; -q: quit once leased; -s /bin/true:
    # configure nothing on the probe.
    return (f"busybox udhcpc -i {shlex.quote(interface)} -f -q -n -t {DHCP_TRIES} -T {DHCP_WAIT} "
            "-s /bin/true")


def _fetch_command(url: str, name: str, timeout: int) -> str:
    """Download into a fresh temporary dir, print its sha256, leave nothing."""
    return (f'd=$(mktemp -d) && curl -sS --connect-timeout {CONNECT_TIMEOUT} --max-time {timeout} '
            f'-o "$d"/{shlex.quote(name)} {shlex.quote(url)} && sha256sum "$d"/{shlex.quote(name)}; '
            'rc=$?; rm -rf "$d"; exit $rc')


def tftp_command(server: str, file: str) -> str:
    return _fetch_command(f"tftp://{server}/{file}", file.rsplit("/", 1)[-1], TFTP_TIMEOUT)


def ntp_command(server: str) -> str:
    return f"ntpdig -j -t {NTP_TIMEOUT} {shlex.quote(server)}"


def ftp_list_command(server: str, folder: str) -> str:
    url = f"ftp://{server}/{folder.strip('/')}/" if folder.strip("/") else f"ftp://{server}/"
    return (f"curl -sS --connect-timeout {CONNECT_TIMEOUT} --max-time {LIST_TIMEOUT} --list-only "
            f"{shlex.quote(url)}")


def ftp_get_command(server: str, file: str) -> str:
    return _fetch_command(f"ftp://{server}/{file}", file.rsplit("/", 1)[-1], FTP_TIMEOUT)


def hand_commands(exp: Expected, interface: str) -> list[str]:
    """Every probe command, in order (the plan's equivalent command)."""
    commands = [dhcp_command(interface), tftp_command(exp.server, exp.tftp_file),
                ntp_command(exp.server)]
    folder = exp.ftp_file.rsplit("/", 1)[0] if exp.ftp_file and "/" in exp.ftp_file else ""
    commands.append(ftp_list_command(exp.server, folder))
    if exp.ftp_file:
        commands.append(ftp_get_command(exp.server, exp.ftp_file))
    return commands


# ---------------------------------------------------------------------------
# Reading the answers


_LEASE = re.compile(r"lease of (\d+\.\d+\.\d+\.\d+) obtained from (\d+\.\d+\.\d+\.\d+)")
_SHA = re.compile(r"^([0-9a-f]{64})\s", re.MULTILINE)


def parse_lease(text: str) -> tuple[str, str] | None:
    """udhcpc's 'lease of A obtained from S': (A, S)."""
    found = _LEASE.search(text)
    return (found.group(1), found.group(2)) if found else None


def parse_sha256(text: str) -> str | None:
    found = _SHA.search(text)
    return found.group(1) if found else None


def parse_ntp(text: str) -> dict[str, Any] | None:
    """ntpdig -j: one JSON object per server answered; the first."""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                answer = json.loads(line)
            except ValueError:
                continue
            if isinstance(answer, dict):
                return answer
    return None


# What curl's exit codes mean for a probe (its own words are often cryptic).
_CURL = {6: "the address does not resolve", 7: "connection refused",
         28: f"no answer within {CONNECT_TIMEOUT} s (or the transfer did not finish in time)",
         67: "login refused", 78: "no such file on the server"}


def _failure(ran: Ran) -> str:
    said = _last_lines(ran.output(2000))
    meaning = _CURL.get(ran.status) if "curl" in said else None
    return f"exit {ran.status}: {meaning + ' — ' if meaning else ''}{said}"


def _last_lines(text: str, count: int = 3, width: int = 300) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    shown = " / ".join(lines[-count:]) or "nothing"
    return shown if len(shown) <= width else "…" + shown[-width:]


def in_range(address: str, first: str, last: str) -> bool:
    try:
        return (ipaddress.ip_address(first) <= ipaddress.ip_address(address)
                <= ipaddress.ip_address(last))
    except ValueError:
        return False


@dataclass(frozen=True)
class ProbeResult:
    service: str  # DHCP | TFTP | NTP | FTP
    ok: bool
    sent: str
    got: str
    look_at: str = ""

    def line(self) -> str:
        if self.ok:
            return f"✓ {self.service}: {self.got}"
        return f"✗ {self.service}: sent {self.sent}; got {self.got}; look at {self.look_at}"

    def to_state(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------
# The probes


@dataclass(frozen=True)
class Where:
    """Names for the messages: the probe host, its NIC, the target."""

    probe: str
    interface: str
    target: str


def probe_dhcp(run: Run, exp: Expected, where: Where) -> ProbeResult:
    sent = (f"DHCPDISCOVER from {where.probe}'s {where.interface} (busybox udhcpc, {DHCP_TRIES} tries "
            f"{DHCP_WAIT} s apart)")
    iface = exp.hints.get("boot_interface")
    look = (f"dnsmasq on {where.target}: is it running, and bound to the NIC on the boot network "
            f"(`interface=` in /etc/dnsmasq.d/*.conf"
            + (f"; the variables say boot_interface: {iface}" if iface else "") + ")? Is "
            f"{where.probe}'s {where.interface} on the same network as {exp.server}?")
    ran = run(dhcp_command(where.interface), DHCP_TRIES * DHCP_WAIT + 30)
    text = ran.output(4000)
    lease = parse_lease(text)
    if not ran.ok or lease is None:
        return ProbeResult("DHCP", False, sent, f"no offer (exit {ran.status}: {_last_lines(text)})",
                           look)
    address, server = lease
    if server != exp.server:
        return ProbeResult("DHCP", False, sent, f"an offer of {address} from {server}, not from "
                           f"{exp.server}", f"which DHCP server answers on the boot network: "
                           f"another one there ({server}) races {where.target}")
    if exp.dhcp_range is not None and not in_range(address, *exp.dhcp_range):
        first, last = exp.dhcp_range
        return ProbeResult("DHCP", False, sent, f"{address} from {server}, outside {first}-{last}",
                           f"`dhcp-range=` in /etc/dnsmasq.d/*.conf on {where.target} against "
                           "boot_dhcp_range_start/end in the variables")
    inside = f", inside {exp.dhcp_range[0]}-{exp.dhcp_range[1]}" if exp.dhcp_range else ""
    return ProbeResult("DHCP", True, sent, f"offer of {address} from {server}{inside}")


def probe_tftp(run: Run, exp: Expected, where: Where,
               target_sha256: Callable[[str], str | None]) -> ProbeResult:
    sent = f"a TFTP read request for {exp.tftp_file} to {exp.server} from {where.probe} (curl tftp://)"
    root = exp.hints.get("tftp_root", exp.tftp_path.rsplit("/", 1)[0])
    look = (f"dnsmasq's TFTP on {where.target}: `enable-tftp`, `tftp-root={root}`, and the file's owner "
            "(with tftp-secure it serves only files its own user owns)")
    ran = run(tftp_command(exp.server, exp.tftp_file), TFTP_TIMEOUT + 30)
    got = parse_sha256(ran.stdout)
    if not ran.ok or got is None:
        return ProbeResult("TFTP", False, sent, f"no file ({_failure(ran)})", look)
    try:
        want = target_sha256(exp.tftp_path)
    except Exception as exc:  # the target could not be asked: the probe proves nothing
        want, why = None, str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
    else:
        why = f"{exp.tftp_path} is not on the target"
    if want is None:
        return ProbeResult("TFTP", False, sent, f"{exp.tftp_file} with sha256 {got[:16]}…, but "
                           f"nothing to compare it with: {why}",
                           f"{where.target} over SSH (its key pinned) and {exp.tftp_path} there")
    if got != want:
        return ProbeResult("TFTP", False, sent, f"sha256 {got[:16]}…, the target's {exp.tftp_path} "
                           f"has {want[:16]}…", f"which server answered TFTP on {exp.server}, and "
                           f"{exp.tftp_path} on {where.target}")
    return ProbeResult("TFTP", True, sent, f"{exp.tftp_file} downloaded, sha256 {got[:16]}… equals "
                       f"the target's {exp.tftp_path}")


def probe_ntp(run: Run, exp: Expected, where: Where) -> ProbeResult:
    sent = f"an NTP client request to {exp.server} from {where.probe} (ntpdig, {NTP_TIMEOUT} s timeout)"
    look = (f"chronyd on {where.target}: `allow` for the boot subnet"
            + (f" (ntp_allow_networks: {exp.hints['ntp_allow_networks']})"
               if "ntp_allow_networks" in exp.hints else "")
            + ", `local stratum`, and its upstreams (`chronyc sources` there)")
    ran = run(ntp_command(exp.server), NTP_TIMEOUT + 30)
    answer = parse_ntp(ran.stdout)
    if not ran.ok or answer is None:
        return ProbeResult("NTP", False, sent, f"no answer (exit {ran.status}: "
                           f"{_last_lines(ran.output(2000))})", look)
    try:
        stratum = int(answer.get("stratum"))  # type: ignore[arg-type]
        offset = float(answer.get("offset"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ProbeResult("NTP", False, sent, f"an answer without stratum or offset: "
                           f"{json.dumps(answer)[:200]}", look)
    if not 1 <= stratum <= exp.ntp_max_stratum:
        return ProbeResult("NTP", False, sent, f"stratum {stratum} (want 1-{exp.ntp_max_stratum}; 16 "
                           "means unsynchronised)", look)
    if abs(offset) >= exp.ntp_max_offset:
        return ProbeResult("NTP", False, sent, f"stratum {stratum} but an offset of {offset:+.3f} s "
                           f"(want under {exp.ntp_max_offset:g} s)",
                           f"the clock of {where.target} and its upstreams (`chronyc tracking` there)")
    return ProbeResult("NTP", True, sent, f"stratum {stratum}, offset {offset * 1000:+.3f} ms")


def probe_ftp(run: Run, exp: Expected, where: Where) -> ProbeResult:
    root = exp.hints.get("ftp_root", "the FTP root")
    folder = exp.ftp_file.rsplit("/", 1)[0] if exp.ftp_file and "/" in exp.ftp_file else ""
    sent = f"an anonymous FTP listing of /{folder} on {exp.server} from {where.probe} (curl ftp://)"
    look = (f"vsftpd on {where.target}: `anonymous_enable`, `anon_root={root}`, passive ports"
            + (f" {exp.hints['ftp_pasv_min_port']}-{exp.hints['ftp_pasv_max_port']}"
               if "ftp_pasv_min_port" in exp.hints else "")
            + f", and the media under {root}")
    listed = run(ftp_list_command(exp.server, folder), LIST_TIMEOUT + 30)
    if not listed.ok:
        return ProbeResult("FTP", False, sent, f"no listing ({_failure(listed)})", look)
    names = listed.stdout.split()
    if exp.ftp_file is None:
        return ProbeResult("FTP", True, sent, f"listing of / ({len(names)} entries); no install "
                           "media declared (ftp_media), nothing downloaded")
    name = exp.ftp_file.rsplit("/", 1)[-1]
    if name not in names:
        return ProbeResult("FTP", False, sent, f"a listing without {name}: "
                           f"{' '.join(names[:10]) or 'empty'}", look)
    sent += f", then a download of {exp.ftp_file}"
    got = run(ftp_get_command(exp.server, exp.ftp_file), FTP_TIMEOUT + 30)
    digest = parse_sha256(got.stdout)
    if not got.ok or digest is None:
        return ProbeResult("FTP", False, sent, f"{name} listed but not downloaded ({_failure(got)})",
                           look)
    if exp.ftp_sha256 is None:
        return ProbeResult("FTP", True, sent, f"{name} listed and downloaded, sha256 {digest[:16]}… "
                           "(no sha256 in ftp_media or the site to compare with)")
    if digest != exp.ftp_sha256:
        return ProbeResult("FTP", False, sent, f"{name} with sha256 {digest[:16]}…, the variables say "
                           f"{exp.ftp_sha256[:16]}…", f"{root}/{exp.ftp_file} on {where.target} and "
                           "the media's url in ftp_media")
    return ProbeResult("FTP", True, sent, f"{name} listed and downloaded, sha256 {digest[:16]}… as "
                       "the variables say")


def missing_tools(run: Run) -> list[str]:
    ran = run("for t in " + " ".join(TOOLS) + "; do command -v $t >/dev/null || echo $t; done", 30)
    return ran.stdout.split()


def tool_missing(service: str, tool: str, where: Where) -> ProbeResult:
    return ProbeResult(service, False, "nothing", f"no `{tool}` on {where.probe}",
                       f"{where.probe}: install {tool} there (the probes need busybox, curl, ntpdig)")


def run_all(run: Run, exp: Expected, where: Where,
            target_sha256: Callable[[str], str | None],
            report: Callable[[ProbeResult], None]) -> list[ProbeResult]:
    """The four probes, each run whatever the others gave, in order."""
    missing = set(missing_tools(run))
    needs = {"DHCP": "busybox", "TFTP": "curl", "NTP": "ntpdig", "FTP": "curl"}
    probes: dict[str, Callable[[], ProbeResult]] = {
        "DHCP": lambda: probe_dhcp(run, exp, where),
        "TFTP": lambda: probe_tftp(run, exp, where, target_sha256),
        "NTP": lambda: probe_ntp(run, exp, where),
        "FTP": lambda: probe_ftp(run, exp, where),
    }
    results = []
    for service, probe in probes.items():
        result = tool_missing(service, needs[service], where) if needs[service] in missing else probe()
        report(result)
        results.append(result)
    return results
