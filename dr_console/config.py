"""Loading the site file: YAML in, a validated `Site` out, and errors that
name file, line and key (pydantic's error paths mapped back to the YAML
node tree)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from dr_console.errors import SiteFileError
from dr_console.locations import SITE_ENV, default_site_path
from dr_console.schema import OpenStackCloud, Site


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
    payload = [
        rule.model_copy(update={"line": _line_of(root, "payload", i)})
        for i, rule in enumerate(site.payload)
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
    boot = [b.model_copy(update={"line": _line_of(root, "boot", i), "vars_file": resolve(b.vars_file),
                                 "known_hosts": resolve(b.known_hosts)})
            for i, b in enumerate(site.boot)]
    return site.model_copy(update={
        "rules": rules, "payload": payload, "clouds": clouds, "stores": stores, "mysql": mysql,
        "hosts": hosts, "boot": boot, "path": path,
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
        if host.server is not None and host.server.cloud not in cloud_names:
            raise SiteFileError(
                shown, _line_of(root, "hosts", index, "server", "cloud"),
                f"hosts[{index}].server.cloud", f"no cloud named {host.server.cloud!r}",
            )
        for field_name in ("key_file", "known_hosts"):
            file = getattr(host, field_name)
            if not file.is_file():
                raise SiteFileError(
                    shown, _line_of(root, "hosts", index, field_name),
                    f"hosts[{index}].{field_name}", f"file not found: {file}",
                )

    for index, rule in enumerate(site.payload):
        if rule.cloud is not None and rule.cloud not in cloud_names:
            raise SiteFileError(shown, _line_of(root, "payload", index, "cloud"),
                                f"payload[{index}].cloud", f"no cloud named {rule.cloud!r}")
        listed = rule.checks.sha256_list
        if listed is not None and "{volume}" not in listed and not site.resolve(listed).is_file():
            raise SiteFileError(shown, _line_of(root, "payload", index, "checks", "sha256_list"),
                                f"payload[{index}].checks.sha256_list", f"file not found: {listed}")

    _check_boot(site, root, shown)

    for index, cloud in enumerate(site.clouds):
        if isinstance(cloud, OpenStackCloud) and cloud.clouds_yaml is not None \
                and not cloud.clouds_yaml.is_file():
            raise SiteFileError(
                shown, _line_of(root, "clouds", index, "clouds_yaml"),
                f"clouds[{index}].clouds_yaml", f"file not found: {cloud.clouds_yaml}",
            )


def _check_boot(site: Site, root: yaml.MappingNode, shown: str) -> None:
    """`boot:` entries name hosts, a probe and a declared repo that exist."""
    host_names = {h.name for h in site.hosts}
    repos = {d.name for d in site.declared if d.kind == "repo"}
    seen: set[str] = set()
    for index, entry in enumerate(site.boot):
        def fail(message: str, *loc: str | int, index: int = index) -> None:
            key = f"boot[{index}]" + "".join(f".{part}" for part in loc)
            raise SiteFileError(shown, _line_of(root, "boot", index, *loc), key, message)

        if entry.host not in host_names:
            fail(f"no host named {entry.host!r} (hosts: {', '.join(sorted(host_names)) or 'none'})",
                 "host")
        if entry.host in seen:
            fail(f"host {entry.host!r} has a boot entry already", "host")
        seen.add(entry.host)
        if entry.probe is not None and entry.probe not in host_names:
            fail(f"no host named {entry.probe!r}", "probe")
        if entry.playbooks is not None and entry.playbooks not in repos:
            fail(f"no declared repo named {entry.playbooks!r} "
                 f"(declared repos: {', '.join(sorted(repos)) or 'none'})", "playbooks")
        if entry.vars_file is not None and not entry.vars_file.is_file():
            fail(f"file not found: {entry.vars_file}", "vars_file")
    for name in site.drills.boot_hosts:
        if name not in host_names:
            raise SiteFileError(shown, _line_of(root, "drills", "boot_hosts", name),
                                f"drills.boot_hosts.{name}",
                                f"no host named {name!r} (hosts: {', '.join(sorted(host_names)) or 'none'})")
