"""A host reached over SSH (boot infrastructure, database hosts). Host keys
are pinned: only the site's known_hosts file is trusted, and an unknown or
changed key is refused. A host we cannot read is still listed, with the
reason, so it shows as UNKNOWN rather than disappearing."""

from __future__ import annotations

import contextlib
import shlex

from dr_console import ssh
from dr_console.errors import ProviderError
from dr_console.model import Asset, asset_id
from dr_console.providers import Discovery
from dr_console.schema import Host

_MARK = "--dr-console--"
_COMMAND = "; ".join([
    "hostname",
    f"echo {shlex.quote(_MARK)}",
    "cat /etc/os-release 2>/dev/null",
    f"echo {shlex.quote(_MARK)}",
    "cat /proc/uptime 2>/dev/null",
])


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
        target = ssh.Target.from_host(self.host)
        client = ssh.connect(target)
        try:
            return ssh.run(client, target, command, timeout=float(self.host.timeout)).stdout
        finally:
            client.close()
