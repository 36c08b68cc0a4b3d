"""What every connection shares within one process, and what it must not:
one TLS context for pymysql's "preferred" TLS, one botocore data loader;
never another connection's TLS options or another session's credentials."""

from __future__ import annotations

import ssl
from pathlib import Path

from dr_console import mysqldb
from dr_console.backup import s3
from dr_console.restore.bulkload import BulkConnection


def test_connections_without_tls_options_share_one_preferred_context() -> None:
    connection = mysqldb.connection_class()
    first, second = connection(defer_connect=True), connection(defer_connect=True)
    bulk = BulkConnection(defer_connect=True)
    assert first.ctx is second.ctx is bulk.ctx
    # Still pymysql's "preferred" TLS: tried when offered, not required, no
    # certificate check (there is no CA to check it against).
    assert first._ssl_required is False
    assert first.ctx.verify_mode == ssl.CERT_NONE and first.ctx.check_hostname is False


def test_connection_with_tls_options_gets_its_own_context() -> None:
    connection = mysqldb.connection_class()
    shared = connection(defer_connect=True).ctx
    own = connection(defer_connect=True, ssl={"ca": ssl.get_default_verify_paths().openssl_cafile})
    assert own.ctx is not shared
    assert own._ssl_required is True and own.ctx.verify_mode == ssl.CERT_REQUIRED


def _credentials(path: Path, key: str) -> Path:
    path.write_text(f"[default]\naws_access_key_id = {key}\naws_secret_access_key = s-{key}\n")
    return path


def test_sessions_share_the_data_loader_and_keep_their_own_credentials(tmp_path: Path) -> None:
    one = s3.boto3_session(_credentials(tmp_path / "one", "AKIAONE"), None, "us-east-1")
    two = s3.boto3_session(_credentials(tmp_path / "two", "AKIATWO"), None, "eu-west-1")
    loader = one._session.get_component("data_loader")
    assert two._session.get_component("data_loader") is loader
    paths = list(loader.search_paths)
    for _ in range(3):
        s3.boto3_session(None, None, "us-east-1")
    assert list(loader.search_paths) == paths  # boto3's own path added once, not per session
    assert one.get_credentials().access_key == "AKIAONE"
    assert two.get_credentials().access_key == "AKIATWO"
    assert (one.region_name, two.region_name) == ("us-east-1", "eu-west-1")
    client = two.client("s3", endpoint_url="http://127.0.0.1:9")
    assert client.meta.region_name == "eu-west-1"
