"""A Glance image exported offsite: for images that live only in the
cloud's image store (golden appliances, not on central storage), a copy
the cloud itself cannot lose."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from dr_console import __version__
from dr_console.backup.dump import BackupError
from dr_console.backup.s3 import S3Client, StreamUpload, put_manifest, store_client, store_key
from dr_console.manifest import Manifest
from dr_console.schema import Store

_CHUNK = 1024 * 1024


def backup_image(
    conn: Any,  # openstack.connection.Connection
    image_name_or_id: str,
    store: Store,
    key: str,
    *,
    client: S3Client | None = None,
    created_at: datetime | None = None,
) -> tuple[str, Manifest]:
    """Stream the image's bytes into the store; check Glance's own md5 on
    the way (a download that does not match is aborted, not stored)."""
    created = created_at or datetime.now(UTC)
    client = client or store_client(store)
    full_key = store_key(store, key)
    image = conn.image.find_image(image_name_or_id, ignore_missing=False)
    md5 = hashlib.md5(usedforsecurity=False)
    with StreamUpload(client, store.bucket, full_key) as upload:
        response = conn.image.download_image(image, stream=True, chunk_size=_CHUNK)
        for chunk in response.iter_content(chunk_size=_CHUNK):
            md5.update(chunk)
            upload.write(chunk)
        if image.checksum and md5.hexdigest() != image.checksum:
            raise BackupError(f"image {image.name} ({image.id}) downloaded with a wrong "
                              "checksum; nothing stored")
    manifest = Manifest(
        sha256=upload.sha256, size=upload.size, compression="none", created_at=created,
        kind="image-export",
        source={"image": image.name, "image_id": image.id,
                "disk_format": image.disk_format or "", "container_format":
                image.container_format or "", "glance_md5": image.checksum or ""},
        tool="dr-console", tool_version=__version__,
    )
    put_manifest(client, store.bucket, full_key, manifest)
    return full_key, manifest
