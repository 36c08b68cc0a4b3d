"""Nova's fake virt driver, made useful for the dr-console lab. Loaded by
nova-compute as ``nova.virt.drlab_fake`` (the launcher puts sitelib on
``nova.virt.__path__``, because Nova imports drivers only from there).

- Server snapshots upload a small real image (the stock driver never
  uploads, so the snapshot image stays queued forever; docs/lab.md, pitfall 5).
- The in-memory instances are also kept in a JSON file, so a restart of the
  lab's nova-compute finds its servers again instead of shutting them off.
"""

from __future__ import annotations

import io
import json
import os

import nova.conf
from nova import exception
from nova.compute import task_states
from nova.image import glance
from nova.virt import fake
from oslo_log import log as logging

CONF = nova.conf.CONF
LOG = logging.getLogger(__name__)

_SNAPSHOT_HEADER = b"DRLAB-SERVER-SNAPSHOT\n"


class DrLabFakeDriver(fake.FakeDriver):
    def __init__(self, virtapi, read_only=False):
        super().__init__(virtapi, read_only)
        self._image_api = glance.API()
        self._state_file = os.path.join(CONF.instances_path, "drlab-fake-instances.json")
        self._sizes: dict[str, dict[str, int]] = {}
        self._load()

    # -- persistence of the fake instances ---------------------------------

    def _load(self) -> None:
        try:
            with open(self._state_file) as f:
                saved = json.load(f)
        except FileNotFoundError:
            return
        except ValueError:
            LOG.warning("ignoring unreadable %s", self._state_file)
            return
        for uuid, entry in saved.items():
            self.instances[uuid] = fake.FakeInstance(entry["name"], entry["state"], uuid)
            size = entry.get("size", {})
            self._sizes[uuid] = size
            self.resources.claim(vcpus=size.get("vcpus", 0), mem=size.get("mem", 0),
                                 disk=size.get("disk", 0))

    def _save(self) -> None:
        os.makedirs(os.path.dirname(self._state_file), exist_ok=True)
        data = {uuid: {"name": inst.name, "state": inst.state,
                       "size": self._sizes.get(uuid, {})}
                for uuid, inst in self.instances.items()}
        tmp = self._state_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f)
        os.replace(tmp, self._state_file)

    def spawn(self, context, instance, image_meta, injected_files, admin_password,
              allocations, network_info=None, block_device_info=None, power_on=True,
              accel_info=None):
        super().spawn(context, instance, image_meta, injected_files, admin_password,
                      allocations, network_info=network_info,
                      block_device_info=block_device_info, power_on=power_on,
                      accel_info=accel_info)
        flavor = instance.flavor
        self._sizes[instance.uuid] = {"vcpus": flavor.vcpus, "mem": flavor.memory_mb,
                                      "disk": flavor.root_gb}
        self._save()

    def destroy(self, context, instance, network_info, block_device_info=None,
                destroy_disks=True, destroy_secrets=True):
        super().destroy(context, instance, network_info, block_device_info=block_device_info,
                        destroy_disks=destroy_disks, destroy_secrets=destroy_secrets)
        self._sizes.pop(instance.uuid, None)
        self._save()

    def power_off(self, instance, timeout=0, retry_interval=0):
        super().power_off(instance, timeout=timeout, retry_interval=retry_interval)
        self._save()

    def power_on(self, context, instance, network_info, block_device_info=None,
                 accel_info=None):
        super().power_on(context, instance, network_info,
                         block_device_info=block_device_info, accel_info=accel_info)
        self._save()

    # -- server snapshots with real bytes -------------------------------------

    def snapshot(self, context, instance, image_id, update_task_state):
        if instance.uuid not in self.instances:
            raise exception.InstanceNotRunning(instance_id=instance.uuid)
        update_task_state(task_state=task_states.IMAGE_PENDING_UPLOAD)
        body = (_SNAPSHOT_HEADER
                + f"instance={instance.uuid} name={instance.display_name}\n".encode()
                + b"\0" * 4000)
        metadata = {"disk_format": "raw", "container_format": "bare",
                    "properties": {"image_location": "snapshot",
                                   "image_state": "available",
                                   "owner_id": instance.project_id}}
        update_task_state(task_state=task_states.IMAGE_UPLOADING,
                          expected_state=task_states.IMAGE_PENDING_UPLOAD)
        self._image_api.update(context, image_id, metadata, io.BytesIO(body))
        LOG.info("uploaded a %d-byte snapshot image %s", len(body), image_id,
                 instance=instance)

