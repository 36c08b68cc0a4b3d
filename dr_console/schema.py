"""The site file's schema: what each section may hold, its types and
defaults, and the checks one entry can make on itself. Plain pydantic
models, no file or YAML reading (that is `dr_console.config`), so the
policy and the presentation can import it without any I/O.

The site file holds only what the ecosystem's own configuration does not:
OpenStack credentials stay in clouds.yaml, AWS credentials in profiles or
the environment, passwords in files or environment variables.
"""

from __future__ import annotations

import fnmatch
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from dr_console.errors import DrConsoleError, LocationError
from dr_console.humanize import parse_duration
from dr_console.model import AssetClass, Strategy

Duration = Annotated[int, BeforeValidator(parse_duration)]


def parse_location(location: str) -> tuple[str, str]:
    """'s3://bucket/key' -> (bucket, key)."""
    bucket, _, key = location.removeprefix("s3://").partition("/")
    if not location.startswith("s3://") or not bucket or not key:
        raise LocationError(f"not an s3://bucket/key location: {location!r}")
    return bucket, key


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Secret:
    """A password read on demand; never printed."""

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


class SecretRef(_Strict):
    """Where a password lives: a file (first line) or an environment variable."""

    password_file: Path | None = None
    password_env: str | None = None

    def load_secret(self) -> Secret | None:
        if self.password_file is not None:
            try:
                text = self.password_file.read_text().splitlines()
            except OSError as exc:
                raise OSError(f"cannot read password file {self.password_file}: "
                              f"{exc.strerror}") from None
            return Secret(text[0] if text else "")
        if self.password_env is not None:
            value = os.environ.get(self.password_env)
            if value is None:
                raise OSError(f"environment variable {self.password_env} is not set")
            return Secret(value)
        return None


class OpenStackCloud(_Strict):
    type: Literal["openstack"]
    name: str
    cloud: str = Field(description="entry name in clouds.yaml")
    clouds_yaml: Path | None = None
    timeout: Duration = 20
    # An admin entry of the same clouds.yaml, used only for a volume's
    # reset-state (a typed, explained step; never automatic).
    admin_cloud: str | None = None


class AwsCloud(_Strict):
    type: Literal["aws"]
    name: str
    region: str = "us-east-1"
    profile: str | None = None
    endpoint_url: str | None = None
    credentials_file: Path | None = None
    services: list[Literal["ec2", "rds", "s3"]] = ["ec2", "rds", "s3"]
    timeout: Duration = 20


Cloud = Annotated[OpenStackCloud | AwsCloud, Field(discriminator="type")]


class Store(_Strict):
    """An S3-compatible bucket where backups land."""

    name: str
    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str = "us-east-1"
    profile: str | None = None
    credentials_file: Path | None = None
    timeout: Duration = 20


class VolumeRef(_Strict):
    cloud: str
    volume: str


class MySQLServer(SecretRef):
    name: str
    host: str = "127.0.0.1"
    port: int = Field(3306, ge=1, le=65535)
    user: str
    databases: list[str] | None = None  # glob patterns; None = every user database
    exclude: list[str] = []
    # The platform snapshot that holds this server's data: its snapshots are
    # the "fast snapshot" strategy for every database on the server.
    snapshot_volume: VolumeRef | None = None
    timeout: Duration = 10
    # Restores write (CREATE DATABASE, RENAME TABLE); the backup user above
    # should stay read-only, so restores may use their own account.
    restore_user: str | None = None
    restore_password_file: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_inline_password(cls, data: Any) -> Any:
        if isinstance(data, dict) and "password" in data:
            raise ValueError(
                "inline passwords are not accepted: use password_file or password_env"
            )
        if isinstance(data, dict) and "restore_password" in data:
            raise ValueError("inline passwords are not accepted: use restore_password_file")
        return data

    @model_validator(mode="after")
    def _restore_pair(self) -> MySQLServer:
        if self.restore_password_file is not None and self.restore_user is None:
            raise ValueError("restore_password_file needs restore_user")
        return self

    def restore_credentials(self) -> tuple[str, Secret | None]:
        """User and password for restores: the restore account if the site
        names one, else the backup account."""
        if self.restore_user is None:
            return self.user, self.load_secret()
        if self.restore_password_file is None:
            return self.restore_user, None
        return self.restore_user, SecretRef(password_file=self.restore_password_file).load_secret()

    def includes(self, database: str) -> bool:
        if any(fnmatch.fnmatchcase(database, pat) for pat in self.exclude):
            return False
        if self.databases is None:
            return True
        return any(fnmatch.fnmatchcase(database, pat) for pat in self.databases)


