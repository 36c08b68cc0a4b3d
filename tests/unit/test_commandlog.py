"""The command log: bounded, thread-safe, and never a secret."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading

import pytest

from dr_console import commandlog
from dr_console.commandlog import CommandLog, redact, sql_class, url_summary


def test_ring_is_bounded_and_newest_last() -> None:
    log = CommandLog(capacity=3)
    for n in range(5):
        log.record("api", "h", f"GET /{n}")
    assert [e.summary for e in log.entries()] == ["GET /2", "GET /3", "GET /4"]


def test_concurrent_recording_loses_nothing_under_capacity() -> None:
    log = CommandLog(capacity=10_000)
    seen: list[str] = []
    log.subscribe(lambda e: seen.append(e.summary))

    def work(n: int) -> None:
        for i in range(500):
            log.record("sql", "db:3306", f"SELECT {n}-{i}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(log) == 4000
    assert len(seen) == 4000


def test_unsubscribe_and_a_failing_listener() -> None:
    log = CommandLog()

    def broken(_: object) -> None:
        raise RuntimeError("face gone")

    log.subscribe(broken)
    got: list[str] = []
    off = log.subscribe(lambda e: got.append(e.summary))
    log.record("api", "h", "GET /a")  # the broken listener does not stop the call
    off()
    off()  # twice is harmless
    log.record("api", "h", "GET /b")
    assert got == ["GET /a"]


@pytest.mark.parametrize(
    ("raw", "secret"),
    [
        ("mysql -u root -pHunter2secret -h db", "Hunter2secret"),
        ("mysql --password=Hunter2secret", "Hunter2secret"),
        ("mysql --password Hunter2secret", "Hunter2secret"),
        ("Authorization: Bearer abc.def.ghi", "abc.def.ghi"),
        ("X-Auth-Token: gAAAAABmtoken", "gAAAAABmtoken"),
        ('{"password": "Hunter2secret"}', "Hunter2secret"),
        ("GET https://admin:Hunter2secret@keystone:5000/v3", "Hunter2secret"),
        ("CREATE USER x IDENTIFIED BY 'Hunter2secret'", "Hunter2secret"),
        ("aws_secret_access_key=wJalrXUtnFEMI", "wJalrXUtnFEMI"),
        ("https://s3/b/k?X-Amz-Signature=deadbeef", "deadbeef"),
    ],
)
def test_redaction(raw: str, secret: str) -> None:
    assert secret not in redact(raw)


def test_redaction_keeps_harmless_options() -> None:
    assert redact("mkdir -p /var/backups && ssh -p 2222 host") == "mkdir -p /var/backups && ssh -p 2222 host"


def test_sql_is_recorded_by_class_only() -> None:
    assert sql_class("select * from users where pw='x'") == "SELECT"
    assert sql_class("/* hint */ CREATE DATABASE `nova__staging`") == "CREATE DATABASE"
    assert sql_class("RENAME TABLE a.t TO b.t") == "RENAME TABLE"
    assert sql_class("") == "SQL"
    entry = commandlog.LOG.record("sql", "db:3306", sql_class("SET PASSWORD = 'Hunter2'"))
    assert "Hunter2" not in entry.summary


def test_url_summary_drops_query_and_userinfo() -> None:
    target, summary = url_summary("get", "http://u:p@127.0.0.1:8774/v2.1/servers/detail?all_tenants=1")
    assert (target, summary) == ("127.0.0.1:8774", "GET /v2.1/servers/detail")


def test_keystoneauth_requests_are_recorded_as_method_and_path() -> None:
    commandlog.install_hooks()
    commandlog.LOG.clear()  # a full ring (after the lab tests) would hide what comes next
    before = len(commandlog.LOG)
    logger = logging.getLogger("keystoneauth.session")
    logger.debug('REQ: curl -g -i -X GET http://127.0.0.1:8774/v2.1/servers/detail?limit=5 '
                 '-H "X-Auth-Token: {SHA256}abcdef" -H "Accept: application/json"')
    logger.debug("RESP: [200] Content-Type: application/json")  # not a request
    new = commandlog.entries()[before:]
    assert [(e.kind, e.target, e.summary) for e in new] == [
        ("api", "127.0.0.1:8774", "GET /v2.1/servers/detail")
    ]


def test_every_boto_client_is_hooked() -> None:
    commandlog.install_hooks()
    import boto3
    from botocore.config import Config
    from botocore.exceptions import EndpointConnectionError

    # Port 1 on loopback refuses at once: the hook runs before the request is sent.
    client = boto3.session.Session(
        aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="wJalrXUtnFEMI", region_name="eu-west-1"
    ).client("s3", endpoint_url="http://127.0.0.1:1",
             config=Config(retries={"max_attempts": 1}, connect_timeout=2))
    commandlog.LOG.clear()  # a full ring (after the lab tests) would hide what comes next
    before = len(commandlog.LOG)
    with pytest.raises(EndpointConnectionError):
        client.list_objects_v2(Bucket="dr-offsite")
    new = commandlog.entries()[before:]
    assert len(new) == 1
    assert new[0].kind == "s3"
    assert new[0].target == "127.0.0.1:1"
    assert new[0].summary.startswith("s3 ListObjectsV2 GET /dr-offsite")
    assert "wJalrXUtnFEMI" not in new[0].line() and "AKIA" not in new[0].line()


def test_commandlog_imports_no_textual() -> None:
    code = "import sys, dr_console.commandlog; sys.exit(1 if 'textual' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
