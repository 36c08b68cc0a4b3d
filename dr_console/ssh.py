"""One way to reach a host over SSH: for the inventory, the host backups and
the runbooks alike. Host keys are pinned: only the site's known_hosts file
is trusted (never ~/.ssh/known_hosts, never AutoAddPolicy); an unknown or
changed key is refused with the fingerprint the server offered. A rebuilt
host's new key is pinned only through `offered_key` + `pin`, after the
operator has seen and confirmed its fingerprint.

Every command run is recorded in the command log."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import shlex
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko

from dr_console import commandlog
from dr_console.errors import HostKeyError, ProviderError
from dr_console.schema import Host

# paramiko logs every failed handshake at ERROR; with no handler configured
# Python would print those on stderr, across the console. The reason reaches
# the operator in our own words instead.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

MAX_OUTPUT = 1024 * 1024


class SSHError(ProviderError):
    """The host could not be reached, refused us, or a command failed."""


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's form: 'ssh-ed25519 SHA256:…'."""
    digest = base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
    return f"{key.get_name()} SHA256:{digest}"


def known_hosts_name(address: str, port: int) -> str:
    return address if port == 22 else f"[{address}]:{port}"


@dataclass(frozen=True)
class Target:
    """Where and as whom: a site-file host, or an address a runbook was given."""

    name: str
    address: str
    port: int
    user: str
    key_file: Path
    known_hosts: Path
    timeout: float = 10.0

    @classmethod
    def from_host(cls, host: Host, *, address: str | None = None, port: int | None = None) -> Target:
        return cls(host.name, address or host.address, port or host.port, host.user, host.key_file,
                   host.known_hosts, float(host.timeout))

    @property
    def where(self) -> str:
        return f"ssh {self.user}@{known_hosts_name(self.address, self.port)}"

    @property
    def log_target(self) -> str:
        return f"{self.user}@{self.address}:{self.port}"


