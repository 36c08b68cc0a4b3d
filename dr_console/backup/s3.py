"""S3 access for backups: a client built from a site-file `Store`, and an
upload that takes a stream of bytes with bounded memory (multipart once it
outgrows one part), hashing exactly what it stores."""

from __future__ import annotations

import configparser
import contextlib
import hashlib
import threading
from pathlib import Path
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.loaders import Loader

from dr_console.errors import ProviderError
from dr_console.manifest import Manifest, manifest_key
from dr_console.schema import Store

# boto3 clients are generated at run time; the stubs package is optional.
S3Client = Any

# S3 refuses parts under 5 MiB except the last; 8 MiB keeps memory small
# while a 1 GB dump still needs only ~130 parts (the limit is 10,000).
DEFAULT_PART_SIZE = 8 * 1024 * 1024
MIN_PART_SIZE = 5 * 1024 * 1024


def read_credentials_file(path: Path, profile: str | None) -> dict[str, str]:
    """Keys from an AWS-style credentials file, for boto3's keyword
    arguments. Errors name the file and the profile, never a value."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except OSError as exc:
        raise ProviderError(f"cannot read credentials file {path}: {exc.strerror}") from None
    except configparser.Error:
        raise ProviderError(f"credentials file {path} is not an INI file") from None
    section = profile or "default"
    if not parser.has_section(section):
        raise ProviderError(f"credentials file {path} has no [{section}] profile")
    entries = parser[section]
    if "aws_access_key_id" not in entries or "aws_secret_access_key" not in entries:
        raise ProviderError(f"credentials file {path} [{section}] lacks "
                            "aws_access_key_id or aws_secret_access_key")
    out = {
        "aws_access_key_id": entries["aws_access_key_id"],
        "aws_secret_access_key": entries["aws_secret_access_key"],
    }
    if "aws_session_token" in entries:
        out["aws_session_token"] = entries["aws_session_token"]
    return out


class _SearchPaths(list[str]):
    """boto3 appends its data directory to the loader's search paths for
    every Session it makes; on a loader all sessions share, once is enough."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


_LOADER_LOCK = threading.Lock()
_shared_loader: Loader | None = None


def _data_loader(core: botocore.session.Session) -> Loader:
    """One botocore data loader for the whole process. Each new Session
    otherwise parses the service models and endpoint rules again: about
    0.3 s of CPU per client, three clients in every restore. The loader only
    reads botocore's JSON files; credentials and settings stay per session."""
    global _shared_loader
    with _LOADER_LOCK:
        if _shared_loader is None:
            own = core.get_component("data_loader")  # honours AWS_DATA_PATH / data_path
            _shared_loader = Loader(extra_search_paths=_SearchPaths(own.search_paths),
                                    include_default_search_paths=False)
        return _shared_loader


def boto3_session(credentials_file: Path | None, profile: str | None,
                  region: str) -> boto3.Session:
    """A session from an explicit credentials file, else boto3's own chain
    (profile, environment, instance role)."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _data_loader(core))
    if credentials_file is not None:
        return boto3.Session(region_name=region, botocore_session=core,
                             **read_credentials_file(credentials_file, profile))
    return boto3.Session(profile_name=profile, region_name=region, botocore_session=core)


def store_client(store: Store) -> S3Client:
    """An S3 client for a site-file store, with timeouts so nothing hangs."""
    session = boto3_session(store.credentials_file, store.profile, store.region)
    config = Config(
        connect_timeout=store.timeout,
        read_timeout=max(store.timeout, 60),
        retries={"max_attempts": 3, "mode": "standard"},
        # S3-compatible endpoints (MinIO, Ceph, moto) rarely do virtual hosts.
        s3={"addressing_style": "path"} if store.endpoint_url else {},
    )
    return session.client("s3", endpoint_url=store.endpoint_url, config=config)


def store_key(store: Store, key: str) -> str:
    """The object key inside the bucket, honouring the store's prefix."""
    prefix = store.prefix.strip("/")
    return f"{prefix}/{key}" if prefix else key


class StreamUpload:
    """Write bytes in; they land at s3://bucket/key. Memory stays under about
    one part. Small objects go up with one PUT; larger ones as multipart. An
    exception inside the `with` block aborts the upload, leaving no object.

        with StreamUpload(client, bucket, key) as up:
            up.write(chunk)
        up.sha256, up.size
    """

    def __init__(self, client: S3Client, bucket: str, key: str, *,
                 part_size: int = DEFAULT_PART_SIZE, content_type: str | None = None) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes")
        self.client = client
        self.bucket = bucket
        self.key = key
        self.part_size = part_size
        self.content_type = content_type
        self.size = 0
        self._hash = hashlib.sha256()
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._closed = False

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def write(self, data: bytes) -> None:
        if not data:
            return
        self._hash.update(data)
        self.size += len(data)
        self._buffer += data
        while len(self._buffer) >= self.part_size:
            chunk = bytes(self._buffer[: self.part_size])
            del self._buffer[: self.part_size]
            self._upload_part(chunk)

    def _extra(self) -> dict[str, str]:
        return {"ContentType": self.content_type} if self.content_type else {}

    def _upload_part(self, chunk: bytes) -> None:
        if self._upload_id is None:
            response = self.client.create_multipart_upload(
                Bucket=self.bucket, Key=self.key, **self._extra())
            self._upload_id = response["UploadId"]
        number = len(self._parts) + 1
        response = self.client.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self._upload_id,
            PartNumber=number, Body=chunk)
        self._parts.append({"PartNumber": number, "ETag": response["ETag"]})

    def close(self) -> None:
        """Send what is buffered and complete the object."""
        if self._closed:
            return
        self._closed = True
        if self._upload_id is None:
            self.client.put_object(Bucket=self.bucket, Key=self.key,
                                   Body=bytes(self._buffer), **self._extra())
        else:
            if self._buffer:
                self._upload_part(bytes(self._buffer))
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts})
        self._buffer = bytearray()

    def abort(self) -> None:
        """Drop everything sent so far; a half-written backup must not exist."""
        self._closed = True
        self._buffer = bytearray()
        if self._upload_id is not None:
            # Best effort: the error that made us abort matters more.
            with contextlib.suppress(Exception):
                self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=self.key, UploadId=self._upload_id)

    def __enter__(self) -> StreamUpload:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def put_manifest(client: S3Client, bucket: str, object_key: str, manifest: Manifest) -> str:
    """Write `<object_key>.manifest.json` beside the object; return its key."""
    key = manifest_key(object_key)
    client.put_object(Bucket=bucket, Key=key, Body=manifest.to_json().encode(),
                      ContentType="application/json")
    return key
