"""An OpenStack cloud through openstacksdk: servers, volumes and images are
assets; volume snapshots, Cinder backups and server snapshot images are
their copies. Credentials stay in clouds.yaml."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from dr_console import drillrecord
from dr_console.errors import ProviderError
from dr_console.model import Asset, BackupCopy, Strategy, Verification, asset_id
from dr_console.providers import Discovery, UnboundCopy
from dr_console.providers._util import aware, host_port, redact_urls
from dr_console.schema import OpenStackCloud

# Images Nova made from a server (`openstack server image create`, or the
# `backup` API): copies of that server, not assets of their own.
_SERVER_IMAGE_TYPES = ("snapshot", "backup")
_EPOCH = datetime.fromtimestamp(0, UTC)

# keystoneauth warns on stderr (Python's last-resort handler) when version
# discovery fails; the operator gets our reason instead.
logging.getLogger("keystoneauth").addHandler(logging.NullHandler())


def _str_items(data: Any) -> dict[str, str]:
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items()
            if isinstance(v, str | int | float | bool) and not isinstance(v, dict)}


def _with_list_tags(tags: dict[str, str], names: Iterable[Any] | None) -> dict[str, str]:
    """Simple string tags (Nova, Glance) become present-but-empty keys, so
    a rule's `tags: {x: "*"}` matches them."""
    out = dict(tags)
    for name in names or ():
        out.setdefault(str(name), "")
    return out