class ServerRef(_Strict):
    """A server of one of the site's clouds, by name or id."""

    cloud: str
    name: str


class Host(_Strict):
    """A host reached over SSH: boot infrastructure, database hosts, and the
    servers whose restored volumes are checked from inside."""

    name: str
    address: str
    port: int = Field(22, ge=1, le=65535)
    user: str = "root"
    key_file: Path
    known_hosts: Path
    roles: list[str] = []
    tags: dict[str, str] = {}
    timeout: Duration = 10
    # This host IS that cloud server: a volume attached to the server is
    # found, checked and mounted over SSH here.
    server: ServerRef | None = None


class VolumeChecks(_Strict):
    """What proves a restored filesystem whole, checked on a read-only mount.
    `{volume}` in a path stands for the volume's name."""

    files: list[str] = []  # must exist, relative to the filesystem's root
    sha256_list: str | None = None  # a `sha256sum` list on this machine, relative to the site file
    command: str | None = None  # run in the mounted filesystem's root; exit 0 passes


class PayloadRule(_Strict):
    """How payload volumes come back: the first rule whose `volumes` match
    (names or ids, globs) applies."""

    volumes: list[str]
    cloud: str | None = None  # only volumes of this cloud
    server: str | None = None  # where it comes back (default: the server it is attached to)
    mount: str | None = None  # the final mount point, e.g. /srv/{volume}
    mount_options: str = "defaults"
    fstab: bool = False  # add an fstab line, by UUID, for the final mount
    checks: VolumeChecks = VolumeChecks()
    line: int = 0  # filled in by the loader

    def covers(self, cloud: str, name: str, volume_id: str) -> bool:
        if self.cloud is not None and self.cloud != cloud:
            return False
        return any(fnmatch.fnmatchcase(name, pat) or fnmatch.fnmatchcase(volume_id, pat)
                   for pat in self.volumes)


class BootExpect(_Strict):
    """What the boot-infra probes expect where the playbooks' variables do
    not say it, or where a site wants it fixed (a value here wins)."""

    server: str | None = None  # the address the services answer on (default: boot_server)
    dhcp_range: list[str] | None = Field(None, min_length=2, max_length=2)  # [first, last]
    tftp_file: str | None = None  # default: pxe_boot_file
    tftp_path: str | None = None  # the file on the target (default: <tftp_root>/<tftp_file>)
    ntp_max_stratum: int | None = Field(None, ge=1, le=15)
    ntp_max_offset: float = Field(1.0, gt=0)  # seconds
    ftp_file: str | None = None  # under the FTP root (default: media/<first of ftp_media>)
    ftp_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")


class BootHost(_Strict):
    """How a boot host (hosts[].name) is rebuilt by the boot-infra runbook:
    which playbooks, with which of the site's values, proven from where."""

    host: str
    playbooks: str | None = None  # a declared repo whose git bundle holds them (default: the only one)
    playbook: str = "boot-infra.yml"
    group: str = "boot_infra"  # the group the playbook targets
    vars_file: Path | None = None  # the site's values: host vars for the rebuild
    vars: dict[str, Any] = {}  # more host vars, over vars_file's
    known_hosts: Path | None = None  # where a rebuilt target's key is pinned (default: the host's)
    probe: str | None = None  # a host on the boot network (default: the only one with role probe)
    probe_interface: str = "eth0"
    etc_files: list[str] = []  # /etc files restored beside the ones the roles write
    # Extra vars for an apply after one that did not finish: a daemon whose
    # config an interrupted run changed was never restarted, and the next run
    # sees no change. The roles in playbooks/ restart every daemon with this.
    restart_vars: dict[str, Any] = {"boot_service_state": "restarted"}
    expect: BootExpect = BootExpect()
    line: int = 0  # filled in by the loader

    @field_validator("etc_files")
    @classmethod
    def _under_etc(cls, value: list[str]) -> list[str]:
        bad = [f for f in value if not f.lstrip("/").startswith("etc/") or ".." in f.split("/")]
        if bad:
            raise ValueError(f"etc_files must be files under /etc (got {', '.join(bad)})")
        return ["/" + f.lstrip("/") for f in value]


