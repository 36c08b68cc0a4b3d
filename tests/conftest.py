"""Shared fixtures. Lab tests (`@pytest.mark.lab`) use `lab_site`: the site
file of a running lab, `$DR_LAB_DIR/site.yaml` (default `<repo>/.lab`);
they skip, saying why, when the lab is not up."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from labenv import lab_dir, lab_missing

from dr_console.config import load_site
from dr_console.lab.procs import port_open
from dr_console.schema import Site


def _endpoints(site: Site) -> Iterator[tuple[str, int]]:
    # Hosts are left out: a lab may stop one on purpose (a host-down drill);
    # tests that need a host check it themselves (`port_open`).
    for server in site.mysql:
        yield server.host, server.port
    for entry in [*site.stores, *[c for c in site.clouds if c.type == "aws"]]:
        url = getattr(entry, "endpoint_url", None)
        if url:
            parts = urlsplit(url)
            yield parts.hostname or "127.0.0.1", parts.port or 80


@pytest.fixture(scope="session")
def lab_site() -> Site:
    path = lab_dir() / "site.yaml"
    if not path.exists():
        lab_missing(f"no {path} (run `dr-console lab up`)")
    site = load_site(path)
    for host, port in _endpoints(site):
        if not port_open(port, host):
            lab_missing(f"{host}:{port} is closed")
    return site


@pytest.fixture(scope="session")
def lab_state(lab_site: Site) -> dict[str, Any]:
    """What `lab up` seeded (state.json beside site.yaml): ids, objects, faults."""
    path = Path(lab_site.path).parent / "state.json"
    if not path.exists():
        lab_missing(f"no {path}: the lab did not record what it seeded")
    state: dict[str, Any] = json.loads(path.read_text())
    return state


@pytest.fixture
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty XDG cache, so a test neither reads nor writes the user's."""
    cache = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache / "dr-console"


@pytest.fixture(scope="session")
def restore_site_file(lab_site: Site, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lab's site file with absolute paths (so it works from anywhere)
    and the restore account, which a lab made before restore_user existed
    does not name yet."""
    import yaml

    lab = Path(lab_site.path).parent
    data = yaml.safe_load(Path(lab_site.path).read_text())

    def absolute(entry: dict[str, Any], *keys: str) -> None:
        for key in keys:
            if key in entry and not os.path.isabs(entry[key]):
                entry[key] = str(lab / entry[key])

    for cloud in data.get("clouds", []):
        absolute(cloud, "clouds_yaml", "credentials_file")
    for store in data.get("stores", []):
        absolute(store, "credentials_file")
    for host in data.get("hosts", []):
        absolute(host, "key_file", "known_hosts")
    for boot in data.get("boot", []):
        absolute(boot, "vars_file", "known_hosts")
    for server in data.get("mysql", []):
        server.setdefault("restore_user", "labadmin")
        server.setdefault("restore_password_file", "secrets/mariadb-admin")
        absolute(server, "password_file", "restore_password_file")
    path = tmp_path_factory.mktemp("restore-site") / "site.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
