"""moto's server as the lab's AWS: EC2, RDS and S3 on one loopback port.
Its state lives in memory, so every start is a fresh cloud (seeded again)."""

from __future__ import annotations

import json
import secrets
import shutil
import sys
from pathlib import Path

from dr_console.lab import procs


def moto_server_binary() -> str:
    # The venv's own script first: a moto_server elsewhere on PATH may be
    # another Python with another moto.
    beside = Path(sys.executable).parent / "moto_server"
    if beside.exists():
        return str(beside)
    found = shutil.which("moto_server")
    if not found:
        raise procs.LabError("moto_server not found: pip install 'moto[server]'")
    return found


# One small AMI catalogue instead of moto's thousands: its first EC2 call
# otherwise spends seconds loading them (most of the lab's AWS seeding time).
LAB_AMI_ID = "ami-0d1ab0000000de012"
_AMIS = [{
    "ami_id": LAB_AMI_ID, "name": "debian-12-amd64-lab", "description": "Debian 12 (lab)",
    "owner_id": "136693071363", "public": True, "state": "available",
    "image_location": "amazon/debian-12-amd64-lab", "root_device_type": "ebs",
    "root_device_name": "/dev/xvda", "image_type": "machine", "architecture": "x86_64",
    "virtualization_type": "hvm", "hypervisor": "xen", "sriov": "simple",
}]


def start(lab_dir: Path, name: str, port: int) -> procs.Service:
    amis = lab_dir / "moto" / "amis.json"
    amis.parent.mkdir(parents=True, exist_ok=True)
    amis.write_text(json.dumps(_AMIS))
    return procs.start(name, [moto_server_binary(), "-H", procs.LOOPBACK, "-p", str(port)],
                       lab_dir, env={"MOTO_AMIS_PATH": str(amis)})


def endpoint(port: int) -> str:
    return f"http://{procs.LOOPBACK}:{port}"


def write_credentials(lab_dir: Path) -> Path:
    """An AWS credentials file (0600). moto accepts any keys; random ones
    keep the habit of never sharing a well-known secret."""
    path = lab_dir / "aws-credentials"
    if not path.exists():
        key_id = "AKIALAB" + secrets.token_hex(7).upper()
        secret = secrets.token_urlsafe(30)
        path.touch(mode=0o600)
        path.write_text(f"[default]\naws_access_key_id = {key_id}\n"
                        f"aws_secret_access_key = {secret}\n")
    path.chmod(0o600)
    return path
