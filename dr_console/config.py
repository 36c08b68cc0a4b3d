"""The site file: schema, loader, and errors that name file, line and key.

The site file holds only what the ecosystem's own configuration does not:
OpenStack credentials stay in clouds.yaml, AWS credentials in profiles or
the environment, passwords in files or environment variables.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from dr_console.errors import SiteFileError
from dr_console.model import AssetClass, Strategy

SITE_ENV = "DR_CONSOLE_SITE"

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> int:
    """'90m', '24h', '7d', '2w' or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 24h, 7d or 90m")
    if isinstance(value, int):
        return value
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"expected a duration such as 24h, 7d or 90m, got {value!r}")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


Duration = Annotated[int, BeforeValidator(parse_duration)]


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


class Host(_Strict):
    """A host reached over SSH: boot infrastructure, database hosts."""

    name: str
    address: str
    port: int = Field(22, ge=1, le=65535)
    user: str = "root"
    key_file: Path
    known_hosts: Path
    roles: list[str] = []
    tags: dict[str, str] = {}
    timeout: Duration = 10


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
    # Where the file came from; set by the loader, not by the operator.
    path: Path = Path("site.yaml")

    def store(self, name: str) -> Store:
        return next(s for s in self.stores if s.name == name)

    def cloud(self, name: str) -> OpenStackCloud | AwsCloud:
        return next(c for c in self.clouds if c.name == name)


# --------------------------------------------------------------------------
# Loading


def default_site_path() -> Path:
    from dr_console.locations import config_dir

    env = os.environ.get(SITE_ENV)
    if env:
        return Path(env)
    return config_dir() / "site.yaml"