class DeclaredAsset(_Strict):
    """An asset no API lists, such as the git repository of the playbooks."""

    name: str
    kind: str
    tags: dict[str, str] = {}
    description: str = ""


class CopyPattern(_Strict):
    """Maps objects in a store to assets, so dumps made by any tool count."""

    store: str
    pattern: str
    kind: str
    strategy: Strategy = Strategy.EXPORT
    asset_kind: str | None = None

    @field_validator("pattern")
    @classmethod
    def _has_asset(cls, value: str) -> str:
        if "{asset}" not in value:
            raise ValueError("pattern must contain {asset}")
        unknown = set(re.findall(r"\{(\w*)\}", value)) - {"asset", "timestamp", "any"}
        if unknown:
            raise ValueError(f"unknown placeholder(s) {sorted(unknown)}; "
                             "use {asset}, {timestamp}, {any}")
        return value

    def listing_prefix(self, asset: str) -> str:
        """The literal start of the keys this pattern gives `asset`'s copies
        (up to its first wildcard): listing only that is cheap."""
        text = self.pattern.replace("{asset}", asset)
        cut = min((i for i in (text.find("{"), text.find("*")) if i >= 0), default=len(text))
        return text[:cut]

    def regex(self) -> re.Pattern[str]:
        out = []
        seen: set[str] = set()
        for piece in re.split(r"(\{\w+\}|\*)", self.pattern):
            if piece in ("{asset}", "{timestamp}") and piece in seen:
                out.append(f"(?P={piece[1:-1]})")  # a repeat must say the same thing
            elif piece == "{asset}":
                out.append(r"(?P<asset>[^/]+?)")
            elif piece == "{timestamp}":
                out.append(r"(?P<timestamp>\d{4}-?\d{2}-?\d{2}(?:[T_-]?\d{2}:?\d{2}:?\d{2})?Z?)")
            elif piece in ("{any}", "*"):
                out.append(r"[^/]*")
            else:
                out.append(re.escape(piece))
            seen.add(piece)
        return re.compile("^" + "".join(out) + "$")


class Match(_Strict):
    provider: list[str] | None = None
    kind: list[str] | None = None
    name: list[str] | None = None  # glob patterns
    source: list[str] | None = None
    tags: dict[str, str] | None = None  # value "*" means "tag present"

    @model_validator(mode="before")
    @classmethod
    def _scalars_to_lists(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: [v] if k != "tags" and isinstance(v, str) else v for k, v in data.items()}
        return data


class Rule(_Strict):
    name: str
    asset_class: AssetClass = Field(alias="class")
    match: Match
    line: int = 0  # filled in by the loader, so a classification can cite it

    @field_validator("asset_class", mode="before")
    @classmethod
    def _backup_class(cls, value: Any) -> Any:
        names = [c.value for c in AssetClass.backup_classes()]
        if value not in names:
            raise ValueError(f"class must be one of: {', '.join(names)} (got {value!r})")
        return value

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


_DEFAULT_RPO = {
    AssetClass.BOOT_INFRA: 7 * 86400,
    AssetClass.METADATA: 86400,
    AssetClass.PAYLOAD: 86400,
}


class Rpo(_Strict):
    boot_infra: Duration = Field(_DEFAULT_RPO[AssetClass.BOOT_INFRA], alias="boot-infra")
    metadata: Duration = _DEFAULT_RPO[AssetClass.METADATA]
    payload: Duration = _DEFAULT_RPO[AssetClass.PAYLOAD]

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def for_class(self, asset_class: AssetClass) -> int | None:
        return {
            AssetClass.BOOT_INFRA: self.boot_infra,
            AssetClass.METADATA: self.metadata,
            AssetClass.PAYLOAD: self.payload,
        }.get(asset_class)


class Rto(_Strict):
    """How long each class's recovery may take (a target the drills measure
    against); none set means no target."""

    boot_infra: Duration | None = Field(None, alias="boot-infra")
    metadata: Duration | None = None
    payload: Duration | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def for_class(self, asset_class: AssetClass) -> int | None:
        return {
            AssetClass.BOOT_INFRA: self.boot_infra,
            AssetClass.METADATA: self.metadata,
            AssetClass.PAYLOAD: self.payload,
        }.get(asset_class)


