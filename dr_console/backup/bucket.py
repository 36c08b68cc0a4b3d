"""A bucket copied offsite as one tar.gz, streamed object by object, so a
store in another provider holds what the bucket held at that moment."""

from __future__ import annotations

import tarfile
from datetime import UTC, datetime

from dr_console import __version__
from dr_console.backup.s3 import S3Client, StreamUpload, put_manifest, store_client, store_key
from dr_console.manifest import Manifest
from dr_console.schema import Store


class _UploadWriter:
    """The file-like face tarfile's stream mode writes to."""

    def __init__(self, upload: StreamUpload) -> None:
        self.upload = upload

    def write(self, data: bytes) -> int:
        self.upload.write(bytes(data))
        return len(data)


def backup_bucket(
    source: S3Client,
    bucket: str,
    store: Store,
    key: str,
    *,
    client: S3Client | None = None,
    created_at: datetime | None = None,
) -> tuple[str, Manifest]:
    """Archive every object of `bucket` (read through `source`) into the store."""
    created = created_at or datetime.now(UTC)
    client = client or store_client(store)
    full_key = store_key(store, key)
    count = 0
    upload = StreamUpload(client, store.bucket, full_key, content_type="application/gzip")
    # "w|gz": a pure stream, tarfile never seeks, memory stays per-chunk.
    with upload, tarfile.open(fileobj=_UploadWriter(upload), mode="w|gz") as tar:  # type: ignore[call-overload]
        pages = source.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for page in pages:
            for obj in page.get("Contents", []):
                info = tarfile.TarInfo(obj["Key"])
                info.size = obj["Size"]
                info.mtime = int(obj["LastModified"].timestamp())
                body = source.get_object(Bucket=bucket, Key=obj["Key"])["Body"]
                tar.addfile(info, body)
                count += 1
    manifest = Manifest(
        sha256=upload.sha256, size=upload.size, compression="gzip", created_at=created,
        kind="bucket-archive", source={"bucket": bucket, "objects": str(count)},
        tool="dr-console", tool_version=__version__,
    )
    put_manifest(client, store.bucket, full_key, manifest)
    return full_key, manifest
