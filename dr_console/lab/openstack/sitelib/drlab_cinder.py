"""A Cinder volume driver for the dr-console lab (runs inside cinder-volume on
Debian's python3, imported as ``drlab_cinder`` from sitelib on PYTHONPATH).

Volumes and snapshots are sparse files in one directory; connections are
os-brick ``local`` (just a path). That is enough for Cinder's generic code
to do real work on real bytes: backups and restores (PosixBackupDriver),
volume from image, image from volume, snapshot, clone. The stock fake driver
cannot back up (docs/lab.md, pitfall 1).
"""

from __future__ import annotations

import errno
import os

from cinder import exception, interface
from cinder.volume import configuration, driver
from oslo_config import cfg
from oslo_log import log as logging
from oslo_utils import units

LOG = logging.getLogger(__name__)

drlab_opts = [
    cfg.StrOpt("drlab_volume_dir",
               help="Directory holding the lab's volume and snapshot files."),
]
cfg.CONF.register_opts(drlab_opts, group=configuration.SHARED_CONF_GROUP)

_CHUNK = 4 * units.Mi


def _sparse_copy(src: str, dst: str, size: int | None = None) -> None:
    """Copy only the data extents of `src` (SEEK_DATA/SEEK_HOLE), so a 1 GiB
    volume holding a few KiB costs a few KiB, then size `dst` to `size`."""
    tmp = dst + ".part"
    with open(src, "rb") as fin, open(tmp, "wb") as fout:
        src_fd, dst_fd = fin.fileno(), fout.fileno()
        end = os.fstat(src_fd).st_size
        fout.truncate(max(end, size or 0))
        pos = 0
        while pos < end:
            try:
                data = os.lseek(src_fd, pos, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno == errno.ENXIO:  # only a hole is left
                    break
                raise
            hole = os.lseek(src_fd, data, os.SEEK_HOLE)
            while data < hole:
                chunk = os.pread(src_fd, min(_CHUNK, hole - data), data)
                if not chunk:
                    break
                os.pwrite(dst_fd, chunk, data)
                data += len(chunk)
            pos = hole
        if size is not None and size > end:
            fout.truncate(size)
        os.fsync(dst_fd)
    os.replace(tmp, dst)


@interface.volumedriver
class DrLabFileDriver(driver.VolumeDriver):
    """Sparse-file volumes with os-brick `local` connections."""

    VERSION = "1.0.0"
    CI_WIKI_NAME = "dr-console-lab"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.configuration.append_config_values(drlab_opts)
        self._dir = self.configuration.safe_get("drlab_volume_dir") or os.path.join(
            cfg.CONF.state_path, "drlab-volumes")
        self.backend_name = self.configuration.safe_get("volume_backend_name") or "drlab"

    @staticmethod
    def get_driver_options():
        return drlab_opts

    # -- set-up and stats ---------------------------------------------------

    def do_setup(self, context):
        os.makedirs(self._dir, mode=0o700, exist_ok=True)

    def check_for_setup_error(self):
        if not os.access(self._dir, os.W_OK):
            raise exception.VolumeBackendAPIException(
                data=f"volume directory {self._dir} is not writable")

    def get_volume_stats(self, refresh=False):
        if refresh or not self._stats:
            self._update_volume_stats()
        return self._stats

    def _update_volume_stats(self):
        st = os.statvfs(self._dir)
        free_gb = st.f_bavail * st.f_frsize // units.Gi
        self._stats = {
            "volume_backend_name": self.backend_name,
            "vendor_name": "dr-console lab",
            "driver_version": self.VERSION,
            "storage_protocol": "local",
            # Files are sparse: advertise room well beyond the disk.
            "total_capacity_gb": max(free_gb, 1000),
            "free_capacity_gb": max(free_gb, 1000),
            "reserved_percentage": 0,
            "thin_provisioning_support": True,
            "thick_provisioning_support": False,
            "max_over_subscription_ratio": 20.0,
            "multiattach": False,
            "QoS_support": False,
        }

    # -- paths ----------------------------------------------------------------

    def _volume_path(self, volume) -> str:
        return os.path.join(self._dir, f"volume-{volume.id}")

    def _snapshot_path(self, snapshot) -> str:
        return os.path.join(self._dir, f"snapshot-{snapshot.id}")

    def local_path(self, volume):
        return self._volume_path(volume)

    def secure_file_operations_enabled(self):
        # Files belong to the service user: no sudo/rootwrap chown or dd.
        return True

    # -- volumes ----------------------------------------------------------------

    def create_volume(self, volume):
        with open(self._volume_path(volume), "wb") as f:
            f.truncate(volume.size * units.Gi)
        return {}

    def delete_volume(self, volume):
        self._remove(self._volume_path(volume))

    def create_cloned_volume(self, volume, src_vref):
        _sparse_copy(self._volume_path(src_vref), self._volume_path(volume),
                     volume.size * units.Gi)
        return {}

    def create_volume_from_snapshot(self, volume, snapshot):
        _sparse_copy(self._snapshot_path(snapshot), self._volume_path(volume),
                     volume.size * units.Gi)
        return {}

    def extend_volume(self, volume, new_size):
        with open(self._volume_path(volume), "r+b") as f:
            f.truncate(new_size * units.Gi)

    def revert_to_snapshot(self, context, volume, snapshot):
        _sparse_copy(self._snapshot_path(snapshot), self._volume_path(volume),
                     volume.size * units.Gi)

    # -- snapshots ---------------------------------------------------------------

    def create_snapshot(self, snapshot):
        _sparse_copy(self._volume_path(snapshot.volume), self._snapshot_path(snapshot))
        return {}

    def delete_snapshot(self, snapshot):
        self._remove(self._snapshot_path(snapshot))

    # -- exports and connections: a path on this host --------------------------

    def ensure_export(self, context, volume):
        return None

    def create_export(self, context, volume, connector):
        return None

    def remove_export(self, context, volume):
        return None

    def create_export_snapshot(self, context, snapshot, connector):
        return None

    def remove_export_snapshot(self, context, snapshot):
        return None

    def initialize_connection(self, volume, connector, **kwargs):
        return {"driver_volume_type": "local",
                "data": {"device_path": self._volume_path(volume)}}

    def initialize_connection_snapshot(self, snapshot, connector, **kwargs):
        return {"driver_volume_type": "local",
                "data": {"device_path": self._snapshot_path(snapshot)}}

    def terminate_connection(self, volume, connector, **kwargs):
        return None

    def terminate_connection_snapshot(self, snapshot, connector, **kwargs):
        return None

    # -- helpers -------------------------------------------------------------------

    @staticmethod
    def _remove(path: str) -> None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            LOG.debug("%s already gone", path)
