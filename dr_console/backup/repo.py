"""A git repository as one offsite file: `git bundle create --all`, which
`git clone BUNDLE` turns back into a repository with its full history."""

from __future__ import annotations

import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from dr_console import __version__
from dr_console.backup.dump import BackupError
from dr_console.backup.s3 import S3Client, StreamUpload, put_manifest, store_client, store_key
from dr_console.manifest import Manifest
from dr_console.schema import Store

_CHUNK = 1024 * 1024


def _git(repo: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, timeout=300)
    if proc.returncode != 0:
        detail = proc.stderr.decode(errors="replace").strip()[-1000:]
        raise BackupError(f"git {args[0]} in {repo} failed: {detail}")
    return proc.stdout.decode(errors="replace").strip()


def backup_git_bundle(
    repo: Path,
    store: Store,
    key: str,
    *,
    name: str | None = None,
    client: S3Client | None = None,
    created_at: datetime | None = None,
) -> tuple[str, Manifest]:
    """Bundle every ref of `repo`, verify the bundle, upload it with a manifest."""
    created = created_at or datetime.now(UTC)
    client = client or store_client(store)
    full_key = store_key(store, key)
    head = _git(repo, "rev-parse", "HEAD")
    with tempfile.TemporaryDirectory(prefix="drc-bundle-") as tmp:
        bundle = Path(tmp) / "repo.bundle"
        _git(repo, "bundle", "create", str(bundle), "--all")
        # Verify before upload: a bundle git cannot read is no backup.
        _git(repo, "bundle", "verify", "--quiet", str(bundle))
        with StreamUpload(client, store.bucket, full_key) as upload, open(bundle, "rb") as f:
            while chunk := f.read(_CHUNK):
                upload.write(chunk)
    manifest = Manifest(
        sha256=upload.sha256, size=upload.size, compression="none", created_at=created,
        kind="git-bundle",
        source={"repo": name or repo.name, "path": str(repo), "head": head},
        tool="dr-console", tool_version=__version__,
    )
    put_manifest(client, store.bucket, full_key, manifest)
    return full_key, manifest
