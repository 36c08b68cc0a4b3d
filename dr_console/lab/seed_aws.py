"""The lab's AWS account (moto): servers built by CI, payload volumes and a
database instance with their snapshots, a customer bucket, and the gaps a
real account accumulates (an untagged server, a volume nobody backs up)."""

from __future__ import annotations

import random
import secrets
from typing import Any

from dr_console.backup.s3 import boto3_session
from dr_console.lab.moto import LAB_AMI_ID
from dr_console.schema import AwsCloud

REPRODUCIBLE = [{"Key": "dr:class", "Value": "reproducible"}]


def _tags(name: str, extra: list[dict[str, str]] | None = None) -> list[dict[str, str]]:
    return [{"Key": "Name", "Value": name}, *(extra or [])]


def clients(cloud: AwsCloud) -> tuple[Any, Any, Any]:
    """(ec2, rds, s3) clients; boto3 clients (not sessions) are thread-safe."""
    session = boto3_session(cloud.credentials_file, cloud.profile, cloud.region)
    return tuple(session.client(svc, endpoint_url=cloud.endpoint_url)  # type: ignore[return-value]
                 for svc in ("ec2", "rds", "s3"))


def seed_aws(cloud: AwsCloud, ec2: Any, rds: Any) -> dict[str, Any]:
    """Create the account's servers, volumes and databases; return their ids."""
    image = LAB_AMI_ID
    instances = {}
    for name, tags in (("web-a", REPRODUCIBLE), ("web-b", REPRODUCIBLE),
                       # Only a Name: nobody ever said what it is (unclassified).
                       ("legacy-ftp", [])):
        reply = ec2.run_instances(
            ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro",
            Placement={"AvailabilityZone": f"{cloud.region}a"},
            TagSpecifications=[{"ResourceType": "instance", "Tags": _tags(name, tags)}])
        instances[name] = reply["Instances"][0]["InstanceId"]

    volumes = {}
    for name, size in (("orders-data", 20), ("logs-archive", 50)):
        reply = ec2.create_volume(
            AvailabilityZone=f"{cloud.region}a", Size=size, VolumeType="gp3",
            TagSpecifications=[{"ResourceType": "volume", "Tags": _tags(name)}])
        volumes[name] = reply["VolumeId"]
    ec2.attach_volume(VolumeId=volumes["orders-data"], InstanceId=instances["web-a"],
                      Device="/dev/sdf")
    snapshots = [
        ec2.create_snapshot(
            VolumeId=volumes["orders-data"], Description=f"orders-data nightly {n}",
            TagSpecifications=[{"ResourceType": "snapshot",
                                "Tags": _tags(f"orders-data-nightly-{n}")}])["SnapshotId"]
        for n in (1, 2)
    ]
    # logs-archive: deliberately no snapshot.

    rds.create_db_instance(
        DBInstanceIdentifier="orders-db", Engine="mysql", EngineVersion="8.0.35",
        DBInstanceClass="db.t3.micro", AllocatedStorage=20, MasterUsername="admin",
        MasterUserPassword=secrets.token_urlsafe(16), BackupRetentionPeriod=7,
        Tags=[{"Key": "Name", "Value": "orders-db"}])
    rds.create_db_snapshot(DBSnapshotIdentifier="orders-db-manual-1",
                           DBInstanceIdentifier="orders-db")

    return {
        "instances": instances, "volumes": volumes, "ebs_snapshots": snapshots,
        "db_instances": ["orders-db"], "db_snapshots": ["orders-db-manual-1"],
        **_payload_twin(cloud, ec2, image),
    }


# The EBS twin of the Nova server app-1 and its payload volumes (names of
# their own: an asset is found by name). moto keeps no bytes: what a runbook
# proves here is what the API proves (create from snapshot, attach, states).
PAYLOAD_TWIN = (("app-data-ebs", "ext4"), ("app-home-ebs", "ext4"), ("app-media-ebs", "xfs"),
                ("app-logs-ebs", "xfs"))


def _payload_twin(cloud: AwsCloud, ec2: Any, image: str) -> dict[str, Any]:
    zone = f"{cloud.region}a"
    # In EC2 nothing copies an instance itself: it is rebuilt from its launch
    # template, and only its EBS volumes are restored and reattached.
    reply = ec2.run_instances(
        ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro",
        Placement={"AvailabilityZone": zone},
        TagSpecifications=[{"ResourceType": "instance", "Tags": _tags("app-1", REPRODUCIBLE)}])
    instance = reply["Instances"][0]["InstanceId"]
    volumes = {}
    for index, (name, fs) in enumerate(PAYLOAD_TWIN):
        volume_id = ec2.create_volume(
            AvailabilityZone=zone, Size=1, VolumeType="gp3",
            TagSpecifications=[{"ResourceType": "volume",
                                "Tags": _tags(name, [{"Key": "dr:fs", "Value": fs}])}])["VolumeId"]
        device = f"/dev/sd{'fghi'[index]}"
        ec2.attach_volume(VolumeId=volume_id, InstanceId=instance, Device=device)
        snapshot = ec2.create_snapshot(
            VolumeId=volume_id, Description=f"{name} nightly 1",
            TagSpecifications=[{"ResourceType": "snapshot",
                                "Tags": _tags(f"{name}-snap-1")}])["SnapshotId"]
        volumes[name] = {"id": volume_id, "fs": fs, "device": device, "zone": zone,
                         "snapshots": [snapshot]}
    return {"payload_instance": {"name": "app-1", "id": instance, "zone": zone},
            "payload_volumes": volumes}


def seed_buckets(s3: Any) -> dict[str, int]:
    """The customer bucket (payload); returns object counts per bucket."""
    s3.create_bucket(Bucket="customer-uploads")
    rng = random.Random(7)
    objects = []
    for i in range(24):
        key = f"uploads/{2024 + i % 2}/{i:03d}-" + rng.choice(["avatar.png", "invoice.pdf",
                                                             "photo.jpg", "notes.txt"])
        s3.put_object(Bucket="customer-uploads", Key=key, Body=rng.randbytes(rng.randrange(512, 8192)))
        objects.append(key)
    return {"customer-uploads": len(objects)}
