"""System-state exports of a host over SSH: an /etc archive and the
package selection list (`dpkg --get-selections`), the pieces a rebuilt
boot-infrastructure or database host needs besides its data.

Host keys are pinned: only the site's known_hosts file is trusted, and an
unknown or changed key is refused (paramiko RejectPolicy)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import paramiko

from dr_console import __version__, ssh
from dr_console.backup.dump import BackupError
from dr_console.backup.s3 import S3Client, StreamUpload, put_manifest, store_client, store_key
from dr_console.manifest import Manifest
from dr_console.schema import Host, Store

ETC_COMMAND = "tar -C / --warning=no-file-changed -czf - etc"
PACKAGES_COMMAND = "dpkg --get-selections"
_CHUNK = 256 * 1024


def ssh_connect(host: Host) -> paramiko.SSHClient:
    """Connect with the host's key file, trusting only its known_hosts."""
    return ssh.connect(ssh.Target.from_host(host))


def backup_host_command(
    host: Host,
    command: str,
    store: Store,
    key: str,
    *,
    kind: str,
    compression: str,
    ok_status: tuple[int, ...] = (0,),
    client: S3Client | None = None,
    created_at: datetime | None = None,
    cancel: threading.Event | None = None,
) -> tuple[str, Manifest]:
    """Run `command` on the host and stream its stdout into the store."""
    created = created_at or datetime.now(UTC)
    client = client or store_client(store)
    full_key = store_key(store, key)
    session = ssh_connect(host)
    errors = bytearray()
    try:
        channel = session.get_transport().open_session()  # type: ignore[union-attr]
        channel.settimeout(max(host.timeout, 30))
        channel.exec_command(command)

        def drain_stderr() -> None:
            # Read stderr concurrently: a full stderr window would stall stdout.
            while True:
                data = channel.recv_stderr(_CHUNK)
                if not data:
                    return
                errors.extend(data)
                del errors[:-4000]

        drainer = threading.Thread(target=drain_stderr, daemon=True)
        drainer.start()
        with StreamUpload(client, store.bucket, full_key) as upload:
            while True:
                data = channel.recv(_CHUNK)
                if not data:
                    break
                upload.write(data)
                if cancel is not None and cancel.is_set():
                    raise BackupError(f"capture of {host.name} cancelled")
            status = channel.recv_exit_status()
            drainer.join(timeout=5)
            if status not in ok_status:
                detail = errors.decode(errors="replace").strip()[-1000:]
                raise BackupError(f"'{command}' on {host.name} failed (exit {status}): {detail}")
    except TimeoutError:
        raise BackupError(f"'{command}' on {host.name} stalled; upload aborted") from None
    finally:
        session.close()

    manifest = Manifest(
        sha256=upload.sha256, size=upload.size, compression=compression,
        created_at=created, kind=kind,
        source={"host": host.name, "address": f"{host.address}:{host.port}",
                "command": command},
        tool="dr-console", tool_version=__version__,
    )
    put_manifest(client, store.bucket, full_key, manifest)
    return full_key, manifest


def backup_host_etc(host: Host, store: Store, key: str, **kwargs: object) -> tuple[str, Manifest]:
    """/etc as a gzipped tar. tar exits 1 when a file changed while read,
    which on a live /etc is normal and still a usable archive."""
    return backup_host_command(host, ETC_COMMAND, store, key, kind="etc-archive",
                               compression="gzip", ok_status=(0, 1), **kwargs)  # type: ignore[arg-type]


def backup_host_packages(host: Host, store: Store, key: str,
                         **kwargs: object) -> tuple[str, Manifest]:
    """The package selections, replayable with `dpkg --set-selections`."""
    return backup_host_command(host, PACKAGES_COMMAND, store, key, kind="package-list",
                               compression="none", **kwargs)  # type: ignore[arg-type]
