"""Volumes on a cloud, as the payload-volume runbook needs them: one small
interface over Cinder/Nova (openstacksdk) and EBS/EC2 (boto3), so the
runbook's steps read the same for both.

Every wait is on an end state with a deadline, never on a transition
(`available` may follow `creating` with nothing in between); a failure
state stops the wait at once with the platform's own reason."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Protocol

from dr_console.errors import DrConsoleError, ProviderError
from dr_console.runbooks.engine import Cancelled, StepFailed
from dr_console.schema import AwsCloud, OpenStackCloud

RUN_TAG = "dr:run"  # the run that made a volume: a resumed run finds it again
FROM_TAG = "dr:restored-from"
# "pending" until the copy's data is in the volume, then "done": a volume made
# empty and killed before (or during) the restore into it is not mistaken
# for a restored one.
FILLED_TAG = "dr:filled"
# Volume states an operator must look at before anything else happens.
STUCK = frozenset({"reserved", "attaching", "detaching", "error_detaching", "busy"})
_POLL = 1.0


@dataclass(frozen=True)
class Attachment:
    server_id: str
    device: str
    attachment_id: str = ""


@dataclass(frozen=True)
class Volume:
    id: str
    name: str
    size_gb: int
    volume_type: str
    zone: str
    status: str
    attachments: tuple[Attachment, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)

    def attached_to(self, server_id: str) -> Attachment | None:
        return next((a for a in self.attachments if a.server_id == server_id), None)


@dataclass(frozen=True)
class Server:
    id: str
    name: str
    zone: str


@dataclass(frozen=True)
class CopyRef:
    """A platform copy: a Cinder backup or snapshot, an EBS snapshot."""

    kind: str  # volume-backup | volume-snapshot | ebs-snapshot
    id: str
    size_gb: int | None = None


class VolumeCloud(Protocol):
    name: str
    service: str  # "cinder" | "ebs": what the copies and volumes are called

    def volume(self, ref: str) -> Volume: ...
    def volume_or_none(self, volume_id: str) -> Volume | None: ...
    def restored_by(self, run_id: str, name: str) -> Volume | None: ...
    def server(self, ref: str) -> Server: ...
    def server_volumes(self, server: Server) -> list[Volume]: ...
    def create_from(self, copy: CopyRef, *, name: str, size_gb: int, volume_type: str,
                    zone: str, tags: dict[str, str]) -> str: ...
    def needs_fill(self, copy: CopyRef) -> bool: ...
    def fill(self, copy: CopyRef, volume_id: str) -> None: ...
    def tag(self, volume_id: str, key: str, value: str) -> None: ...
    def tag_copy(self, copy: CopyRef, tags: dict[str, str]) -> None: ...
    def copy_problem(self, copy: CopyRef) -> str: ...
    def attach(self, server: Server, volume_id: str, device: str) -> None: ...
    def detach(self, server: Server, volume: Volume) -> None: ...
    def reset_state(self, volume_id: str) -> None: ...
    def delete(self, volume_id: str) -> None: ...
    def commands(self) -> Commands: ...


@dataclass(frozen=True)
class Commands:
    """The equivalent commands an operator could type, per operation."""

    create_from_backup: str
    create_from_snapshot: str
    show: str
    detach: str
    attach: str
    reset_state: str
    delete: str


def wait_for(cloud: VolumeCloud, volume_id: str, ends: Collection[str], *, failing: Collection[str],
             timeout: float, cancel: threading.Event, what: str,
             on_poll: Callable[[Volume], None] | None = None) -> Volume:
    """Poll until the volume is in one of `ends`; StepFailed on a failing
    state or at the deadline, with what the platform says."""
    deadline = time.monotonic() + timeout
    last: Volume | None = None
    while True:
        if cancel.is_set():
            raise Cancelled()
        last = cloud.volume_or_none(volume_id)
        if last is None:
            raise StepFailed(f"{what}: volume {volume_id} disappeared")
        if on_poll is not None:
            on_poll(last)
        if last.status in ends:
            return last
        if last.status in failing:
            raise StepFailed(f"{what}: volume {last.name} ({volume_id}) went to {last.status}")
        if time.monotonic() >= deadline:
            attached = ", ".join(f"{a.server_id} at {a.device}" for a in last.attachments) or "none"
            raise StepFailed(f"{what}: volume {last.name} ({volume_id}) is still {last.status} "
                             f"after {timeout:.0f}s (attachments: {attached})")
        cancel.wait(_POLL)


# ---------------------------------------------------------------------------
# OpenStack: Cinder volumes, Nova attachments


class OpenStackVolumes:
    service = "cinder"

    def __init__(self, cloud: OpenStackCloud) -> None:
        from dr_console.providers.openstack import OpenStackProvider

        self.cloud = cloud
        self.name = cloud.name
        self._provider = OpenStackProvider(cloud)
        self._conn: Any = None

    @property
    def conn(self) -> Any:
        if self._conn is None:
            self._conn = self._provider.connect()
        return self._conn

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        from openstack import exceptions as sdk

        try:
            return fn()
        except DrConsoleError:
            raise
        except sdk.HttpException as exc:
            detail = str(exc.details or "").strip()
            raise StepFailed(f"{self.name}: {what} refused (HTTP {exc.status_code})"
                             + (f": {detail[:240]}" if detail else "")) from None
        except Exception as exc:
            raise StepFailed(f"{self.name}: {what} failed: {str(exc)[:240]}") from None

    @staticmethod
    def _as_volume(raw: Any) -> Volume:
        return Volume(
            id=raw.id, name=raw.name or raw.id, size_gb=int(raw.size or 0),
            volume_type=str(raw.volume_type or ""), zone=str(raw.availability_zone or ""),
            status=str(raw.status or ""),
            attachments=tuple(Attachment(str(a.get("server_id", "")), str(a.get("device", "")),
                                         str(a.get("attachment_id", "")))
                              for a in raw.attachments or []),
            tags={str(k): str(v) for k, v in (raw.metadata or {}).items()})

    def volume(self, ref: str) -> Volume:
        found = self._call(f"finding volume {ref}",
                           lambda: self.conn.block_storage.find_volume(ref, ignore_missing=True))
        if found is None:
            raise StepFailed(f"{self.name}: no volume named or with id {ref!r}")
        return self._as_volume(self._call("reading the volume",
                                          lambda: self.conn.block_storage.get_volume(found.id)))

    def volume_or_none(self, volume_id: str) -> Volume | None:
        from openstack import exceptions as sdk

        try:
            return self._as_volume(self.conn.block_storage.get_volume(volume_id))
        except sdk.NotFoundException:
            return None
        except sdk.HttpException as exc:
            raise StepFailed(f"{self.name}: reading volume {volume_id} refused "
                             f"(HTTP {exc.status_code})") from None

    def restored_by(self, run_id: str, name: str) -> Volume | None:
        """The volume this run made: asked by its name (Cinder filters on it;
        its metadata filter is not reliable across releases), then its tag."""
        volumes = self._call("listing volumes", lambda: list(
            self.conn.block_storage.volumes(details=True, name=name)))
        mine = [v for v in volumes if (v.metadata or {}).get(RUN_TAG) == run_id
                and v.status != "deleting"]
        return self._as_volume(mine[0]) if mine else None

    def server(self, ref: str) -> Server:
        found = self._call(f"finding server {ref}",
                           lambda: self.conn.compute.find_server(ref, ignore_missing=True))
        if found is None:
            raise StepFailed(f"{self.name}: no server named or with id {ref!r}")
        raw = self._call("reading the server", lambda: self.conn.compute.get_server(found.id))
        return Server(raw.id, raw.name or raw.id, str(raw.availability_zone or ""))

    def server_volumes(self, server: Server) -> list[Volume]:
        attachments = self._call("listing the server's volumes",
                                 lambda: list(self.conn.compute.volume_attachments(server.id)))
        return [self.volume(a.volume_id) for a in attachments]

    def create_from(self, copy: CopyRef, *, name: str, size_gb: int, volume_type: str, zone: str,
                    tags: dict[str, str]) -> str:
        storage = self.conn.block_storage
        if copy.kind == "volume-snapshot":
            # A volume from a snapshot lands in the snapshot's zone, whatever is asked.
            created = self._call("creating the volume from the snapshot", lambda: storage.create_volume(
                name=name, size=size_gb, snapshot_id=copy.id, metadata=tags,
                **({"volume_type": volume_type} if volume_type else {})))
            return str(created.id)
        # From a backup: an empty volume of our own first (named, tagged, in
        # the server's zone); `fill` restores the backup into it.
        created = self._call("creating the volume", lambda: storage.create_volume(
            name=name, size=size_gb, metadata=tags, availability_zone=zone or None,
            **({"volume_type": volume_type} if volume_type else {})))
        return str(created.id)

    def needs_fill(self, copy: CopyRef) -> bool:
        return copy.kind == "volume-backup"

    def fill(self, copy: CopyRef, volume_id: str) -> None:
        self._call("restoring the backup into it",
                   lambda: self.conn.block_storage.restore_backup(copy.id, volume=volume_id))

    def tag(self, volume_id: str, key: str, value: str) -> None:
        self._call("tagging the volume",
                   lambda: self.conn.block_storage.set_volume_metadata(volume_id, **{key: value}))

    def tag_copy(self, copy: CopyRef, tags: dict[str, str]) -> None:
        storage = self.conn.block_storage
        if copy.kind == "volume-backup":
            # Backup metadata is written with the backup itself (API 3.43+),
            # whole: merge with what is there.
            def put() -> None:
                backup = storage.get_backup(copy.id)
                response = storage.put(f"/backups/{copy.id}", microversion="3.43",
                                       json={"backup": {"metadata": {**(backup.metadata or {}),
                                                                     **tags}}})
                response.raise_for_status()

            self._call("recording the drill on the backup", put)
        else:
            self._call("recording the drill on the snapshot",
                       lambda: storage.set_snapshot_metadata(copy.id, **tags))

    def copy_problem(self, copy: CopyRef) -> str:
        """Why a restore from this copy failed, in Cinder's own words."""
        from openstack import exceptions as sdk

        try:
            if copy.kind == "volume-backup":
                backup = self.conn.block_storage.get_backup(copy.id)
                return f"backup {copy.id} is {backup.status}" + (
                    f": {backup.fail_reason}" if backup.fail_reason else "")
            snap = self.conn.block_storage.get_snapshot(copy.id)
            return f"snapshot {copy.id} is {snap.status}"
        except sdk.HttpException:
            return f"{copy.kind} {copy.id} cannot be read"

    def attach(self, server: Server, volume_id: str, device: str) -> None:
        self._call("attaching the volume", lambda: self.conn.compute.create_volume_attachment(
            server.id, volume_id=volume_id, **({"device": device} if device else {})))

    def detach(self, server: Server, volume: Volume) -> None:
        self._call("detaching the volume", lambda: self.conn.compute.delete_volume_attachment(
            server.id, volume.id, ignore_missing=False))

    def reset_state(self, volume_id: str) -> None:
        admin = self._admin()
        self._call("resetting the volume's state", lambda: admin.block_storage.reset_volume_status(
            volume_id, status="available", attach_status="detached"))

    def _admin(self) -> Any:
        if not self.cloud.admin_cloud:
            raise StepFailed(f"{self.name}: resetting a volume's state needs the admin role; "
                             "name an admin entry of clouds.yaml as admin_cloud in the site file")
        from dr_console.providers.openstack import OpenStackProvider

        admin = self.cloud.model_copy(update={"cloud": self.cloud.admin_cloud})
        try:
            return OpenStackProvider(admin).connect()
        except ProviderError as exc:
            raise StepFailed(str(exc)) from None

    def delete(self, volume_id: str) -> None:
        self._call("deleting the volume", lambda: self.conn.block_storage.delete_volume(
            volume_id, ignore_missing=True))

    def commands(self) -> Commands:
        cli = f"openstack --os-cloud {self.cloud.cloud}"
        return Commands(
            # The volume exists by then: openstackclient refuses to restore into
            # an existing volume without --force ("Volume '…' already exists").
            create_from_backup=(f"{cli} volume create --size <gb> --availability-zone <zone> "
                                "--property dr:run=<run> <name> && "
                                f"{cli} volume backup restore --force <backup> <name>"),
            create_from_snapshot=f"{cli} volume create --snapshot <snapshot> --property dr:run=<run> <name>",
            show=f"{cli} volume show <volume>",
            detach=f"{cli} server remove volume <server> <volume>",
            attach=f"{cli} server add volume <server> <volume>",
            reset_state=(f"openstack --os-cloud {self.cloud.admin_cloud or '<admin>'} volume set "
                         "--state available --detached <volume>"),
            delete=f"{cli} volume delete <volume>",
        )


