"""boto3 plumbing shared by the aws and store providers: sessions built from
site entries, timeouts on every call, and exceptions turned into reasons an
operator can read (never a credential, never a URL with userinfo)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore import exceptions as bex
from botocore.config import Config

from dr_console.errors import ProviderError
from dr_console.providers._util import host_port, redact_urls


def endpoint_label(endpoint_url: str | None, region: str) -> str:
    """host:port of an endpoint, or the AWS region: what a reason names."""
    if not endpoint_url:
        return f"AWS {region}"
    return host_port(endpoint_url)


def endpoint_key(endpoint_url: str | None, region: str) -> str:
    """A normalised endpoint for comparisons and cache keys."""
    if not endpoint_url:
        return f"aws:{region}"
    parts = urlsplit(endpoint_url)
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{host}:{port}{parts.path.rstrip('/')}"


def client_config(timeout: float, *, path_style: bool = False) -> Config:
    # Two attempts in all: a dead endpoint must fail within ~2x the timeout.
    # (botocore's `max_attempts` counts retries, so 2 would mean three tries.)
    return Config(
        connect_timeout=timeout,
        read_timeout=timeout,
        retries={"total_max_attempts": 2, "mode": "standard"},
        # S3-compatible endpoints (MinIO, Ceph, moto) rarely do virtual hosts.
        s3={"addressing_style": "path"} if path_style else None,
    )


def session(
    *, region: str, profile: str | None, credentials_file: Path | None, what: str
) -> boto3.Session:
    """A boto3 Session: keys from the site's credentials file when it names
    one (read the same way the backup code reads it), else boto3's own chain."""
    from dr_console.backup.s3 import boto3_session

    try:
        return boto3_session(credentials_file, profile, region)
    except ProviderError as exc:
        raise ProviderError(f"{what}: {exc}") from None
    except bex.ProfileNotFound:
        raise ProviderError(f"{what}: AWS profile {profile!r} not found") from None
    except bex.BotoCoreError as exc:
        raise ProviderError(f"{what}: cannot set up AWS session: {type(exc).__name__}") from None


def make_client(
    sess: boto3.Session, service: str, *, endpoint_url: str | None, timeout: float, what: str
) -> Any:
    try:
        config = client_config(timeout, path_style=service == "s3" and bool(endpoint_url))
        return sess.client(service, endpoint_url=endpoint_url, config=config)
    except (bex.BotoCoreError, ValueError) as exc:
        raise ProviderError(f"{what}: cannot create {service} client: "
                            f"{redact_urls(str(exc))[:160]}") from None


def error_code(exc: BaseException) -> str | None:
    """The S3/EC2 error code of a ClientError ('NoSuchKey', ...), else None."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None


def reason(exc: BaseException, *, where: str, timeout: float) -> str:
    """A short sentence for a botocore failure. botocore messages can embed
    the full endpoint URL; we name host:port instead."""
    if isinstance(exc, bex.ClientError):
        err = exc.response.get("Error", {})
        code = err.get("Code", "error")
        msg = redact_urls(str(err.get("Message", "")).strip())
        op = exc.operation_name
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AuthFailure",
                    "UnrecognizedClientException", "InvalidClientTokenId"):
            return f"{where}: credentials rejected ({code})"
        if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "403"):
            return f"{where}: access denied to {op}"
        if code in ("NoSuchKey", "404", "NotFound"):
            return f"{where}: no such object"
        if code == "NoSuchBucket":
            return f"{where}: the bucket does not exist"
        if code in ("SlowDown", "503", "ServiceUnavailable", "Throttling", "RequestLimitExceeded"):
            return f"{where}: the service is overloaded or throttling ({op}); retry in a moment"
        return f"{where}: {op} refused ({code})" + (f": {msg[:160]}" if msg else "")
    if isinstance(exc, bex.ConnectTimeoutError):
        return f"{where}: connection timed out after {timeout:g}s"
    if isinstance(exc, bex.ReadTimeoutError):
        return f"{where}: no answer within {timeout:g}s"
    if isinstance(exc, bex.EndpointConnectionError):
        return f"{where}: cannot connect (refused or unreachable)"
    if isinstance(exc, bex.NoCredentialsError):
        return f"{where}: no AWS credentials found (profile, credentials file or environment)"
    if isinstance(exc, bex.PartialCredentialsError):
        return f"{where}: incomplete AWS credentials"
    if isinstance(exc, bex.SSLError):
        return f"{where}: TLS error"
    if isinstance(exc, bex.ConnectionClosedError):
        return f"{where}: connection closed by the server"
    if isinstance(exc, bex.NoRegionError):
        return f"{where}: no region configured"
    if isinstance(exc, bex.BotoCoreError):
        return f"{where}: {type(exc).__name__}"
    return f"{where}: {type(exc).__name__}: {redact_urls(str(exc))[:160]}"


BOTO_ERRORS: tuple[type[BaseException], ...] = (bex.BotoCoreError, bex.ClientError)