class OpenStackProvider:
    provider = "openstack"

    def __init__(self, cloud: OpenStackCloud) -> None:
        self.cloud = cloud
        self.source = cloud.name
        self._where = f"openstack {cloud.name}"
        self._auth_host = "?"

    def _id(self, kind: str, native: str) -> str:
        return asset_id(self.source, kind, native)

    # -- connection --------------------------------------------------------

    def connect(self) -> Any:
        """An authenticated openstack.connection.Connection (also used by
        the runbooks). Raises ProviderError."""
        from keystoneauth1 import exceptions as ksa
        from openstack import connection
        from openstack import exceptions as sdk
        from openstack.config import loader

        files = [str(self.cloud.clouds_yaml)] if self.cloud.clouds_yaml else None
        try:
            config = loader.OpenStackConfig(config_files=files, app_name="dr-console")
            region = config.get_one(
                cloud=self.cloud.cloud,
                api_timeout=self.cloud.timeout,
                # A dead endpoint must fail within the timeout, not after
                # openstacksdk's five retries on a 503 from Glance.
                connect_retries=0,
                status_code_retries=0,
                image_status_code_retries=0,
            )
        except ksa.MissingRequiredOptions as exc:
            names = ", ".join(o.dest for o in exc.options)
            raise ProviderError(f"{self._where}: clouds.yaml entry {self.cloud.cloud!r} "
                                f"lacks {names}") from None
        except (sdk.ConfigException, ksa.ClientException, OSError, ValueError) as exc:
            where = f" in {self.cloud.clouds_yaml}" if self.cloud.clouds_yaml else ""
            text = redact_urls(str(exc))[:160]
            if "not found" in text.lower() or "was not found" in text:
                text = f"cloud {self.cloud.cloud!r} not found{where}"
            raise ProviderError(f"{self._where}: {text}") from None
        self._auth_host = host_port(str(region.config.get("auth", {}).get("auth_url", "")))
        conn = connection.Connection(config=region)
        try:
            conn.authorize()
        except Exception as exc:
            raise ProviderError(self._reason(exc, "keystone")) from None
        return conn

    def _reason(self, exc: BaseException, what: str) -> str:
        from keystoneauth1 import exceptions as ksa
        from openstack import exceptions as sdk

        where = f"{self._where} {what}"
        timeout = self.cloud.timeout
        # Connection.authorize() re-raises keystoneauth's errors as a bare
        # SDKException; the original, which says what went wrong, is its context.
        if (type(exc) is sdk.SDKException
                and isinstance(exc.__context__, ksa.ClientException)):
            exc = exc.__context__
        if isinstance(exc, ksa.ConnectTimeout):
            return f"{where}: no answer within {timeout}s"
        if isinstance(exc, ksa.ConnectFailure):
            target = f" to {self._auth_host}" if what == "keystone" else ""
            return f"{where}: cannot connect{target} (refused or unreachable)"
        if isinstance(exc, ksa.SSLError):
            return f"{where}: TLS error"
        if isinstance(exc, ksa.Unauthorized):
            return f"{where}: authentication failed (check the clouds.yaml credentials)"
        if isinstance(exc, ksa.Forbidden | sdk.ForbiddenException):
            return f"{where}: access denied"
        if isinstance(exc, ksa.EndpointNotFound | sdk.EndpointNotFound):
            return f"{where}: service not in the catalog"
        if isinstance(exc, sdk.HttpException):
            return f"{where}: HTTP {exc.status_code}" + (
                f": {redact_urls(str(exc.details))[:160]}" if exc.details else "")
        if isinstance(exc, ksa.HttpError):
            return f"{where}: HTTP {exc.http_status}"
        return f"{where}: {type(exc).__name__}: {redact_urls(str(exc))[:160]}"

    def _has(self, conn: Any, service_type: str) -> bool:
        try:
            catalog = conn.session.auth.get_access(conn.session).service_catalog
            return bool(catalog.get_endpoints(service_type=service_type))
        except Exception:
            return True  # unknown: try it and let the call say what is wrong

    # -- discover ----------------------------------------------------------

    def discover(self) -> Discovery:
        conn = self.connect()
        try:
            raw = self._fetch(conn)
        finally:
            conn.close()
        found = Discovery(source=self.source, provider=self.provider)
        server_ids = self._servers(raw["servers"], found)
        self._images(raw["images"], found, server_ids)
        self._volumes(raw["volumes"], raw["snapshots"], raw["backups"], found)
        return found

    def _fetch(self, conn: Any) -> dict[str, list[Any]]:
        """List everything, one thread per service: each service's first call
        pays for its version discovery, and they need not wait on each other."""
        from openstack import exceptions as sdk

        def compute() -> dict[str, list[Any]]:
            if not self._has(conn, "compute"):
                return {"servers": []}
            return {"servers": list(conn.compute.servers(details=True))}

        def image() -> dict[str, list[Any]]:
            if not self._has(conn, "image"):
                return {"images": []}
            return {"images": list(conn.image.images())}

        def block_storage() -> dict[str, list[Any]]:
            if not (self._has(conn, "block-storage") or self._has(conn, "volumev3")):
                return {"volumes": [], "snapshots": [], "backups": []}
            out = {"volumes": list(conn.block_storage.volumes(details=True)),
                   "snapshots": list(conn.block_storage.snapshots(details=True))}
            try:
                out["backups"] = list(conn.block_storage.backups(details=True))
            except sdk.NotFoundException:
                out["backups"] = []  # no cinder-backup: no backups, not an unreadable cloud
            return out

        def guarded(step: str, call: Any) -> dict[str, list[Any]]:
            try:
                result: dict[str, list[Any]] = call()
                return result
            except Exception as exc:
                raise ProviderError(self._reason(exc, step)) from None

        raw: dict[str, list[Any]] = {}
        with ThreadPoolExecutor(max_workers=3) as pool:
            futures = [pool.submit(guarded, step, call) for step, call in
                       (("compute", compute), ("image", image), ("block-storage", block_storage))]
            for future in futures:
                raw.update(future.result())
        return raw

    def _servers(self, servers: list[Any], found: Discovery) -> set[str]:
        ids = set()
        for server in servers:
            ids.add(server.id)
            flavor = server.flavor or {}
            image = server.image or {}
            found.assets.append(Asset(
                id=self._id("server", server.id), name=server.name or server.id,
                provider=self.provider, kind="server", source=self.source,
                tags=_with_list_tags(_str_items(server.metadata), server.tags),
                attributes={
                    "server_id": server.id,
                    "status": str(server.status or ""),
                    "flavor": str(flavor.get("original_name") or flavor.get("id") or ""),
                    "image_id": str(image.get("id", "")) if isinstance(image, dict) else "",
                    "zone": str(server.availability_zone or ""),
                },
            ))
        return ids

    def _images(self, images: list[Any], found: Discovery, server_ids: set[str]) -> None:
        for image in images:
            props = _str_items(image.properties)
            image_type = props.get("image_type", "")
            server_id = str(image.instance_uuid or props.get("instance_uuid") or "")
            if image_type in _SERVER_IMAGE_TYPES and server_id:
                self._server_image(image, server_id, server_id in server_ids, found)
                continue
            tags = {k: v for k, v in props.items() if not k.startswith(("os_", "owner_specified."))
                    and k not in ("stores", "locations", "direct_url")}
            found.assets.append(Asset(
                id=self._id("image", image.id), name=image.name or image.id,
                provider=self.provider, kind="image", source=self.source,
                tags=_with_list_tags(tags, image.tags),
                attributes={
                    "image_id": image.id,
                    "status": str(image.status or ""),
                    "size_bytes": str(image.size or ""),
                    "disk_format": str(image.disk_format or ""),
                    "visibility": str(image.visibility or ""),
                    "checksum": str(image.hash_value or image.checksum or ""),
                },
            ))

    def _server_image(self, image: Any, server_id: str, server_known: bool,
                      found: Discovery) -> None:
        status = str(image.status or "")
        copy = BackupCopy(
            id=self._id("server-image", image.id),
            asset_id=self._id("server", server_id),
            kind="server-image", strategy=Strategy.SNAPSHOT,
            location=f"glance image {image.id} ({self.source})",
            created_at=aware(image.created_at) or _EPOCH,
            size=int(image.size) if image.size else None,
            verification=Verification(
                platform_ok=status == "active",
                detail="" if status == "active" else f"image status is {status}",
            ),
        )
        if server_known:
            found.copies.append(copy)
        else:
            found.unbound.append(UnboundCopy(server_id, "server", copy))

    def _volumes(self, volumes: list[Any], snapshots: list[Any], backups: list[Any],
                 found: Discovery) -> None:
        sizes: dict[str, int] = {}
        for volume in volumes:
            sizes[volume.id] = int(volume.size or 0)
            attached = [str(a.get("server_id", "")) for a in volume.attachments or []]
            found.assets.append(Asset(
                id=self._id("volume", volume.id), name=volume.name or volume.id,
                provider=self.provider, kind="volume", source=self.source,
                tags=_str_items(volume.metadata),
                attributes={
                    "volume_id": volume.id,
                    "size_gb": str(volume.size or ""),
                    "status": str(volume.status or ""),
                    "bootable": str(bool(volume.is_bootable)).lower(),
                    "volume_type": str(volume.volume_type or ""),
                    "zone": str(volume.availability_zone or ""),
                    "attached_to": ",".join(a for a in attached if a),
                },
            ))
        for snap in snapshots:
            self._volume_copy(snap, "volume-snapshot", Strategy.SNAPSHOT, "snapshot",
                              sizes, found)
        for backup in backups:
            # A backup leaves the volume's storage: the export strategy.
            self._volume_copy(backup, "volume-backup", Strategy.EXPORT, "backup", sizes, found)

    def _volume_copy(self, item: Any, kind: str, strategy: Strategy, noun: str,
                     sizes: dict[str, int], found: Discovery) -> None:
        volume_id = str(item.volume_id or "")
        status = str(item.status or "")
        size = int(item.size or 0)
        extra = " incremental" if getattr(item, "is_incremental", False) else ""
        copy = BackupCopy(
            id=self._id(kind, item.id),
            asset_id=self._id("volume", volume_id),
            kind=kind, strategy=strategy,
            location=f"cinder{extra} {noun} {item.id} ({self.source})",
            created_at=aware(item.created_at) or _EPOCH,
            size=size * 1024**3 if size else None,
            verification=drillrecord.apply(Verification(
                platform_ok=status == "available",
                size_ok=(size == sizes[volume_id]) if volume_id in sizes else None,
                detail="" if status == "available" else f"{noun} status is {status}",
            ), drillrecord.from_tags(_str_items(getattr(item, "metadata", None)))),
        )
        if volume_id in sizes:
            found.copies.append(copy)
        else:
            found.unbound.append(UnboundCopy(volume_id, "volume", copy))