# ---------------------------------------------------------------------------
# AWS: EBS volumes, EC2 attachments


class EbsVolumes:
    service = "ebs"

    def __init__(self, cloud: AwsCloud) -> None:
        self.cloud = cloud
        self.name = cloud.name
        self._ec2: Any = None

    @property
    def ec2(self) -> Any:
        if self._ec2 is None:
            from dr_console.providers._boto import make_client, session

            sess = session(region=self.cloud.region, profile=self.cloud.profile,
                           credentials_file=self.cloud.credentials_file, what=f"aws {self.name}")
            self._ec2 = make_client(sess, "ec2", endpoint_url=self.cloud.endpoint_url,
                                    timeout=self.cloud.timeout, what=f"aws {self.name}")
        return self._ec2

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        from dr_console.providers._boto import BOTO_ERRORS, reason

        try:
            return fn()
        except BOTO_ERRORS as exc:
            raise StepFailed(reason(exc, where=f"aws {self.name}: {what}",
                                    timeout=self.cloud.timeout)) from None

    @staticmethod
    def _tags(raw: Any) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in raw or []}

    def _as_volume(self, raw: dict[str, Any]) -> Volume:
        tags = self._tags(raw.get("Tags"))
        return Volume(
            id=raw["VolumeId"], name=tags.get("Name") or raw["VolumeId"], size_gb=int(raw.get("Size", 0)),
            volume_type=str(raw.get("VolumeType", "")), zone=str(raw.get("AvailabilityZone", "")),
            status=str(raw.get("State", "")),
            attachments=tuple(Attachment(a.get("InstanceId", ""), a.get("Device", ""))
                              for a in raw.get("Attachments", []) if a.get("State") != "detached"),
            tags=tags)

    def _volumes(self, **query: Any) -> list[Volume]:
        pages = self._call("listing volumes", lambda: list(
            self.ec2.get_paginator("describe_volumes").paginate(**query)))
        return [self._as_volume(v) for page in pages for v in page.get("Volumes", [])]

    def volume(self, ref: str) -> Volume:
        found = self._volumes(VolumeIds=[ref]) if ref.startswith("vol-") else \
            self._volumes(Filters=[{"Name": "tag:Name", "Values": [ref]}])
        if len(found) != 1:
            what = "no volume" if not found else f"{len(found)} volumes"
            raise StepFailed(f"aws {self.name}: {what} named or with id {ref!r}")
        return found[0]

    def volume_or_none(self, volume_id: str) -> Volume | None:
        found = self._volumes(Filters=[{"Name": "volume-id", "Values": [volume_id]}])
        return found[0] if found else None

    def restored_by(self, run_id: str, name: str) -> Volume | None:
        found = [v for v in self._volumes(Filters=[{"Name": f"tag:{RUN_TAG}", "Values": [run_id]}])
                 if v.status != "deleting"]
        return found[0] if found else None

    def server(self, ref: str) -> Server:
        query = {"InstanceIds": [ref]} if ref.startswith("i-") else \
            {"Filters": [{"Name": "tag:Name", "Values": [ref]}]}
        pages = self._call("finding the instance", lambda: self.ec2.describe_instances(**query))
        found = [i for r in pages.get("Reservations", []) for i in r.get("Instances", [])
                 if i.get("State", {}).get("Name") != "terminated"]
        if len(found) != 1:
            raise StepFailed(f"aws {self.name}: {len(found) or 'no'} instance(s) named or with id {ref!r}")
        inst = found[0]
        name = self._tags(inst.get("Tags")).get("Name") or inst["InstanceId"]
        return Server(inst["InstanceId"], name, inst.get("Placement", {}).get("AvailabilityZone", ""))

    def server_volumes(self, server: Server) -> list[Volume]:
        return self._volumes(Filters=[{"Name": "attachment.instance-id", "Values": [server.id]}])

    def create_from(self, copy: CopyRef, *, name: str, size_gb: int, volume_type: str, zone: str,
                    tags: dict[str, str]) -> str:
        spec = [{"ResourceType": "volume",
                 "Tags": [{"Key": k, "Value": v} for k, v in {**tags, "Name": name}.items()]}]
        created = self._call("creating the volume from the snapshot", lambda: self.ec2.create_volume(
            SnapshotId=copy.id, AvailabilityZone=zone, Size=size_gb, TagSpecifications=spec,
            **({"VolumeType": volume_type} if volume_type else {})))
        return str(created["VolumeId"])

    def needs_fill(self, copy: CopyRef) -> bool:
        return False  # an EBS volume is made from its snapshot in one call

    def fill(self, copy: CopyRef, volume_id: str) -> None:
        raise StepFailed("an EBS volume is filled when it is created from its snapshot")

    def tag(self, volume_id: str, key: str, value: str) -> None:
        self._call("tagging the volume", lambda: self.ec2.create_tags(
            Resources=[volume_id], Tags=[{"Key": key, "Value": value}]))

    def tag_copy(self, copy: CopyRef, tags: dict[str, str]) -> None:
        self._call("recording the drill on the snapshot", lambda: self.ec2.create_tags(
            Resources=[copy.id], Tags=[{"Key": k, "Value": v} for k, v in tags.items()]))

    def copy_problem(self, copy: CopyRef) -> str:
        found = self._call("reading the snapshot", lambda: self.ec2.describe_snapshots(
            SnapshotIds=[copy.id])).get("Snapshots", [])
        if not found:
            return f"snapshot {copy.id} does not exist"
        snap = found[0]
        return f"snapshot {copy.id} is {snap.get('State')}" + (
            f": {snap['StateMessage']}" if snap.get("StateMessage") else "")

    def attach(self, server: Server, volume_id: str, device: str) -> None:
        device = device or self._free_device(server)
        self._call("attaching the volume", lambda: self.ec2.attach_volume(
            VolumeId=volume_id, InstanceId=server.id, Device=device))

    def _free_device(self, server: Server) -> str:
        """The first of /dev/sdf…/dev/sdp the instance does not use (EC2
        wants a name; the guest finds the disk by its serial anyway)."""
        used = {a.device for v in self.server_volumes(server) for a in v.attachments
                if a.server_id == server.id}
        for letter in "fghijklmnop":
            if f"/dev/sd{letter}" not in used:
                return f"/dev/sd{letter}"
        raise StepFailed(f"aws {self.name}: no free device name left on {server.name}")

    def detach(self, server: Server, volume: Volume) -> None:
        attachment = volume.attached_to(server.id)
        self._call("detaching the volume", lambda: self.ec2.detach_volume(
            VolumeId=volume.id, InstanceId=server.id,
            Device=attachment.device if attachment else ""))

    def reset_state(self, volume_id: str) -> None:
        raise StepFailed("EBS has no reset-state: a volume stuck attaching or detaching is "
                         "forced off with `aws ec2 detach-volume --force`, then retried")

    def delete(self, volume_id: str) -> None:
        self._call("deleting the volume", lambda: self.ec2.delete_volume(VolumeId=volume_id))

    def commands(self) -> Commands:
        endpoint = f" --endpoint-url {self.cloud.endpoint_url}" if self.cloud.endpoint_url else ""
        cli = f"aws{endpoint} --region {self.cloud.region} ec2"
        return Commands(
            create_from_backup=f"{cli} create-volume --snapshot-id <snapshot> --availability-zone <zone>",
            create_from_snapshot=(f"{cli} create-volume --snapshot-id <snapshot> --availability-zone "
                                  "<zone> --tag-specifications 'ResourceType=volume,Tags=[{Key=dr:run,"
                                  "Value=<run>}]'"),
            show=f"{cli} describe-volumes --volume-ids <volume>",
            detach=f"{cli} detach-volume --volume-id <volume> --instance-id <server> --device <device>",
            attach=f"{cli} attach-volume --volume-id <volume> --instance-id <server> --device <device>",
            reset_state=f"{cli} detach-volume --force --volume-id <volume>",
            delete=f"{cli} delete-volume --volume-id <volume>",
        )


def for_cloud(cloud: OpenStackCloud | AwsCloud) -> VolumeCloud:
    return OpenStackVolumes(cloud) if isinstance(cloud, OpenStackCloud) else EbsVolumes(cloud)
