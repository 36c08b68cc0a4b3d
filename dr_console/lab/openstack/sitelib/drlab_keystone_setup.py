"""Keystone's set-up for the dr-console lab in one process (Debian's
python3), straight through Keystone's own managers: db_sync, the standard
bootstrap (admin user, project, roles, identity endpoints), then the lab's
projects, users, role assignments, services and endpoints.

    python3 drlab_keystone_setup.py KEYSTONE_CONF < spec.json

The spec (passwords included) comes on stdin, never in argv. Every step is
idempotent: on a restart whose ports moved it just fixes endpoint URLs.
Doing this over HTTP cost ~40 requests at 0.1-0.8 s of Keystone CPU each on
the lab's 2 cores, plus a second Keystone import for `keystone-manage
bootstrap`; this is the start-up's critical path.
"""

import contextlib
import json
import sys
import uuid

from keystone import exception
from keystone.cmd import bootstrap, cli
from keystone.common import driver_hints, provider_api

PROVIDERS = provider_api.ProviderAPIs


def main(conf: str) -> int:
    spec = json.load(sys.stdin)
    # keystone-manage's own entry point parses the configuration, sets up
    # logging and the database, and runs db_sync (or a harmless no-op).
    command = "db_sync" if spec["db_sync"] else "db_version"
    cli.main(argv=["keystone-manage", "--config-file", conf, command])

    boot = bootstrap.Bootstrapper()  # loads the backends
    boot.admin_username = "admin"
    boot.admin_password = spec["admin_password"]
    boot.project_name = "admin"
    boot.admin_role_name = "admin"
    boot.service_name = "keystone"
    boot.region_id = spec["region"]
    boot.public_url = boot.internal_url = boot.admin_url = spec["identity_url"]
    boot.immutable_roles = True
    boot.bootstrap()
    domain_id = boot.default_domain_id or "default"

    projects = {name: _project(name, domain_id) for name in spec["projects"]}
    roles = {name: boot._ensure_role_exists(name)["id"] for name in spec["roles"]}
    for user in spec["users"]:
        user_id = _user(user["name"], user["password"], domain_id, projects[user["project"]])
        for role in user["roles"]:
            with contextlib.suppress(exception.Conflict):  # assigned already
                PROVIDERS.assignment_api.add_role_to_user_and_project(
                    user_id=user_id, project_id=projects[user["project"]], role_id=roles[role])
    for service in spec["services"]:
        _service(service, spec["region"])
    print("keystone set-up done")
    return 0


def _project(name: str, domain_id: str) -> str:
    try:
        return PROVIDERS.resource_api.get_project_by_name(name, domain_id)["id"]
    except exception.ProjectNotFound:
        project_id = uuid.uuid4().hex
        PROVIDERS.resource_api.create_project(project_id, {
            "id": project_id, "name": name, "domain_id": domain_id, "enabled": True,
            "description": "dr-console lab"})
        return project_id


def _user(name: str, password: str, domain_id: str, project_id: str) -> str:
    try:
        user = PROVIDERS.identity_api.get_user_by_name(name, domain_id)
    except exception.UserNotFound:
        user = PROVIDERS.identity_api.create_user(user_ref={
            "name": name, "enabled": True, "domain_id": domain_id, "password": password,
            "default_project_id": project_id})
    return user["id"]


def _service(service: dict, region: str) -> None:
    hints = driver_hints.Hints()
    hints.add_filter("type", service["type"])
    found = PROVIDERS.catalog_api.list_services(hints)
    if found:
        service_id = found[0]["id"]
    else:
        service_id = uuid.uuid4().hex
        PROVIDERS.catalog_api.create_service(service_id, {
            "id": service_id, "name": service["name"], "type": service["type"],
            "enabled": True})
    hints = driver_hints.Hints()
    hints.add_filter("service_id", service_id)
    existing = {e["interface"]: e for e in PROVIDERS.catalog_api.list_endpoints(hints)}
    for interface in service["interfaces"]:
        endpoint = existing.get(interface)
        if endpoint is None:
            endpoint_id = uuid.uuid4().hex
            PROVIDERS.catalog_api.create_endpoint(endpoint_id, {
                "id": endpoint_id, "interface": interface, "url": service["url"],
                "service_id": service_id, "region_id": region, "enabled": True})
        elif endpoint["url"] != service["url"]:
            PROVIDERS.catalog_api.update_endpoint(endpoint["id"], {"url": service["url"]})


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
