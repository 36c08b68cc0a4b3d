"""Nova's fake virt driver, made useful for the dr-console lab. Loaded by
nova-compute as ``nova.virt.drlab_fake`` (the launcher puts sitelib on
``nova.virt.__path__``, because Nova imports drivers only from there).

- Server snapshots upload a small real image (the stock driver never
  uploads, so the snapshot image stays queued forever; docs/lab.md, pitfall 5).
- The in-memory instances are also kept in a JSON file, so a restart of the
  lab's nova-compute finds its servers again instead of shutting them off.
- A volume attached to a server that a lab host plays becomes a real block
  device inside that host (drlab_guestdisk; docs/lab-volumes.md). Other
  servers attach as the stock fake driver does: nothing moves.
"""

from __future__ import annotations

import io
import json
import os

import drlab_guestdisk as guestdisk
import nova.conf
from nova import exception
from nova.compute import task_states
from nova.image import glance
from nova.virt import fake
from oslo_config import cfg
from oslo_log import log as logging

CONF = nova.conf.CONF
LOG = logging.getLogger(__name__)

# Registered late, as Cinder's own drivers do: oslo.config reads the value
# from the already parsed files on first access.
CONF.register_opts([cfg.StrOpt("guests_dir", help="The lab's guests directory: which "
                               "lab host plays which server, and what is attached.")],
                   group="drlab")

_SNAPSHOT_HEADER = b"DRLAB-SERVER-SNAPSHOT\n"


class DrLabFakeDriver(fake.FakeDriver):
    def __init__(self, virtapi, read_only=False):
        super().__init__(virtapi, read_only)
        self._image_api = glance.API()
        self._state_file = os.path.join(CONF.instances_path, "drlab-fake-instances.json")
        self._sizes: dict[str, dict[str, int]] = {}
        self._guests = CONF.drlab.guests_dir
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

    def init_host(self, host):
        super().init_host(host)
        # After a restart: the attachments Nova still counts become real again.
        if self._guests:
            for problem in guestdisk.reconcile(self._guests, LOG.info):
                LOG.warning("guest disk not restored: %s", problem)

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
        if self._guests:
            # The server is going: its disks go with it, mounted or not.
            gone = guestdisk.detach_server(self._guests, instance.uuid)
            if gone:
                LOG.info("took away disks %s", ", ".join(gone), instance=instance)
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

    # -- volumes: real block devices inside a lab host ---------------------

    def default_root_device_name(self, instance, image_meta, root_bdm):
        # As a KVM guest with virtio disks: Nova then names attachments
        # /dev/vdb, /dev/vdc, ... (the stock fake driver's servers get sdX).
        return "/dev/vda"

    def attach_volume(self, context, connection_info, instance, mountpoint,
                      disk_bus=None, device_type=None, encryption=None):
        volume_id = connection_info.get("serial") or connection_info["data"].get("volume_id")
        if self._guests:
            guestdisk.wait_while_hung(self._guests, volume_id,
                                      lambda msg: LOG.warning("%s", msg, instance=instance))
            path = connection_info.get("data", {}).get("device_path")
            if path and guestdisk.host_for(self._guests, instance.uuid):
                try:
                    record = guestdisk.attach(self._guests, instance.uuid, volume_id, path,
                                              mountpoint)
                except guestdisk.GuestDiskError as exc:
                    # Nova rolls the attachment back: the volume stays available.
                    raise exception.VolumeAttachFailed(volume_id=volume_id,
                                                       reason=str(exc)) from None
                LOG.info("volume %s is %s (%s) in lab host %s", volume_id, record["by_id"],
                         record["loop"], record["host"], instance=instance)
        super().attach_volume(context, connection_info, instance, mountpoint,
                              disk_bus=disk_bus, device_type=device_type,
                              encryption=encryption)

    def detach_volume(self, context, connection_info, instance, mountpoint,
                      encryption=None):
        volume_id = connection_info.get("serial") or connection_info["data"].get("volume_id")
        if self._guests:
            try:
                if guestdisk.detach(self._guests, volume_id):
                    LOG.info("volume %s taken away from its lab host", volume_id,
                             instance=instance)
            except guestdisk.DiskBusy as exc:
                # As a guest that cannot release a disk: Nova rolls the
                # volume back to in-use.
                raise exception.DeviceDetachFailed(device=mountpoint, reason=str(exc)) from None
        super().detach_volume(context, connection_info, instance, mountpoint,
                              encryption=encryption)

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

