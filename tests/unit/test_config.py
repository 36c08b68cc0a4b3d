"""The site file: a good one loads; every bad one names file, line and key."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dr_console.config import load_site
from dr_console.errors import SiteFileError
from dr_console.humanize import parse_duration
from dr_console.model import AssetClass

GOOD = """\
site: prod-east
clouds:
  - name: east
    type: openstack
    cloud: prod
  - name: aws
    type: aws
    region: eu-west-1
stores:
  - name: offsite
    bucket: dr-backups
    prefix: prod/
mysql:
  - name: control-db
    user: backup
    password_env: DB_PASSWORD
    exclude: [test*]
    snapshot_volume: {cloud: east, volume: db-data}
hosts:
  - name: boot1
    address: 10.0.0.5
    key_file: id_ed25519
    known_hosts: known_hosts
    roles: [dhcp, tftp]
copies:
  - store: offsite
    pattern: "mysql/{asset}/{asset}-{timestamp}.sql.gz"
    kind: sql-dump
    asset_kind: database
rules:
  - name: service-dbs
    class: metadata
    match: {provider: mysql, name: [keystone, nova*]}
rpo:
  boot-infra: 7d
  metadata: 12h
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "id_ed25519").write_text("key")
    (tmp_path / "known_hosts").write_text("")
    path = tmp_path / "site.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def error_for(tmp_path: Path, text: str) -> SiteFileError:
    path = write(tmp_path, text)
    with pytest.raises(SiteFileError) as info:
        load_site(path)
    return info.value


def test_good_site_loads_with_resolved_paths_and_rule_lines(tmp_path: Path) -> None:
    site = load_site(write(tmp_path, GOOD))
    assert site.site == "prod-east"
    assert site.hosts[0].key_file == tmp_path / "id_ed25519"
    assert site.rules[0].line == 31
    assert site.rules[0].asset_class is AssetClass.METADATA
    assert site.rpo.metadata == 12 * 3600
    assert site.rpo.payload == 24 * 3600  # default
    assert site.mysql[0].includes("keystone")
    assert not site.mysql[0].includes("test_x")


def test_copy_pattern_regex_extracts_asset_and_timestamp(tmp_path: Path) -> None:
    site = load_site(write(tmp_path, GOOD))
    match = site.copies[0].regex().match("mysql/nova/nova-20261123T150000Z.sql.gz")
    assert match is not None
    assert match.group("asset") == "nova"
    assert match.group("timestamp") == "20261123T150000Z"
    assert site.copies[0].regex().match("mysql/nova/nova-latest.sql.gz") is None


@pytest.mark.parametrize(
    "old, new, line, key, words",
    [
        ("    type: aws\n", "    type: gcp\n", 6, "clouds[1]", "openstack, aws"),
        ("    prefix: prod/\n", "    prefix: prod/\n    colour: red\n", 13, "stores[0].colour",
         "unknown key"),
        ("    bucket: dr-backups\n", "", 10, "stores[0].bucket", "required key is missing"),
        ("  metadata: 12h\n", "  metadata: soon\n", 36, "rpo.metadata", "duration"),
        ("    class: metadata\n", "    class: precious\n", 32, "rules[0].class", "precious"),
        ("    class: metadata\n", "    class: unreachable\n", 32, "rules[0].class",
         "class must be one of: boot-infra, metadata, payload, reproducible, unclassified"),
        ("    address: 10.0.0.5\n", "    address: 10.0.0.5\n    port: 99999\n", 22,
         "hosts[0].port", "65535"),
        ("  - store: offsite\n", "  - store: elsewhere\n", 26, "copies[0].store",
         "no store named 'elsewhere'"),
        ("    pattern: \"mysql/{asset}/{asset}-{timestamp}.sql.gz\"\n",
         "    pattern: \"mysql/{db}.sql\"\n", 27, "copies[0].pattern", "{asset}"),
        ("    snapshot_volume: {cloud: east, volume: db-data}\n",
         "    snapshot_volume: {cloud: west, volume: db-data}\n", 18,
         "mysql[0].snapshot_volume.cloud", "no cloud named 'west'"),
        ("    password_env: DB_PASSWORD\n", "    password: hunter2\n", 14, "mysql[0]",
         "password_file or password_env"),
        ("    roles: [dhcp, tftp]\n", "    roles: [dhcp, tftp]\n    roles: [ntp]\n", 25,
         "hosts[0].roles", "duplicate key"),
        ("    exclude: [test*]\n", "    exclude: [test*]\n    restore_password_file: admin.pw\n",
         14, "mysql[0]", "restore_password_file needs restore_user"),
        ("    exclude: [test*]\n", "    exclude: [test*]\n    restore_user: admin\n"
         "    restore_password_file: nowhere.pw\n", 19, "mysql[0].restore_password_file",
         "file not found"),
        ("    exclude: [test*]\n", "    exclude: [test*]\n    restore_password: hunter2\n", 14,
         "mysql[0]", "restore_password_file"),
    ],
)
def test_bad_site_names_file_line_and_key(
    tmp_path: Path, old: str, new: str, line: int, key: str, words: str
) -> None:
    assert old in GOOD
    err = error_for(tmp_path, GOOD.replace(old, new, 1))
    assert err.path.endswith("site.yaml")
    assert err.line == line, str(err)
    assert err.key == key, str(err)
    assert words in str(err)
    assert str(err).startswith(f"{tmp_path / 'site.yaml'}:{line}: {key}:")
    assert "hunter2" not in str(err)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    err = error_for(tmp_path, "site: x\nclouds: [\n  - name: a\n")
    assert err.line is not None and err.line >= 2
    assert "invalid YAML" in str(err)


def test_missing_and_empty_and_non_mapping_files(tmp_path: Path) -> None:
    with pytest.raises(SiteFileError, match="site file not found"):
        load_site(tmp_path / "nope.yaml")
    assert "empty" in str(error_for(tmp_path, ""))
    assert "mapping" in str(error_for(tmp_path, "- a\n- b\n"))


def test_missing_referenced_file_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    (tmp_path / "known_hosts").unlink()
    with pytest.raises(SiteFileError) as info:
        load_site(path)
    assert info.value.key == "hosts[0].known_hosts"
    assert info.value.line == 23


def test_duplicate_names_across_sections(tmp_path: Path) -> None:
    err = error_for(tmp_path, GOOD.replace("  - name: offsite\n", "  - name: east\n"))
    assert err.key == "stores[0].name"
    assert "already used in clouds" in str(err)


@pytest.mark.parametrize("text, seconds", [("90m", 5400), ("24h", 86400), ("7d", 604800),
                                           (3600, 3600), ("2w", 1209600)])
def test_durations(text: str | int, seconds: int) -> None:
    assert parse_duration(text) == seconds


def test_cli_reports_bad_site_without_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("    type: aws\n", "    type: gcp\n"))
    proc = subprocess.run(
        [sys.executable, "-m", "dr_console", "--site", str(path), "status"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 3
    assert "Traceback" not in proc.stderr
    assert f"{path}:6: clouds[1]:" in proc.stderr
