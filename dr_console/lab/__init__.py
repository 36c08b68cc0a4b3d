"""The local lab: real services on 127.0.0.1 (MariaDB, OpenSSH hosts, moto
for AWS and the offsite store, optionally an OpenStack control plane),
seeded with assets, backup copies and deliberate faults.

    lab_up(lab_dir, openstack=True) -> site file path
    lab_down(lab_dir) -> names of the stopped services
    lab_status(lab_dir) -> [(name, pid, alive)]
"""

from __future__ import annotations

from typing import Any

__all__ = ["lab_down", "lab_status", "lab_up"]


def __getattr__(name: str) -> Any:
    # Lazy (PEP 562): `import dr_console.lab.procs` stays cheap and free of
    # boto3/paramiko for the OpenStack helper and the CLI's start-up.
    if name in __all__:
        from dr_console.lab import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
