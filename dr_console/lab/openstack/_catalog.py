"""What Keystone must hold for the lab: projects, service users and roles,
the tenant user, and the service catalog. sitelib/drlab_keystone_setup.py
applies it inside Keystone (idempotently); this module only describes it."""

from __future__ import annotations

from typing import Any

from dr_console.lab.openstack._config import (
    REGION,
    SERVICE_PROJECT,
    SERVICE_USERS,
    TENANT_PROJECT,
    TENANT_USER,
    keystone_url,
)


def catalog_entries(ports: dict[str, int]) -> list[tuple[str, str, str]]:
    """(service type, service name, URL) for every service but Keystone."""
    return [
        ("image", "glance", f"http://127.0.0.1:{ports['glance']}"),
        ("placement", "placement", f"http://127.0.0.1:{ports['placement']}"),
        # Nova's default catalog_info looks for volumev3/cinderv3; openstacksdk
        # knows volumev3 as an alias of block-storage.
        ("volumev3", "cinderv3", f"http://127.0.0.1:{ports['cinder']}/v3/%(project_id)s"),
        ("compute", "nova", f"http://127.0.0.1:{ports['nova']}/v2.1"),
        ("network", "neutron", f"http://127.0.0.1:{ports['neutron']}"),
    ]


def keystone_spec(ports: dict[str, int], pw: dict[str, str], db_sync: bool) -> dict[str, Any]:
    """The input of drlab_keystone_setup.py (it holds passwords: pass it on
    stdin only)."""
    users = [
        # Service users: admin in the service project, plus the `service`
        # role (Nova needs it for its service token; docs/lab.md, pitfall 4).
        {"name": user, "password": pw[f"svc_{user}"], "project": SERVICE_PROJECT,
         "roles": ["admin", "service"]}
        for user in SERVICE_USERS
    ]
    users.append({"name": TENANT_USER, "password": pw[TENANT_USER], "project": TENANT_PROJECT,
                  "roles": ["member", "reader"]})
    return {
        "db_sync": db_sync,
        "region": REGION,
        "admin_password": pw["admin"],
        "identity_url": keystone_url(ports),
        "projects": [SERVICE_PROJECT, TENANT_PROJECT],
        "roles": ["admin", "member", "reader", "service"],
        "users": users,
        "services": [{"type": stype, "name": name, "url": url,
                      "interfaces": ["public", "internal"]}
                     for stype, name, url in catalog_entries(ports)],
    }
