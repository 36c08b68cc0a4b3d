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
    }


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