class ScratchBootHost(_Strict):
    """A bare host a boot-infra drill rebuilds a boot host on: on a boot
    network of its own (nothing it serves may reach the live one), made bare
    again after every drill."""

    target: str  # ADDRESS[:PORT] of its sshd, as `run boot-infra --target` takes it
    # Run on this machine: prints the scratch host's host key fingerprint
    # (SHA256:…), read out of band (its console, the hypervisor, the lab's
    # state). Without it a drill cannot pin the key and refuses to go on.
    fingerprint_command: str | None = None
    # Run on this machine after every drill, whatever happened: makes the
    # scratch host bare again (reinstall, snapshot revert, the lab's bare-reset).
    reset_command: str | None = None


class Drills(_Strict):
    """Where drills restore to, never a live target, and how they smoke-test."""

    # cloud name -> a server drills attach their restored volumes to
    scratch_servers: dict[str, str] = {}
    # boot host name (hosts[].name) -> the scratch host its drill rebuilds it on
    boot_hosts: dict[str, ScratchBootHost] = {}
    # database -> a command run on this machine against the restored scratch
    # schema ({schema}, {db}, {host}, {port}, {site_dir}, {defaults_file}: a
    # 0600 client option file with the restore account); exit 0: the service works.
    smoke: dict[str, str] = {}


class Site(_Strict):
    site: str
    description: str = ""
    clouds: list[Cloud] = []
    stores: list[Store] = []
    mysql: list[MySQLServer] = []
    hosts: list[Host] = []
    declared: list[DeclaredAsset] = []
    copies: list[CopyPattern] = []
    rules: list[Rule] = []
    rpo: Rpo = Rpo()
    rto: Rto = Rto()
    payload: list[PayloadRule] = []
    drills: Drills = Drills()
    boot: list[BootHost] = []
    # Where the file came from; set by the loader, not by the operator.
    path: Path = Path("site.yaml")

    def payload_rule(self, cloud: str, name: str, volume_id: str) -> PayloadRule | None:
        return next((r for r in self.payload if r.covers(cloud, name, volume_id)), None)

    def boot_host(self, name: str) -> BootHost:
        """How this boot host is rebuilt: its `boot:` entry, or the defaults."""
        return next((b for b in self.boot if b.host == name), BootHost(host=name))

    def host_of_server(self, cloud: str, names: tuple[str, ...]) -> Host | None:
        """The host declared as this cloud server (by any of its names or ids)."""
        return next((h for h in self.hosts if h.server is not None and h.server.cloud == cloud
                     and h.server.name in names), None)

    def resolve(self, relative: str) -> Path:
        """A path from the site file, relative to the site file's folder."""
        path = Path(relative).expanduser()
        return path if path.is_absolute() else Path(self.path).parent / path

    def store(self, name: str) -> Store:
        return next(s for s in self.stores if s.name == name)

    def store_for(self, location: str) -> tuple[Store, str]:
        """The store holding `s3://bucket/key`, and the key. When two stores
        share a bucket, the one with the longest prefix the key starts with."""
        bucket, key = parse_location(location)
        stores = [s for s in self.stores if s.bucket == bucket and key.startswith(s.prefix)]
        if not stores:
            known = ", ".join(f"{s.name} (s3://{s.bucket}/{s.prefix})" for s in self.stores) or "none"
            raise LocationError(f"{location} is in no store of {self.path} (stores: {known})")
        return max(stores, key=lambda s: len(s.prefix)), key

    def cloud(self, name: str) -> OpenStackCloud | AwsCloud:
        return next(c for c in self.clouds if c.name == name)

    def mysql_server(self, database: str, name: str | None = None) -> MySQLServer:
        """The server named `name`, or else the only one whose databases
        include `database`."""
        if name is not None:
            for server in self.mysql:
                if server.name == name:
                    return server
            known = ", ".join(s.name for s in self.mysql) or "none"
            raise DrConsoleError(f"no mysql server {name!r} in {self.path} (servers: {known})")
        candidates = [s for s in self.mysql if s.includes(database)]
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            raise DrConsoleError(f"no mysql server in {self.path} covers database {database!r}")
        names = ", ".join(s.name for s in candidates)
        raise DrConsoleError(f"several servers may hold {database!r} ({names}): choose one with --server")


