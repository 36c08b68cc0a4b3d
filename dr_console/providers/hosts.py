"""A host reached over SSH (boot infrastructure, database hosts). Host keys
are pinned: only the site's known_hosts file is trusted, and an unknown or
changed key is refused. A host we cannot read is still listed, with the
reason, so it shows as UNKNOWN rather than disappearing."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import shlex
import socket
import time
from typing import Any

import paramiko

from dr_console import commandlog
from dr_console.errors import HostKeyError, ProviderError
from dr_console.model import Asset, asset_id
from dr_console.providers import Discovery
from dr_console.schema import Host

# paramiko logs every failed handshake at ERROR; with no handler configured
# Python would print those on stderr, across the TUI. The reason reaches the
# operator through the asset's problem instead.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

_MARK = "--dr-console--"
_COMMAND = "; ".join([
    "hostname",
    f"echo {shlex.quote(_MARK)}",
    "cat /etc/os-release 2>/dev/null",
    f"echo {shlex.quote(_MARK)}",
    "cat /proc/uptime 2>/dev/null",
])
_MAX_OUTPUT = 64 * 1024


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's form: 'ssh-ed25519 SHA256:…'."""
    digest = base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
    return f"{key.get_name()} SHA256:{digest}"


def known_hosts_name(address: str, port: int) -> str:
    return address if port == 22 else f"[{address}]:{port}"


class _RefuseUnknown(paramiko.RejectPolicy):
    """RejectPolicy with a reason an operator can act on."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str,
                         key: paramiko.PKey) -> None:
        raise HostKeyError(f"host key for {hostname} not in known_hosts: refused "
                           f"(server offers {fingerprint(key)})")


def format_uptime(seconds: float) -> str:
    minutes = int(seconds) // 60
    days, minutes = divmod(minutes, 1440)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m"


def parse_os_release(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            try:
                parts = shlex.split(value)
            except ValueError:
                parts = [value]
            values[key.strip()] = parts[0] if parts else ""
    return values


class HostProvider:
    provider = "host"

    def __init__(self, host: Host) -> None:
        self.host = host
        self.source = host.name
        self._name = known_hosts_name(host.address, host.port)

    @property
    def asset_id(self) -> str:
        return asset_id(self.source, "host", self.host.name)

    def discover(self) -> Discovery:
        found = Discovery(source=self.source, provider=self.provider)
        attributes = {
            "address": self.host.address,
            "port": str(self.host.port),
            "user": self.host.user,
            "roles": ",".join(self.host.roles),
        }
        try:
            attributes.update(self._probe())
        except ProviderError as exc:
            found.problems[self.asset_id] = str(exc)
        found.assets.append(Asset(
            id=self.asset_id, name=self.host.name, provider=self.provider, kind="host",
            source=self.source, tags=dict(self.host.tags), attributes=attributes,
        ))
        return found

    def _probe(self) -> dict[str, str]:
        output = self._run(_COMMAND)
        parts = output.split(_MARK + "\n")
        hostname = parts[0].strip() if parts else ""
        release = parse_os_release(parts[1]) if len(parts) > 1 else {}
        facts = {"hostname": hostname,
                 "os": release.get("PRETTY_NAME") or release.get("NAME", "")}
        if len(parts) > 2 and parts[2].split():
            with contextlib.suppress(ValueError):
                facts["uptime"] = format_uptime(float(parts[2].split()[0]))
        return facts

    def _run(self, command: str) -> str:
        host = self.host
        timeout = float(host.timeout)
        client = paramiko.SSHClient()
        try:
            # Only the site's pinned keys: never ~/.ssh/known_hosts, never
            # whatever key the server happens to offer.
            client.load_host_keys(str(host.known_hosts))
        except OSError as exc:
            raise ProviderError(f"cannot read known_hosts {host.known_hosts}: "
                                f"{exc.strerror or exc}") from None
        client.set_missing_host_key_policy(_RefuseUnknown())
        start = time.monotonic()
        try:
            client.connect(
                hostname=host.address, port=host.port, username=host.user,
                key_filename=str(host.key_file), timeout=timeout, banner_timeout=timeout,
                auth_timeout=timeout, channel_timeout=timeout,
                look_for_keys=False, allow_agent=False,
            )
            commandlog.ssh(f"{host.user}@{host.address}:{host.port}", command)
            _stdin, stdout, _stderr = client.exec_command(command, timeout=timeout)
            data = stdout.read(_MAX_OUTPUT)
            return data.decode("utf-8", "replace")
        except HostKeyError:
            raise
        except paramiko.BadHostKeyException as exc:
            raise HostKeyError(
                f"host key CHANGED for {self._name} (server offers {fingerprint(exc.key)}, "
                f"known_hosts has {fingerprint(exc.expected_key)}): refused"
            ) from None
        except Exception as exc:
            raise ProviderError(self._reason(exc, time.monotonic() - start)) from None
        finally:
            client.close()

    def _reason(self, exc: Any, elapsed: float = 0.0) -> str:
        where = f"ssh {self.host.user}@{self._name}"
        # paramiko reports a handshake that never came in several ways
        # (banner error, "Negotiation failed", "No existing session"),
        # depending on which of its threads notices first.
        timed_out = elapsed >= 0.9 * self.host.timeout
        if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
            return f"{where}: connection refused"
        if isinstance(exc, socket.timeout | TimeoutError):
            return f"{where}: no answer within {self.host.timeout}s"
        if isinstance(exc, paramiko.PasswordRequiredException):
            return f"{where}: key file {self.host.key_file} is encrypted (no passphrase support)"
        if isinstance(exc, paramiko.AuthenticationException):
            return f"{where}: authentication failed with key {self.host.key_file}"
        if isinstance(exc, FileNotFoundError):
            return f"{where}: key file {self.host.key_file} not found"
        if isinstance(exc, OSError):
            return f"{where}: {exc.strerror or type(exc).__name__}"
        if isinstance(exc, paramiko.SSHException):
            if timed_out or "banner" in str(exc):
                return f"{where}: no answer within {self.host.timeout}s (SSH handshake)"
            return f"{where}: {str(exc)[:160] or 'SSH error'}"
        return f"{where}: {type(exc).__name__}"
