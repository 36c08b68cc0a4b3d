"""Pure helpers of the providers: store key patterns, timestamps, the
verification built from listing + manifest + content facts, host parsing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dr_console.contentcheck import ContentFacts
from dr_console.errors import LocationError
from dr_console.manifest import Manifest
from dr_console.providers._util import aware, redact_urls
from dr_console.providers.store import (
    match_key,
    parse_key_timestamp,
    verification_for,
)
from dr_console.schema import CopyPattern, parse_location


@pytest.mark.parametrize(("text", "expected"), [
    ("20261123T150000Z", datetime(2026, 11, 23, 15, 0, 0, tzinfo=UTC)),
    ("2026-11-23T15:00:00Z", datetime(2026, 11, 23, 15, 0, 0, tzinfo=UTC)),
    ("2026-11-23_150102", datetime(2026, 11, 23, 15, 1, 2, tzinfo=UTC)),
    ("2026-11-23-15-01-02", datetime(2026, 11, 23, 15, 1, 2, tzinfo=UTC)),
    ("20261123", datetime(2026, 11, 23, tzinfo=UTC)),
    ("2026-11-23", datetime(2026, 11, 23, tzinfo=UTC)),
])
def test_key_timestamps(text: str, expected: datetime) -> None:
    assert parse_key_timestamp(text) == expected


@pytest.mark.parametrize("text", ["20261323T150000Z", "2026112", "", "20261123T2500"])
def test_bad_key_timestamps(text: str) -> None:
    assert parse_key_timestamp(text) is None


PATTERNS = [
    CopyPattern(store="s", pattern="mysql/*/{asset}-{timestamp}.sql.gz", kind="sql-dump",
                asset_kind="database"),
    CopyPattern(store="s", pattern="hosts/{asset}/etc-{timestamp}.tar.gz", kind="etc-archive",
                asset_kind="host"),
    CopyPattern(store="s", pattern="git/{asset}.bundle", kind="git-bundle"),
]


def test_match_key_names_asset_kind_and_time() -> None:
    found = match_key("mysql/nova/nova-20261123T150000Z.sql.gz", PATTERNS)
    assert found is not None
    assert (found.asset, found.pattern.kind, found.pattern.asset_kind) == \
        ("nova", "sql-dump", "database")
    assert found.timestamp == datetime(2026, 11, 23, 15, tzinfo=UTC)


def test_match_key_asset_names_with_dashes_and_underscores() -> None:
    found = match_key("mysql/x/nova_api-2026-11-23T15:00:00Z.sql.gz", PATTERNS)
    assert found is not None and found.asset == "nova_api"
    found = match_key("hosts/boot-1/etc-20261123T150000Z.tar.gz", PATTERNS)
    assert found is not None and found.asset == "boot-1"


def test_match_key_relative_to_prefix_or_whole() -> None:
    assert match_key("backups/git/playbooks.bundle", PATTERNS, "backups/") is not None
    whole = [CopyPattern(store="s", pattern="backups/git/{asset}.bundle", kind="git-bundle")]
    found = match_key("backups/git/playbooks.bundle", whole, "backups/")
    assert found is not None and found.asset == "playbooks" and found.timestamp is None


@pytest.mark.parametrize("key", [
    "mysql/nova/nova-20261123T150000Z.sql.gz.manifest.json",
    "mysql/nova/nova.sql.gz",
    "other/file.txt",
    "mysql/a/b/nova-20261123T150000Z.sql.gz",  # '*' is one path level
])
def test_match_key_rejects(key: str) -> None:
    assert match_key(key, PATTERNS) is None


def test_parse_location() -> None:
    assert parse_location("s3://bucket/a/b.sql.gz") == ("bucket", "a/b.sql.gz")
    for bad in ("bucket/key", "s3://bucket", "s3:///key", "s3://bucket/"):
        with pytest.raises(LocationError):
            parse_location(bad)


def manifest(size: int = 100, sha: str = "a" * 64) -> Manifest:
    return Manifest(sha256=sha, size=size, compression="gzip",
                    created_at=datetime(2026, 11, 23, tzinfo=UTC), kind="sql-dump")


def facts(sha: str = "a" * 64, complete: bool | None = True, database: str | None = "nova",
          detail: str = "") -> ContentFacts:
    return ContentFacts(sha256=sha, size=100, compression="gzip", complete=complete,
                        database=database, sql_dump=True, detail=detail)


def test_verification_shallow_with_manifest() -> None:
    check = verification_for(size=100, manifest=manifest())
    assert (check.has_manifest, check.size_ok, check.checksum_ok, check.complete) == \
        (True, True, None, None)
    assert check.usable and not check.verified


def test_verification_deep_and_good() -> None:
    check = verification_for(size=100, manifest=manifest(), facts=facts(),
                             expected_database="nova")
    assert check.verified and check.usable and check.complete
    assert check.detail == ""


def test_verification_size_and_checksum_mismatch_say_why() -> None:
    check = verification_for(size=90, manifest=manifest())
    assert check.size_ok is False and not check.usable
    assert check.detail == "size mismatch: manifest 100 bytes, object 90 bytes"

    check = verification_for(size=100, manifest=manifest(sha="abc123" + "0" * 58),
                             facts=facts(sha="9f8e7d" + "1" * 58))
    assert check.checksum_ok is False and not check.usable
    assert check.detail == "sha256 mismatch: manifest abc123000000…, object 9f8e7d111111…"


def test_verification_wrong_database_is_not_usable() -> None:
    check = verification_for(size=100, manifest=manifest(), facts=facts(database="nova"),
                             expected_database="glance")
    assert check.complete is False and not check.usable
    assert "dump is of database 'nova', expected 'glance'" in check.detail


def test_verification_without_manifest_relies_on_content() -> None:
    check = verification_for(size=100, manifest=None,
                             facts=facts(complete=False, detail="no '-- Dump completed' trailer"))
    assert check.has_manifest is False and check.checksum_ok is None
    assert check.complete is False and check.detail == "no '-- Dump completed' trailer"


def test_redact_urls_keeps_only_host_and_port() -> None:
    text = "Could not connect to http://user:secret@10.0.0.1:8080/v3/auth?token=abc now"
    assert redact_urls(text) == "Could not connect to 10.0.0.1:8080 now"
    assert redact_urls("https://s3.example.com/bucket/key") == "s3.example.com"


def test_aware_parses_openstack_times() -> None:
    assert aware("2026-11-23T15:00:00.000000") == datetime(2026, 11, 23, 15, tzinfo=UTC)
    assert aware("2026-11-23T15:00:00Z") == datetime(2026, 11, 23, 15, tzinfo=UTC)
    assert aware(None) is None and aware("junk") is None


def test_host_helpers() -> None:
    from dr_console.providers.hosts import format_uptime, parse_os_release
    from dr_console.ssh import known_hosts_name

    release = parse_os_release('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n\n')
    assert release == {"PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)", "ID": "debian"}
    assert format_uptime(59) == "0m"
    assert format_uptime(3 * 3600 + 120) == "3h 2m"
    assert format_uptime(2 * 86400 + 5 * 3600) == "2d 5h"
    assert known_hosts_name("127.0.0.1", 22) == "127.0.0.1"
    assert known_hosts_name("127.0.0.1", 2201) == "[127.0.0.1]:2201"


def test_endpoint_key_normalises() -> None:
    from dr_console.providers._boto import endpoint_key, endpoint_label

    assert endpoint_key("http://127.0.0.1:9000/", "x") == endpoint_key("HTTP://127.0.0.1:9000", "y")
    assert endpoint_key("https://s3.example.com", "r") == "https://s3.example.com:443"
    assert endpoint_key(None, "eu-west-1") == "aws:eu-west-1"
    assert endpoint_label("http://key:secret@127.0.0.1:9000/path", "r") == "127.0.0.1:9000"
    assert endpoint_label(None, "eu-west-1") == "AWS eu-west-1"


@pytest.mark.parametrize("one, other, same", [
    ("/dev/sda1", "/dev/xvda", True),
    ("/dev/xvda", "/dev/xvda", True),
    ("/dev/sda", "/dev/sda1", True),
    ("/dev/sdf", "/dev/xvda", False),
    ("", "/dev/xvda", False),
])
def test_root_device_aliases(one: str, other: str, same: bool) -> None:
    from dr_console.providers.aws import _same_device

    assert _same_device(one, other) is same
