"""AWS (or an AWS-compatible endpoint): EC2 instances and EBS volumes with
their snapshots, RDS instances with their DB snapshots, and S3 buckets
other than the site's own backup stores."""

from __future__ import annotations

import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from dr_console import drillrecord
from dr_console.errors import ProviderError
from dr_console.model import Asset, BackupCopy, Strategy, Verification, asset_id
from dr_console.providers import Discovery, UnboundCopy
from dr_console.providers._boto import (
    BOTO_ERRORS,
    endpoint_key,
    endpoint_label,
    error_code,
    make_client,
    reason,
    session,
)
from dr_console.schema import AwsCloud, Store

# How AWS (and moto) describe the snapshots behind an AMI.
_AMI_SNAPSHOT = re.compile(r"^(Created by CreateImage|Auto-created snapshot for AMI|"
                           r"Copied for DestinationAmi)")


def _tags(tag_list: Iterable[dict[str, Any]] | None) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in tag_list or ()}


def _aware(moment: Any) -> datetime:
    if isinstance(moment, datetime):
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return datetime.fromtimestamp(0, UTC)


class AwsProvider:
    provider = "aws"

    def __init__(self, cloud: AwsCloud, stores: Iterable[Store] = ()) -> None:
        self.cloud = cloud
        self.source = cloud.name
        self._where = f"aws {cloud.name} ({endpoint_label(cloud.endpoint_url, cloud.region)})"
        # Buckets that are backup stores on this same endpoint hold copies,
        # not assets: the store provider reads them.
        # (Bucket names are global on AWS itself, so region does not matter.)
        here = endpoint_key(cloud.endpoint_url, "")
        self._store_buckets = {
            s.bucket for s in stores if endpoint_key(s.endpoint_url, "") == here
        }

    def _id(self, kind: str, native: str) -> str:
        return asset_id(self.source, kind, native)

    def discover(self) -> Discovery:
        sess = session(region=self.cloud.region, profile=self.cloud.profile,
                       credentials_file=self.cloud.credentials_file, what=self._where)
        readers: dict[str, Any] = {"ec2": self._ec2, "rds": self._rds, "s3": self._s3}
        wanted = [svc for svc in readers if svc in self.cloud.services]
        # Clients are made here, one thread: boto3 sessions are not thread-safe,
        # the clients they make are.
        clients = {svc: make_client(sess, svc, endpoint_url=self.cloud.endpoint_url,
                                    timeout=self.cloud.timeout, what=self._where)
                   for svc in [*wanted, *(["sts"] if "ec2" in wanted else [])]}

        def read(svc: str) -> Discovery:
            part = Discovery(source=self.source, provider=self.provider)
            try:
                if svc == "ec2":
                    self._ec2(clients["ec2"], part, clients["sts"])
                else:
                    readers[svc](clients[svc], part)
            except BOTO_ERRORS as exc:
                raise ProviderError(
                    reason(exc, where=f"{self._where} {svc}", timeout=self.cloud.timeout)
                ) from None
            return part

        found = Discovery(source=self.source, provider=self.provider)
        # The services answer independently: ask them at once.
        with ThreadPoolExecutor(max_workers=max(1, len(wanted))) as pool:
            for part in pool.map(read, wanted):
                found.assets.extend(part.assets)
                found.copies.extend(part.copies)
                found.unbound.extend(part.unbound)
        return found

    # -- EC2 ---------------------------------------------------------------

    def _account(self, sts: Any) -> str | None:
        """Our account id, to ask only for our own snapshots; None if the
        endpoint has no STS (then OwnerIds=self alone must do)."""
        try:
            return str(sts.get_caller_identity()["Account"])
        except BOTO_ERRORS:
            return None

    def _ec2(self, ec2: Any, found: Discovery, sts: Any = None) -> None:
        # A root disk comes back with its instance (a reproducible server's
        # root disk is reproducible too): remember which volume is whose.
        root_of: dict[str, str] = {}
        for page in ec2.get_paginator("describe_instances").paginate():
            for reservation in page.get("Reservations", []):
                for inst in reservation.get("Instances", []):
                    state = inst.get("State", {}).get("Name", "")
                    if state == "terminated":
                        continue  # gone for good; nothing to bring back
                    tags = _tags(inst.get("Tags"))
                    for mapping in inst.get("BlockDeviceMappings", []):
                        volume_id = mapping.get("Ebs", {}).get("VolumeId")
                        if volume_id and _same_device(mapping.get("DeviceName", ""),
                                                      inst.get("RootDeviceName", "")):
                            root_of[volume_id] = self._id("server", inst["InstanceId"])
                    found.assets.append(Asset(
                        id=self._id("server", inst["InstanceId"]),
                        name=tags.get("Name") or inst["InstanceId"],
                        provider=self.provider, kind="server", source=self.source, tags=tags,
                        attributes={
                            "instance_id": inst["InstanceId"],
                            "state": state,
                            "instance_type": str(inst.get("InstanceType", "")),
                            "image_id": str(inst.get("ImageId", "")),
                            "zone": str(inst.get("Placement", {}).get("AvailabilityZone", "")),
                        },
                    ))

        sizes: dict[str, int] = {}
        for page in ec2.get_paginator("describe_volumes").paginate():
            for vol in page.get("Volumes", []):
                tags = _tags(vol.get("Tags"))
                sizes[vol["VolumeId"]] = int(vol.get("Size", 0))
                attached = [a.get("InstanceId", "") for a in vol.get("Attachments", [])]
                found.assets.append(Asset(
                    id=self._id("volume", vol["VolumeId"]),
                    name=tags.get("Name") or vol["VolumeId"],
                    provider=self.provider, kind="volume", source=self.source, tags=tags,
                    attributes={
                        "volume_id": vol["VolumeId"],
                        "size_gb": str(vol.get("Size", "")),
                        "state": str(vol.get("State", "")),
                        "zone": str(vol.get("AvailabilityZone", "")),
                        "attached_to": ",".join(a for a in attached if a),
                        **({"root_disk_of": root_of[vol["VolumeId"]]}
                           if vol["VolumeId"] in root_of else {}),
                    },
                ))

        # The owner-id filter as well as OwnerIds=self: some AWS-compatible
        # endpoints (moto among them) ignore the latter and list every
        # public snapshot, thousands of them.
        # Asked only now: on a dead endpoint the calls above have failed
        # already, and this one would only add its own timeout.
        account = self._account(sts) if sts is not None else None
        own: dict[str, Any] = {"OwnerIds": ["self"]}
        if account:
            own["Filters"] = [{"Name": "owner-id", "Values": [account]}]
        for page in ec2.get_paginator("describe_snapshots").paginate(**own):
            for snap in page.get("Snapshots", []):
                if _AMI_SNAPSHOT.match(snap.get("Description", "")):
                    continue  # backs an AMI: a copy of an image, not of a volume
                volume_id = snap.get("VolumeId", "")
                state = snap.get("State", "")
                size = int(snap.get("VolumeSize", 0))
                detail = "" if state == "completed" else f"snapshot state is {state}"
                copy = BackupCopy(
                    id=self._id("ebs-snapshot", snap["SnapshotId"]),
                    asset_id=self._id("volume", volume_id),
                    kind="ebs-snapshot", strategy=Strategy.SNAPSHOT,
                    location=f"ebs snapshot {snap['SnapshotId']} ({self.source})",
                    created_at=_aware(snap.get("StartTime")),
                    size=size * 1024**3 if size else None,
                    verification=drillrecord.apply(Verification(
                        platform_ok=state == "completed",
                        size_ok=(size == sizes[volume_id]) if volume_id in sizes else None,
                        detail=detail,
                    ), drillrecord.from_tags(_tags(snap.get("Tags")))),
                )
                if volume_id in sizes:
                    found.copies.append(copy)
                else:
                    # The volume is gone: the snapshot may be all that is
                    # left of it. The inventory keeps it as an orphan.
                    found.unbound.append(UnboundCopy(volume_id, "volume", copy))

    # -- RDS ---------------------------------------------------------------

    def _rds(self, rds: Any, found: Discovery) -> None:
        sizes: dict[str, int] = {}
        for page in rds.get_paginator("describe_db_instances").paginate():
            for db in page.get("DBInstances", []):
                ident = db["DBInstanceIdentifier"]
                sizes[ident] = int(db.get("AllocatedStorage", 0))
                endpoint = db.get("Endpoint") or {}
                found.assets.append(Asset(
                    id=self._id("db-instance", ident), name=ident,
                    provider=self.provider, kind="db-instance", source=self.source,
                    tags=_tags(db.get("TagList")),
                    attributes={
                        "engine": str(db.get("Engine", "")),
                        "engine_version": str(db.get("EngineVersion", "")),
                        "status": str(db.get("DBInstanceStatus", "")),
                        "allocated_gb": str(db.get("AllocatedStorage", "")),
                        "endpoint": f"{endpoint.get('Address', '')}:{endpoint.get('Port', '')}"
                        if endpoint else "",
                    },
                ))
        for page in rds.get_paginator("describe_db_snapshots").paginate():
            for snap in page.get("DBSnapshots", []):
                ident = snap.get("DBInstanceIdentifier", "")
                status = snap.get("Status", "")
                size = int(snap.get("AllocatedStorage", 0))
                copy = BackupCopy(
                    id=self._id("db-snapshot", snap["DBSnapshotIdentifier"]),
                    asset_id=self._id("db-instance", ident),
                    kind="db-snapshot", strategy=Strategy.SNAPSHOT,
                    location=f"rds snapshot {snap['DBSnapshotIdentifier']} ({self.source})",
                    created_at=_aware(snap.get("SnapshotCreateTime")
                                      or snap.get("InstanceCreateTime")),
                    size=size * 1024**3 if size else None,
                    verification=Verification(
                        platform_ok=status == "available",
                        size_ok=(size == sizes[ident]) if ident in sizes else None,
                        detail="" if status == "available" else f"snapshot status is {status}",
                    ),
                )
                if ident in sizes:
                    found.copies.append(copy)
                else:
                    found.unbound.append(UnboundCopy(ident, "db-instance", copy))

    # -- S3 ----------------------------------------------------------------

    def _s3(self, s3: Any, found: Discovery) -> None:
        for bucket in s3.list_buckets().get("Buckets", []):
            name = bucket["Name"]
            if name in self._store_buckets:
                continue
            try:
                tags = _tags(s3.get_bucket_tagging(Bucket=name).get("TagSet"))
            except BOTO_ERRORS as exc:
                code = error_code(exc)
                if code not in ("NoSuchTagSet", "NoSuchTagSetError"):
                    raise
                tags = {}
            found.assets.append(Asset(
                id=self._id("bucket", name), name=name, provider=self.provider, kind="bucket",
                source=self.source, tags=tags,
                attributes={"created": _aware(bucket.get("CreationDate")).isoformat()},
            ))


def _same_device(one: str, other: str) -> bool:
    """Xen-era names alias each other: /dev/sda1, /dev/sda and /dev/xvda are
    one root device (and endpoints mix them: an instance may report its
    root as /dev/xvda and map /dev/sda1)."""

    def canonical(name: str) -> str:
        base = name.removeprefix("/dev/").rstrip("0123456789")
        return "xvd" + base[2:] if base.startswith("sd") else base

    return bool(one) and canonical(one) == canonical(other)