class _RefuseUnknown(paramiko.RejectPolicy):
    """RejectPolicy with a reason an operator can act on."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str,
                         key: paramiko.PKey) -> None:
        raise HostKeyError(f"host key for {hostname} is not in the pinned known_hosts: refused "
                           f"(the server offers {fingerprint(key)})")


def connect(target: Target) -> paramiko.SSHClient:
    """An authenticated client; HostKeyError or SSHError otherwise."""
    client = paramiko.SSHClient()
    try:
        client.load_host_keys(str(target.known_hosts))
    except OSError as exc:
        raise SSHError(f"{target.where}: cannot read known_hosts {target.known_hosts}: "
                       f"{exc.strerror or exc}") from None
    client.set_missing_host_key_policy(_RefuseUnknown())
    start = time.monotonic()
    try:
        client.connect(
            hostname=target.address, port=target.port, username=target.user,
            key_filename=str(target.key_file), timeout=target.timeout,
            banner_timeout=target.timeout, auth_timeout=target.timeout,
            channel_timeout=target.timeout, look_for_keys=False, allow_agent=False,
        )
    except HostKeyError:
        client.close()
        raise
    except paramiko.BadHostKeyException as exc:
        client.close()
        raise HostKeyError(
            f"host key CHANGED for {known_hosts_name(target.address, target.port)} (the server "
            f"offers {fingerprint(exc.key)}, known_hosts has {fingerprint(exc.expected_key)}): "
            "refused. If the host was rebuilt, check the new key out of band and pin it") from None
    except Exception as exc:
        client.close()
        raise SSHError(_reason(target, exc, time.monotonic() - start)) from None
    return client


def _reason(target: Target, exc: BaseException, elapsed: float) -> str:
    where = target.where
    # paramiko reports a handshake that never came in several ways (banner
    # error, "Negotiation failed", "No existing session"), depending on
    # which of its threads notices first.
    timed_out = elapsed >= 0.9 * target.timeout
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        return f"{where}: connection refused"
    if isinstance(exc, socket.timeout | TimeoutError):
        return f"{where}: no answer within {target.timeout:g}s"
    if isinstance(exc, paramiko.PasswordRequiredException):
        return f"{where}: key file {target.key_file} is encrypted (no passphrase support)"
    if isinstance(exc, paramiko.AuthenticationException):
        return f"{where}: the host refused key {target.key_file} for user {target.user}"
    if isinstance(exc, FileNotFoundError):
        return f"{where}: key file {target.key_file} not found"
    if isinstance(exc, OSError):
        return f"{where}: cannot connect ({exc.strerror or 'network error'})"
    if isinstance(exc, paramiko.SSHException):
        if timed_out or "banner" in str(exc):
            return f"{where}: no answer within {target.timeout:g}s (SSH handshake)"
        return f"{where}: {str(exc)[:160] or 'SSH error'}"
    return f"{where}: SSH failed"


@dataclass(frozen=True)
class Completed:
    command: str
    status: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.status == 0

    def output(self, limit: int = 2000) -> str:
        """stdout and stderr, for a log or a message, the end kept if long."""
        text = (self.stdout + ("\n" if self.stdout and self.stderr else "") + self.stderr).strip()
        return text if len(text) <= limit else "…" + text[-limit:]


def run(client: paramiko.SSHClient, target: Target, command: str, *,
        timeout: float | None = None, check: bool = False, stdin: bytes | None = None) -> Completed:
    """Run one command; with `check`, a non-zero exit is an SSHError naming
    the command and what it printed."""
    commandlog.ssh(target.log_target, command)
    wait = timeout if timeout is not None else max(target.timeout, 60.0)
    try:
        channel_in, channel_out, channel_err = client.exec_command(command, timeout=wait)
        if stdin is not None:
            channel_in.write(stdin)
            channel_in.channel.shutdown_write()
        out = channel_out.read(MAX_OUTPUT).decode("utf-8", "replace")
        err = channel_err.read(MAX_OUTPUT).decode("utf-8", "replace")
        status = channel_out.channel.recv_exit_status()
    except TimeoutError:
        raise SSHError(f"{target.where}: `{command}` gave no answer within {wait:g}s") from None
    except paramiko.SSHException as exc:
        raise SSHError(f"{target.where}: the session broke during `{command}` ({exc})") from None
    result = Completed(command, status, out, err)
    if check and not result.ok:
        raise SSHError(f"{target.where}: `{command}` failed (exit {status}): {result.output(600)}")
    return result


def quote(*words: str) -> str:
    return " ".join(shlex.quote(w) for w in words)


# ---------------------------------------------------------------------------
# First contact with a rebuilt host


def offered_key(address: str, port: int, timeout: float = 10.0) -> paramiko.PKey:
    """The host key a server offers, fetched without trusting it and
    without authenticating: shown to the operator before it is pinned."""
    try:
        sock = socket.create_connection((address, port), timeout=timeout)
    except OSError as exc:
        raise SSHError(f"ssh {known_hosts_name(address, port)}: cannot connect "
                       f"({exc.strerror or 'network error'})") from None
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = timeout
        transport.start_client(timeout=timeout)
        key: paramiko.PKey = transport.get_remote_server_key()
        return key
    except (paramiko.SSHException, OSError) as exc:
        raise SSHError(f"ssh {known_hosts_name(address, port)}: no SSH handshake ({exc})") from None
    finally:
        transport.close()


def pinned_key(known_hosts: Path, address: str, port: int) -> paramiko.PKey | None:
    """The key pinned for this address, if any."""
    keys = paramiko.HostKeys()
    if known_hosts.exists():
        keys.load(str(known_hosts))
    entry: Any = keys.lookup(known_hosts_name(address, port))
    if not entry:
        return None
    return next(iter(entry.values()))  # type: ignore[no-any-return]


def pin(known_hosts: Path, address: str, port: int, key: paramiko.PKey) -> None:
    """Append the key to known_hosts (0600), replacing an older line for the
    same address. Called only after the operator confirmed the fingerprint."""
    name = known_hosts_name(address, port)
    lines = known_hosts.read_text().splitlines() if known_hosts.exists() else []
    kept = [line for line in lines if name not in line.split(" ", 1)[0].split(",")]
    kept.append(f"{name} {key.get_name()} {key.get_base64()}")
    known_hosts.parent.mkdir(parents=True, exist_ok=True)
    tmp = known_hosts.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("\n".join(kept) + "\n")
    tmp.replace(known_hosts)