def load_site(path: str | os.PathLike[str] | None = None) -> Site:
    """Read and validate a site file. Raises SiteFileError naming file,
    line and key for anything wrong."""
    site_path = Path(path) if path is not None else default_site_path()
    shown = str(site_path)
    try:
        text = site_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        hint = "" if path else f" (set --site or ${SITE_ENV})"
        raise SiteFileError(shown, None, "", f"site file not found{hint}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SiteFileError(shown, None, "", f"cannot read site file: {exc}") from None

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise SiteFileError(shown, line, "", f"invalid YAML: {exc.problem}") from None
    if root is None:
        raise SiteFileError(shown, None, "", "site file is empty")
    if not isinstance(root, yaml.MappingNode):
        raise SiteFileError(shown, root.start_mark.line + 1, "", "top level must be a mapping")
    _reject_duplicate_keys(root, shown)
    data = yaml.SafeLoader(text).get_single_data()

    base = site_path.parent
    try:
        site = Site.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        key, line = _locate(root, loc)
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required key is missing"
        elif err["type"] == "union_tag_invalid":
            msg = f"type must be one of: openstack, aws (got {err['input'].get('type')!r})"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        elif err["type"] == "enum":
            msg = f"{msg} (got {err['input']!r})"
        raise SiteFileError(shown, line, key, msg) from None

    site = _with_lines_and_paths(site, root, base, site_path)
    _check_references(site, root, shown)
    return site


def _reject_duplicate_keys(node: yaml.Node, shown: str, path: str = "") -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = f"{path}.{key}" if path else key
            if key in seen:
                raise SiteFileError(shown, key_node.start_mark.line + 1, child, "duplicate key")
            seen.add(key)
            _reject_duplicate_keys(value_node, shown, child)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _reject_duplicate_keys(item, shown, f"{path}[{index}]")


def _locate(root: yaml.Node, loc: tuple[Any, ...]) -> tuple[str, int]:
    """Follow a pydantic error location through the YAML node tree; return
    the dotted key and the line of the deepest node that exists."""
    node: yaml.Node = root
    key = ""
    line = root.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
            key += f"[{part}]"
            line = node.start_mark.line + 1
        elif isinstance(node, yaml.MappingNode) and isinstance(part, str):
            found = _mapping_child(node, part)
            if found is None:
                # A discriminator tag ("openstack") or a missing key: the
                # former is skipped, the latter named on its parent's line.
                if part in ("openstack", "aws", "function-before", "function-after"):
                    continue
                key = f"{key}.{part}" if key else part
                break
            key_node, node = found
            key = f"{key}.{part}" if key else part
            line = key_node.start_mark.line + 1
        else:
            continue
    return key, line


def _mapping_child(node: yaml.MappingNode, name: str) -> tuple[yaml.Node, yaml.Node] | None:
    for key_node, value_node in node.value:
        if str(key_node.value) == name:
            return key_node, value_node
    return None


def _items(root: yaml.MappingNode, section: str) -> Iterator[yaml.Node | None]:
    found = _mapping_child(root, section)
    if found and isinstance(found[1], yaml.SequenceNode):
        yield from found[1].value
    else:
        while True:
            yield None


def _line_of(root: yaml.Node, *loc: Any) -> int:
    return _locate(root, loc)[1]


def _with_lines_and_paths(site: Site, root: yaml.MappingNode, base: Path, path: Path) -> Site:
    """Record each rule's line, and resolve relative paths against the site
    file's folder (so a site file works wherever it is run from)."""

    def resolve(p: Path | None) -> Path | None:
        if p is None:
            return None
        p = p.expanduser()
        return p if p.is_absolute() else (base / p)

    rules = [
        rule.model_copy(update={"line": _line_of(root, "rules", i)})
        for i, rule in enumerate(site.rules)
    ]
    clouds = [
        c.model_copy(update={"clouds_yaml": resolve(c.clouds_yaml)})
        if isinstance(c, OpenStackCloud)
        else c.model_copy(update={"credentials_file": resolve(c.credentials_file)})
        for c in site.clouds
    ]
    stores = [s.model_copy(update={"credentials_file": resolve(s.credentials_file)})
              for s in site.stores]
    mysql = [m.model_copy(update={"password_file": resolve(m.password_file),
                                  "restore_password_file": resolve(m.restore_password_file)})
             for m in site.mysql]
    hosts = [
        h.model_copy(update={"key_file": resolve(h.key_file), "known_hosts": resolve(h.known_hosts)})
        for h in site.hosts
    ]
    return site.model_copy(update={
        "rules": rules, "clouds": clouds, "stores": stores, "mysql": mysql,
        "hosts": hosts, "path": path,
    })


def _check_references(site: Site, root: yaml.MappingNode, shown: str) -> None:
    """What pydantic cannot see: unique names, references between sections,
    files that must exist."""
    names: dict[str, str] = {}
    for section in ("clouds", "stores", "mysql", "hosts", "declared"):
        for index, entry in enumerate(getattr(site, section)):
            if entry.name in names:
                raise SiteFileError(
                    shown, _line_of(root, section, index, "name"), f"{section}[{index}].name",
                    f"name {entry.name!r} is already used in {names[entry.name]}",
                )
            names[entry.name] = section

    store_names = {s.name for s in site.stores}
    for index, pattern in enumerate(site.copies):
        if pattern.store not in store_names:
            raise SiteFileError(
                shown, _line_of(root, "copies", index, "store"), f"copies[{index}].store",
                f"no store named {pattern.store!r} (stores: {', '.join(sorted(store_names)) or 'none'})",
            )

    cloud_names = {c.name for c in site.clouds}
    for index, server in enumerate(site.mysql):
        ref = server.snapshot_volume
        if ref is not None and ref.cloud not in cloud_names:
            raise SiteFileError(
                shown, _line_of(root, "mysql", index, "snapshot_volume", "cloud"),
                f"mysql[{index}].snapshot_volume.cloud", f"no cloud named {ref.cloud!r}",
            )
        for field_name in ("password_file", "restore_password_file"):
            file = getattr(server, field_name)
            if file is not None and not file.is_file():
                raise SiteFileError(
                    shown, _line_of(root, "mysql", index, field_name),
                    f"mysql[{index}].{field_name}", f"file not found: {file}",
                )

    for index, host in enumerate(site.hosts):
        for field_name in ("key_file", "known_hosts"):
            file = getattr(host, field_name)
            if not file.is_file():
                raise SiteFileError(
                    shown, _line_of(root, "hosts", index, field_name),
                    f"hosts[{index}].{field_name}", f"file not found: {file}",
                )

    for index, cloud in enumerate(site.clouds):
        if isinstance(cloud, OpenStackCloud) and cloud.clouds_yaml is not None \
                and not cloud.clouds_yaml.is_file():
            raise SiteFileError(
                shown, _line_of(root, "clouds", index, "clouds_yaml"),
                f"clouds[{index}].clouds_yaml", f"file not found: {cloud.clouds_yaml}",
            )
