"""Runbook 3: bring a payload volume back from its last good copy, attach it
to its server, and prove its filesystem whole over SSH before anyone
mounts it read-write.

The original volume is never overwritten: the copy becomes a **new** volume
(tagged with the run, so a resumed run finds it instead of making a second
one). Detaching the original from the server is the one destructive step,
and needs the volume's name typed. The new volume is found in the guest by
its serial (the virtio by-id link, the NVMe serial on EBS), never by
guessing a device letter, and checked read-only (`blockdev --setro`, a
no-change fsck, a mount that replays nothing, the site's own checks) before
its final mount. Where no SSH host is declared for the server (an EBS
twin in the lab), the platform's word is all there is: the run says
"platform ok", never "mounted"."""

from __future__ import annotations

import shlex
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dr_console import humanize, ssh
from dr_console.errors import DrConsoleError
from dr_console.runbooks import copies
from dr_console.runbooks.drillverdict import COPY, failed_checks, record_failure_step
from dr_console.runbooks.engine import DRILL, Context, Refused, Runbook, Step, StepFailed
from dr_console.runbooks.volumes import (
    FILLED_TAG,
    FROM_TAG,
    RUN_TAG,
    STUCK,
    CopyRef,
    Server,
    Volume,
    VolumeCloud,
    for_cloud,
    wait_for,
)

if TYPE_CHECKING:
    from dr_console.schema import AwsCloud, Host, OpenStackCloud, PayloadRule, Site

NAME = "payload-volume"
COPY_KINDS = {"openstack": frozenset({"volume-backup", "volume-snapshot"}),
              "aws": frozenset({"ebs-snapshot"})}
CREATE_TIMEOUT = 1800.0  # a restore reads the whole backup: minutes for big volumes
ATTACH_TIMEOUT = 300.0
DEVICE_WAIT = 30.0  # the guest's by-id link can trail the attach by seconds
# Mounted read-only without replaying anything: a journal replay writes.
RO_OPTIONS = {"ext4": "ro,noload", "ext3": "ro,noload", "xfs": "ro,norecovery,nouuid"}
FSCK = {"ext4": "e2fsck -fn", "ext3": "e2fsck -fn", "ext2": "e2fsck -fn", "xfs": "xfs_repair -n"}


def restored_name(volume: str, short_id: str) -> str:
    return f"{volume}-restored-{short_id}"


# --------------------------------------------------------------------------


def build(site: Site | None, params: dict[str, Any]) -> Runbook:
    from dr_console.config import load_site

    if site is None:
        site = load_site(params.get("site_file") or None)
    cloud = _cloud(site, params.get("cloud"), params["volume"])
    drill = bool(params.get("drill"))
    server = params.get("server")
    if drill:
        # A drill attaches to the site's scratch server, never to a live one.
        server = site.drills.scratch_servers.get(cloud.name)
        if server is None:
            raise DrConsoleError(f"a drill of a volume of {cloud.name} needs a scratch server: "
                                 f"drills.scratch_servers.{cloud.name} in {site.path}")
    params = {"volume": params["volume"], "cloud": cloud.name, "server": server,
              "copy": params.get("copy"), "mount": None if drill else params.get("mount"),
              "reset_state": bool(params.get("reset_state")) and not drill, "drill": drill,
              "attach_timeout": float(params.get("attach_timeout") or ATTACH_TIMEOUT),
              "site_file": str(Path(site.path).resolve())}
    rb = _PayloadRestore(site, cloud, params)
    if drill:
        return Runbook(name=NAME, title=f"Drill: restore payload volume {params['volume']} on "
                                        f"scratch server {server}",
                       target=f"drill:volume:{cloud.name}/{params['volume']}", params=params,
                       steps=rb.drill_steps(), site_file=params["site_file"], kind=DRILL,
                       finally_steps=[record_failure_step(rb.write_record, rb.copy_location),
                                      rb.remove_drill_step()])
    return Runbook(name=NAME, title=f"Restore payload volume {params['volume']}",
                   target=f"volume:{cloud.name}/{params['volume']}", params=params,
                   steps=rb.steps(), site_file=params["site_file"])


def _cloud(site: Site, name: str | None, volume: str) -> OpenStackCloud | AwsCloud:
    """The cloud holding the volume: the one named, or the one the inventory
    lists it in (cached while fresh, else gathered: read-only), or the only cloud."""
    from dr_console.inventory import current

    if name is not None:
        try:
            return site.cloud(name)
        except StopIteration:
            raise DrConsoleError(f"no cloud {name!r} in {site.path}") from None
    if len(site.clouds) == 1:
        return site.clouds[0]
    snapshot = current(site)
    sources = {c.asset.source for c in snapshot.coverages if c.asset.kind == "volume"
               and volume in (c.asset.name, c.asset.attributes.get("volume_id"))}
    if len(sources) == 1:
        return site.cloud(sources.pop())
    if len(sources) > 1:
        raise DrConsoleError(f"a volume {volume!r} exists in {', '.join(sorted(sources))}: "
                             "choose one with --cloud")
    if not site.clouds:
        raise DrConsoleError(f"no cloud in {site.path}: payload volumes live in a cloud")
    raise DrConsoleError(f"no volume {volume!r} in the inventory of "
                         f"{', '.join(c.name for c in site.clouds)}; name its cloud with --cloud")


class _PayloadRestore:
    def __init__(self, site: Site, cloud: OpenStackCloud | AwsCloud, params: dict[str, Any]) -> None:
        self.site = site
        self.cloud_cfg = cloud
        self.params = params
        self.volume_ref: str = params["volume"]
        self.kinds = COPY_KINDS[cloud.type]
        self._cloud: VolumeCloud | None = None
        self.commands = for_cloud(cloud).commands()
        self.hints = self._hints()

    def _hints(self) -> dict[str, Any]:
        """What the cached inventory says, so the plan names the server, the
        host and the copy before the first step asks the cloud (reading the
        cache touches nothing)."""
        from dr_console import snapshots
        from dr_console.model import is_good

        snapshot = snapshots.load(self.site.path)
        if snapshot is None:
            return {}
        source = self.cloud_cfg.name
        volume = next((c for c in snapshot.coverages if c.asset.kind == "volume"
                       and c.asset.source == source
                       and self.volume_ref in (c.asset.name, c.asset.attributes.get("volume_id"))), None)
        if volume is None:
            return {}
        hints: dict[str, Any] = {"original": {"id": volume.asset.attributes.get("volume_id", ""),
                                              "name": volume.asset.name}}
        attached = [a for a in volume.asset.attributes.get("attached_to", "").split(",") if a]
        wanted = self.params.get("server") or (attached[0] if attached else None)
        server = next((c.asset for c in snapshot.coverages if c.asset.kind == "server"
                       and c.asset.source == source
                       and wanted in (c.asset.name, c.asset.id.rsplit(":", 1)[-1])), None)
        if server is not None:
            hints["server"] = {"id": server.id.rsplit(":", 1)[-1], "name": server.name}
        good = [c for c in volume.copies if c.kind in self.kinds and is_good(c)]
        if good and not self.params.get("copy"):
            best = max(good, key=lambda c: c.created_at)
            hints["copy"] = {"id": best.id.rsplit(":", 1)[-1], "kind": best.kind}
        return hints

    def _view(self, state: dict[str, Any]) -> dict[str, Any]:
        return {**self.hints, **state}

    @property
    def cloud(self) -> VolumeCloud:
        if self._cloud is None:
            self._cloud = for_cloud(self.cloud_cfg)
        return self._cloud

    # -- what the site says about this volume --------------------------------

    def _rule(self, state: dict[str, Any]) -> PayloadRule | None:
        original = state.get("original", {})
        return self.site.payload_rule(self.cloud_cfg.name, original.get("name", self.volume_ref),
                                      original.get("id", self.volume_ref))

    def _mount_point(self, state: dict[str, Any]) -> str | None:
        rule = self._rule(state)
        wanted = self.params.get("mount") or (rule.mount if rule else None)
        name = state.get("original", {}).get("name", self.volume_ref)
        return wanted.replace("{volume}", name) if wanted else None

    def _host(self, state: dict[str, Any]) -> Host | None:
        server = state.get("server", {})
        names = tuple(n for n in (server.get("name"), server.get("id"), self.params.get("server")) if n)
        return self.site.host_of_server(self.cloud_cfg.name, names) if names else None

    def _target(self, state: dict[str, Any]) -> ssh.Target:
        host = self._host(state)
        if host is None:
            raise StepFailed("no SSH host is declared as this server (hosts[].server in the site file)")
        return ssh.Target.from_host(host)

    # -- equivalent commands ------------------------------------------------------

    def _copy_text(self, state: dict[str, Any]) -> str:
        copy = state.get("copy")
        return f"{copy['kind']} {copy['id']}" if copy else "<last good backup or snapshot>"

    def _cmd_choose(self, state: dict[str, Any]) -> str:
        return f"dr-console inventory --class payload  # then: {self.commands.show}".replace(
            "<volume>", self.volume_ref)

    def _cmd_create(self, state: dict[str, Any]) -> str:
        state = self._view(state)
        copy = state.get("copy", {})
        template = self.commands.create_from_backup if copy.get("kind") == "volume-backup" \
            else self.commands.create_from_snapshot
        name = state.get("restored_name", restored_name(self.volume_ref, "<run>"))
        return (template.replace("<backup>", copy.get("id", "<backup>"))
                .replace("<snapshot>", copy.get("id", "<snapshot>")).replace("<name>", name))

    def _server_text(self, state: dict[str, Any]) -> str:
        return state.get("server", {}).get("name") or self.params.get("server") or "<server>"

    def _cmd_reset(self, state: dict[str, Any]) -> str:
        state = self._view(state)
        return self.commands.reset_state.replace("<volume>", self.volume_ref)

    def _cmd_detach(self, state: dict[str, Any]) -> str:
        state = self._view(state)
        device = state.get("original", {}).get("device", "<device>")
        return (self.commands.detach.replace("<server>", self._server_text(state))
                .replace("<volume>", self.volume_ref).replace("<device>", device))

    def _cmd_attach(self, state: dict[str, Any]) -> str:
        state = self._view(state)
        restored = state.get("restored", {}).get("id", "<restored volume>")
        return (self.commands.attach.replace("<server>", self._server_text(state))
                .replace("<volume>", restored).replace("<device>", "<free device>"))

    def _ssh_text(self, state: dict[str, Any]) -> str:
        host = self._host(state)
        return f"ssh -p {host.port} {host.user}@{host.address}" if host else "ssh <server>"

    def _cmd_find(self, state: dict[str, Any]) -> str:
        state = self._view(state)
        return f"{self._ssh_text(state)} readlink -f {self._by_id(state)}"

    def _cmd_prove(self, state: dict[str, Any]) -> str:
        state = self._view(state)
        dev = state.get("device", "<device>")
        fs = state.get("fs", {}).get("type", "<fs>")
        fsck = FSCK.get(fs, "fsck -n")
        options = RO_OPTIONS.get(fs, "ro")
        return (f"{self._ssh_text(state)} 'blkid {dev} && blockdev --setro {dev} && {fsck} {dev} && "
                f"mount -o {options} {dev} /mnt/check && cd /mnt/check && sha256sum -c LIST; "
                "cd / && umount /mnt/check && blockdev --setrw " + dev + "'")

    def _cmd_mount(self, state: dict[str, Any]) -> str:
        state = self._view(state)
        mount = self._mount_point(state) or "<mount point>"
        dev = state.get("device", "<device>")
        return f"{self._ssh_text(state)} 'mkdir -p {mount} && mount {dev} {mount}'"

    # -- steps ------------------------------------------------------------------------

    def steps(self) -> list[Step]:
        vol = self.volume_ref
        return [
            Step("choose-copy", "Choose the copy", lambda ctx: "copy" in ctx.state, self.choose,
                 guidance=f"The newest **good** backup or snapshot of `{vol}` (the platform reports it "
                          "available and of the volume's size), or the one given with `--copy`; its "
                          "age is shown against the RPO.",
                 command=self._cmd_choose),
            Step("create-volume", "Create a new volume from it", self.check_created, self.create,
                 guidance="A **new** volume: the original is never overwritten. Same size or larger, "
                          "same type, in the server's availability zone, tagged with this run so a "
                          "resumed run finds it instead of making a second one.",
                 command=self._cmd_create, cleanup=self.delete_failed),
            Step("attach-restored", "Attach it to the server, beside the original", self.check_attached,
                 self.attach,
                 guidance="Attached as one more disk: the original stays where it is until the copy "
                          "is proven. The run waits for `in-use` with a deadline, not for a transition.",
                 command=self._cmd_attach),
            Step("find-device", "Find it in the guest by its serial", lambda ctx: False, self.find_device,
                 guidance="Over SSH, by the serial the hypervisor gives it (the virtio by-id link; on "
                          "EBS the NVMe serial is the volume id), never by guessing `/dev/vdb`.",
                 command=self._cmd_find),
            Step("prove-filesystem", "Prove the filesystem, read-only", self.check_final_mount,
                 self.prove,
                 guidance="`blkid`, `blockdev --setro`, a no-change check (`e2fsck -fn`, "
                          "`xfs_repair -n`), a read-only mount that replays nothing (`ro,noload`; XFS "
                          "`ro,norecovery,nouuid`), then the site's checks (files, sha256 list, "
                          "command). A copy that fails is detached again and kept for inspection; "
                          "the original is not touched.",
                 command=self._cmd_prove, cleanup=self.unmount_check),
            Step("reset-stuck", "Reset a stuck original (only when asked)", self.check_not_stuck,
                 self.reset_stuck,
                 guidance="Runs only if the original is stuck in reserved/attaching/detaching **and** "
                          "you asked with `--reset-state`. It changes Cinder's database only: if the "
                          "storage still exports the volume, a second attach can corrupt it.",
                 command=self._cmd_reset, destructive=True, target=vol),
            Step("detach-original", f"Detach the original {vol} from the server",
                 self.check_detached, self.detach,
                 guidance=f"The server lets go of `{vol}` (unmounted in the guest first); the volume "
                          "itself is kept, untouched, until you delete it.",
                 command=self._cmd_detach, destructive=True, target=vol),
            Step("mount-final", "Mount the restored volume where it belongs", self.check_final_mount,
                 self.mount_final,
                 guidance="At `--mount` or the site's mount point, read-write; with the site's "
                          "`fstab: true`, an fstab line by UUID (the original is detached by now, so "
                          "the UUID is the copy's alone).",
                 command=self._cmd_mount),
            Step("report", "Report what was restored", lambda ctx: False, self.report,
                 guidance="What came back, from which copy, where it is mounted, and what was kept.",
                 command=lambda state: f"dr-console runs  # and: {self.commands.show}".replace(
                     "<volume>", state.get("restored", {}).get("id", "<restored volume>"))),
        ]

    # -- the drill: the same restore and proof on a scratch server -------------

    def drill_steps(self) -> list[Step]:
        steps = {s.id: s for s in self.steps()}
        return [
            steps["choose-copy"], steps["create-volume"],
            Step("attach-restored", "Attach it to the scratch server", self.check_attached,
                 self.attach,
                 guidance="The drill's server, never the volume's own: nothing live is touched.",
                 command=self._cmd_attach),
            steps["find-device"],
            Step("prove-filesystem", "Prove the filesystem, read-only", lambda ctx: False, self.prove,
                 guidance=steps["prove-filesystem"].guidance, command=self._cmd_prove,
                 cleanup=lambda ctx: None),  # the drill's cleanup detaches and deletes it
            Step("record-drill", "Record the drill beside the copy", lambda ctx: False,
                 self.record_drill,
                 guidance="The copy's own metadata (dr:drilled, dr:drill-run, dr:smoke-tested): "
                          "every operator's inventory shows it drilled, with the date.",
                 command=lambda state: self.commands.show.replace("<volume>", "<copy>")),
        ]

    def remove_drill_step(self) -> Step:
        return Step("remove-drill-volume", "Detach and delete the drill's volume (always)",
                    lambda ctx: False, self.remove_drill_volume,
                    guidance="Whatever happened: the volume this run made, found by its name and "
                             "tag, is unmounted, detached and deleted; what cannot be is named.",
                    command=lambda state: self.commands.delete.replace(
                        "<volume>", state.get("restored", {}).get("id", "<restored volume>")))

    def remove_drill_volume(self, ctx: Context) -> None:
        found = self._restored(ctx)
        if found is None:
            ctx.log("the drill made no volume (or it is gone already): nothing to remove")
            return
        if found.attachments and self._host(ctx.state) is not None and ctx.state.get("device"):
            target = self._target(ctx.state)
            client = ssh.connect(target)
            try:
                self._unmount(client, target, self._check_dir(ctx), "")
            finally:
                client.close()
        for attachment in found.attachments:
            self.cloud.detach(Server(attachment.server_id, attachment.server_id, ""), found)
        if found.attachments:
            wait_for(self.cloud, found.id, {"available"}, failing={"error"},
                     timeout=self.params["attach_timeout"], cancel=threading.Event(),
                     what=f"detaching {found.name}")
        self.cloud.delete(found.id)
        deadline = 120.0
        while self.cloud.volume_or_none(found.id) is not None and deadline > 0:
            threading.Event().wait(1.0)
            deadline -= 1.0
        if self.cloud.volume_or_none(found.id) is not None:
            raise StepFailed(f"volume {found.name} ({found.id}) is still there in {self.cloud_cfg.name}")
        ctx.log(f"{found.name} ({found.id}) detached and deleted: nothing of the drill is left")

    def record_drill(self, ctx: Context) -> None:
        from dr_console import drillrecord

        failed = failed_checks(ctx.state)
        if failed:
            raise StepFailed(f"not recorded: checks failed: {', '.join(failed)}")
        smoke = ctx.state.get("proof") == "ssh" and bool(ctx.state.get("checks"))
        record = drillrecord.DrillRecord(
            run_id=ctx.run_id, at=datetime.now(UTC).isoformat(timespec="seconds"),
            copy=self.copy_location(ctx.state), smoke_tested=smoke)
        self.write_record(ctx, record)
        copy = ctx.state["copy"]
        ctx.log(f"drill recorded on {copy['kind']} {copy['id']}"
                + ("" if smoke else " (its data was not checked by the site's checks)"))

    @staticmethod
    def copy_location(state: dict[str, Any]) -> str:
        copy = state.get("copy") or {}
        return str(copy.get("location") or copy.get("id") or "<copy>")

    def write_record(self, ctx: Context, record: Any) -> None:
        """A drill's record as the copy's own metadata (Cinder) or tags (EBS)."""
        copy = ctx.state["copy"]
        self.cloud.tag_copy(CopyRef(copy["kind"], copy["id"]), record.as_tags())

    # 1. choose -----------------------------------------------------------------------

    def _original(self, ctx: Context) -> Volume:
        original = self.cloud.volume(ctx.state.get("original", {}).get("id") or self.volume_ref)
        return original

    def choose(self, ctx: Context) -> None:
        original = self._original(ctx)
        server = self._server(ctx, original)
        attachment = original.attached_to(server.id) if server else None
        ctx.state["original"] = {"id": original.id, "name": original.name, "size_gb": original.size_gb,
                                 "type": original.volume_type, "zone": original.zone,
                                 "device": attachment.device if attachment else ""}
        ctx.state["server"] = {"id": server.id, "name": server.name, "zone": server.zone} if server else {}
        if self.params.get("copy"):
            native = str(self.params["copy"])
            kind = self._kind_of(native)
            ctx.log(f"the copy named with --copy: {kind} {native}")
            ctx.state["copy"] = {"id": native, "kind": kind, "created_at": None}
        else:
            ref = copies.AssetRef(self.cloud_cfg.name, "volume", original.name, native=original.id)
            best = copies.choose(self.site, ref, self.kinds, ctx.log)
            rpo = self.site.rpo.payload
            age = (datetime.now(UTC) - best.created_at).total_seconds()
            inside = "inside" if age <= rpo else "OUTSIDE"
            ctx.log(f"it is {humanize.age(age)} old, {inside} the payload RPO of {humanize.age(rpo)}",
                    "info" if age <= rpo else "warning")
            ctx.state["copy"] = {"id": best.id.rsplit(":", 1)[-1], "kind": best.kind,
                                 "created_at": best.created_at.isoformat(), "location": best.location}
        ctx.state["restored_name"] = restored_name(original.name, ctx.short_id)

    def _kind_of(self, native: str) -> str:
        if self.cloud_cfg.type == "aws":
            return "ebs-snapshot"
        conn = self.cloud.conn  # type: ignore[attr-defined]
        if conn.block_storage.find_backup(native, ignore_missing=True) is not None:
            return "volume-backup"
        if conn.block_storage.find_snapshot(native, ignore_missing=True) is not None:
            return "volume-snapshot"
        raise StepFailed(f"{native} is neither a backup nor a snapshot in {self.cloud_cfg.name}")

    def _server(self, ctx: Context, original: Volume) -> Server | None:
        wanted = self.params.get("server")
        rule = self._rule(ctx.state)
        wanted = wanted or (rule.server if rule else None)
        if wanted:
            return self.cloud.server(wanted)
        if original.attachments:
            return self.cloud.server(original.attachments[0].server_id)
        raise StepFailed(f"{original.name} is attached to no server: name the server it comes back "
                         "to with --server (or `server:` in the site's payload rule)")

    # 2. create -----------------------------------------------------------------------

    def _restored(self, ctx: Context) -> Volume | None:
        name = ctx.state.get("restored_name") or restored_name(self.volume_ref, ctx.short_id)
        return self.cloud.restored_by(ctx.run_id, name)

    def check_created(self, ctx: Context) -> bool:
        found = self._restored(ctx)
        if found is None or found.status not in ("available", "in-use") \
                or found.tags.get(FILLED_TAG) != "done":
            return False
        ctx.state["restored"] = {"id": found.id, "name": found.name}
        return True

    def create(self, ctx: Context) -> None:
        original = ctx.state["original"]
        copy = ctx.state["copy"]
        ref = CopyRef(copy["kind"], copy["id"])
        server = ctx.state.get("server", {})
        existing = self._restored(ctx)
        if existing is not None and existing.status in ("error", "error_restoring"):
            ctx.log(f"a restore of this run failed before ({existing.name} is {existing.status}): "
                    "deleting it and starting again", "warning")
            self.cloud.delete(existing.id)
            existing = None
        fill = self.cloud.needs_fill(ref)
        if existing is None:
            size = max(original["size_gb"], int(copy.get("size_gb") or 0))
            volume_id = self.cloud.create_from(
                ref, name=ctx.state["restored_name"], size_gb=size,
                volume_type=original.get("type", ""), zone=server.get("zone") or original.get("zone", ""),
                tags={RUN_TAG: ctx.run_id, FROM_TAG: copy["id"],
                      FILLED_TAG: "pending" if fill else "done"})
            ctx.log(f"creating {ctx.state['restored_name']} ({volume_id}) from {copy['kind']} {copy['id']}")
        else:
            volume_id = existing.id
            ctx.log(f"this run's volume {existing.name} ({volume_id}) exists already ({existing.status})")
        ctx.state["restored"] = {"id": volume_id, "name": ctx.state["restored_name"]}
        done = self._wait_restore(ctx, volume_id, ref)
        if fill and (existing is None or existing.tags.get(FILLED_TAG) != "done"):
            if done.status == "available":
                # Made empty (now or by a killed run): the backup goes in now.
                # Restoring twice is harmless: the whole volume is overwritten.
                self.cloud.fill(ref, volume_id)
                ctx.log(f"restoring {copy['kind']} {copy['id']} into it")
                done = self._wait_restore(ctx, volume_id, ref)
            self.cloud.tag(volume_id, FILLED_TAG, "done")
        ctx.log(f"{done.name} is available: {done.size_gb} GiB in {done.zone or 'the default zone'}")

    def _wait_restore(self, ctx: Context, volume_id: str, ref: CopyRef) -> Volume:
        seen: list[str] = []

        def status(volume: Volume) -> None:
            if not seen or seen[-1] != volume.status:
                seen.append(volume.status)
                ctx.log(f"{volume.name}: {volume.status}")

        # A fill just asked for may not show yet: give Cinder a moment to say
        # "restoring-backup" before "available" can be taken as the end.
        ctx.cancel_event.wait(1.0)
        try:
            return wait_for(self.cloud, volume_id, {"available"},
                            failing={"error", "error_restoring", "error_extending"},
                            timeout=CREATE_TIMEOUT, cancel=ctx.cancel_event,
                            what="restoring the copy", on_poll=status)
        except StepFailed as exc:
            raise StepFailed(f"{exc}; {self.cloud.copy_problem(ref)}") from None

    def delete_failed(self, ctx: Context) -> None:
        """A volume this run made that is not in use: gone, so a retry starts clean."""
        found = self._restored(ctx)
        if found is not None and not found.attachments and found.status in ("available", "error",
                                                                            "error_restoring"):
            self.cloud.delete(found.id)
            ctx.state.pop("restored", None)

    # 3. a stuck original -------------------------------------------------------------

    def check_not_stuck(self, ctx: Context) -> bool | str:
        original = self.cloud.volume_or_none(ctx.state["original"]["id"])
        if original is None:
            return "the original is gone: nothing to reset"
        return False if original.status in STUCK else f"the original is {original.status}, not stuck"

    def reset_stuck(self, ctx: Context) -> None:
        original = self.cloud.volume(ctx.state["original"]["id"])
        attachments = ", ".join(f"server {a.server_id} at {a.device}" for a in original.attachments) \
            or "none"
        if not self.params.get("reset_state"):
            raise StepFailed(
                f"the original {original.name} is stuck in {original.status} (attachments: {attachments}). "
                "Look first: is the server still using it? Is an attach or detach still running on "
                "the compute host? If the storage no longer exports it, run again with --reset-state "
                "to force Cinder's state to available/detached (a typed step: a reset while the "
                "backend still exports the volume can corrupt it)")
        if not ctx.confirm(original.name, f"reset the state of {original.name} from {original.status} "
                                          "to available: only Cinder's database changes; if the "
                                          "storage still exports the volume, data can be corrupted"):
            raise Refused("the reset was not confirmed; nothing changed")
        self.cloud.reset_state(original.id)
        wait_for(self.cloud, original.id, {"available"}, failing={"error"}, timeout=60,
                 cancel=ctx.cancel_event, what="resetting the state")
        ctx.log(f"{original.name}: state reset to available (was {original.status})", "warning")

    # 4. detach the original ------------------------------------------------------------

    def check_detached(self, ctx: Context) -> bool:
        server_id = ctx.state.get("server", {}).get("id")
        original = self.cloud.volume_or_none(ctx.state["original"]["id"])
        return original is None or not server_id or original.attached_to(server_id) is None

    def detach(self, ctx: Context) -> None:
        server = self._server_state(ctx)
        original = self.cloud.volume(ctx.state["original"]["id"])
        if original.status in STUCK:
            raise StepFailed(f"{original.name} is {original.status}: see the reset-stuck step")
        host = self._host(ctx.state)
        if host is not None and self.cloud.service == "cinder":
            self._unmount_in_guest(ctx, original)
        self.cloud.detach(server, original)
        wait_for(self.cloud, original.id, {"available"}, failing={"error", "error_detaching"},
                 timeout=self.params["attach_timeout"], cancel=ctx.cancel_event,
                 what=f"detaching {original.name}")
        ctx.log(f"{original.name} detached from {server.name} and kept as it was")

    def _unmount_in_guest(self, ctx: Context, original: Volume) -> None:
        target = self._target(ctx.state)
        link = f"/dev/disk/by-id/virtio-{original.id[:20]}"
        client = ssh.connect(target)
        try:
            found = ssh.run(client, target, f"findmnt -rn -o TARGET -S $(readlink -f {link}) || true")
            for mountpoint in found.stdout.split():
                ssh.run(client, target, f"umount {shlex.quote(mountpoint)}", check=True)
                ctx.log(f"unmounted {mountpoint} in the guest before the detach")
        finally:
            client.close()

    def _server_state(self, ctx: Context) -> Server:
        server = ctx.state.get("server") or {}
        if not server:
            raise StepFailed("no server to attach to (see the first step)")
        return Server(server["id"], server["name"], server.get("zone", ""))

    # 5. attach -----------------------------------------------------------------------------

    def check_attached(self, ctx: Context) -> bool:
        restored = self.cloud.volume_or_none(ctx.state["restored"]["id"])
        server_id = ctx.state.get("server", {}).get("id")
        return bool(restored and server_id and restored.status == "in-use"
                    and restored.attached_to(server_id))

    def attach(self, ctx: Context) -> None:
        server = self._server_state(ctx)
        restored = self.cloud.volume(ctx.state["restored"]["id"])
        if restored.status == "available":
            self.cloud.attach(server, restored.id, "")  # the cloud picks a free device
        else:
            ctx.log(f"{restored.name} is {restored.status}: waiting for the attach under way")
        done = wait_for(self.cloud, restored.id, {"in-use"}, failing={"error", "error_attaching"},
                        timeout=self.params["attach_timeout"], cancel=ctx.cancel_event,
                        what=f"attaching {restored.name} to {server.name}")
        attachment = done.attached_to(server.id)
        ctx.state["attached_at"] = attachment.device if attachment else ""
        ctx.log(f"{done.name} is in-use on {server.name} at {ctx.state['attached_at'] or '?'} "
                f"(as the platform reports it)")

    # 6. find the device ----------------------------------------------------------------------

    def _by_id(self, state: dict[str, Any]) -> str:
        volume_id = state.get("restored", {}).get("id", "<volume id>")
        if self.cloud_cfg.type == "aws":
            return f"/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{volume_id.replace('-', '')}"
        return f"/dev/disk/by-id/virtio-{volume_id[:20]}"

    def find_device(self, ctx: Context) -> None:
        if self._host(ctx.state) is None:
            ctx.state["proof"] = "platform"
            ctx.evidence("the filesystem is checked over SSH", None,
                         "no SSH host for this server: the platform's word only")
            ctx.log(f"no SSH host is declared as {self._server_text(ctx.state)}: the restore is proven "
                    "by the platform only (the volume is in-use where it belongs) — platform ok, "
                    "not mounted, its bytes unchecked", "warning")
            return
        target = self._target(ctx.state)
        link = self._by_id(ctx.state)
        client = ssh.connect(target)
        try:
            waited = 0.0
            while True:
                found = ssh.run(client, target, f"readlink -e {link}")
                if found.ok and found.stdout.strip():
                    break
                if waited >= DEVICE_WAIT:
                    raise StepFailed(f"{link} never appeared in {target.name} within {DEVICE_WAIT:.0f}s: "
                                     "the platform says attached, the guest sees no such disk")
                ctx.cancel_event.wait(1.0)
                ctx.raise_if_cancelled()
                waited += 1.0
        finally:
            client.close()
        ctx.state["device"] = found.stdout.strip()
        ctx.state["proof"] = "ssh"
        ctx.log(f"{link} -> {ctx.state['device']} in {target.name}")

    # 7. prove -------------------------------------------------------------------------------

    def _check_dir(self, ctx: Context) -> str:
        return f"/mnt/dr-console-check-{ctx.short_id}"

    def check_final_mount(self, ctx: Context) -> bool | str:
        if ctx.state.get("proof") == "platform":
            return "no SSH host for this server: the platform's word is all there is"
        if ctx.state.get("proof") != "ssh":
            return False
        mount = self._mount_point(ctx.state)
        if not mount or not ctx.state.get("device"):
            return False
        target = self._target(ctx.state)
        client = ssh.connect(target)
        try:
            found = ssh.run(client, target, f"findmnt -rn -o SOURCE --mountpoint {shlex.quote(mount)}")
        finally:
            client.close()
        return found.ok and found.stdout.strip() == ctx.state["device"]

    def prove(self, ctx: Context) -> None:
        target = self._target(ctx.state)
        dev = shlex.quote(ctx.state["device"])
        check_dir = self._check_dir(ctx)
        client = ssh.connect(target)
        try:
            fs = self._blkid(ctx, client, target, dev)
            ssh.run(client, target, f"blockdev --setro {dev}", check=True)
            ctx.log(f"{ctx.state['device']} is read-only now (blockdev --setro)")
            fsck = FSCK.get(fs["type"])
            if fsck is None:
                raise StepFailed(f"no read-only check known for {fs['type']}: refusing to call it whole")
            checked = ssh.run(client, target, f"{fsck} {dev}", timeout=3600)
            ctx.state["fsck"] = {"command": f"{fsck} {ctx.state['device']}", "status": checked.status,
                                 "output": checked.output(4000)}
            ctx.evidence(f"{fsck} finds the filesystem clean", checked.ok, checked.output(2000),
                         about=COPY)
            if not checked.ok:
                raise StepFailed(f"`{fsck} {ctx.state['device']}` found the filesystem damaged "
                                 f"(exit {checked.status}); nothing was mounted read-write, the "
                                 "original is untouched:\n" + checked.output(1500))
            ctx.log(f"`{fsck}`: clean")
            options = RO_OPTIONS.get(fs["type"], "ro")
            ssh.run(client, target, f"mkdir -p {check_dir} && mount -o {options} {dev} {check_dir}",
                    check=True)
            ctx.log(f"mounted read-only at {check_dir} ({options})")
            results = self._site_checks(ctx, client, target, check_dir)
            ctx.state["checks"] = results
        finally:
            self._unmount(client, target, check_dir, dev)
            client.close()

    def _blkid(self, ctx: Context, client: Any, target: ssh.Target, dev: str) -> dict[str, str]:
        found = ssh.run(client, target, f"blkid -o export {dev}")
        values = dict(line.split("=", 1) for line in found.stdout.splitlines() if "=" in line)
        if not found.ok or "TYPE" not in values:
            ctx.evidence("blkid finds a filesystem", False, found.output(500) or "nothing", about=COPY)
            raise StepFailed(f"blkid finds no filesystem on {ctx.state['device']}: the copy holds none "
                             "(or it is damaged beyond recognition)")
        fs = {"type": values["TYPE"], "uuid": values.get("UUID", ""), "label": values.get("LABEL", "")}
        ctx.evidence("blkid finds a filesystem", True, f"{fs['type']} {fs['uuid']}", about=COPY)
        ctx.state["fs"] = fs
        ctx.log(f"blkid: {fs['type']}, UUID {fs['uuid'] or '?'}" + (f", label {fs['label']}"
                                                                    if fs["label"] else ""))
        return fs

    def _site_checks(self, ctx: Context, client: Any, target: ssh.Target, root: str) -> dict[str, Any]:
        rule = self._rule(ctx.state)
        checks = rule.checks if rule else None
        results: dict[str, Any] = {}
        name = ctx.state["original"]["name"]
        if checks is None or not (checks.files or checks.sha256_list or checks.command):
            ctx.log("the site declares no checks for this volume: only the filesystem check "
                    "stands behind it", "warning")
            return results
        if checks.files:
            missing = [f for f in checks.files
                       if not ssh.run(client, target, f"test -e {shlex.quote(f'{root}/{f}')}").ok]
            results["files"] = {"expected": len(checks.files), "missing": missing}
            ctx.evidence("the expected files are there", not missing,
                         f"missing: {', '.join(missing)}" if missing else f"{len(checks.files)} files",
                         about=COPY)
            if missing:
                raise StepFailed(f"expected files missing from the restored filesystem: {', '.join(missing)}")
            ctx.log(f"{len(checks.files)} expected files are there")
        if checks.sha256_list:
            listing = self.site.resolve(checks.sha256_list.replace("{volume}", name))
            try:
                body = listing.read_bytes()
            except OSError as exc:
                raise StepFailed(f"cannot read the sha256 list {listing}: {exc.strerror}") from None
            entries = len([line for line in body.splitlines() if line.strip()])
            summed = ssh.run(client, target, f"cd {shlex.quote(root)} && sha256sum --quiet -c -",
                             stdin=body, timeout=3600)
            results["sha256"] = {"list": str(listing), "files": entries, "status": summed.status,
                                 "output": summed.output(2000)}
            ctx.evidence(f"sha256 of {entries} files equal {listing.name}", summed.ok,
                         summed.output(1000), about=COPY)
            if not summed.ok:
                raise StepFailed(f"sha256 differs from {listing.name}:\n{summed.output(1500)}")
            ctx.log(f"sha256 of {entries} files equal {listing.name}")
        if checks.command:
            ran = ssh.run(client, target, f"cd {shlex.quote(root)} && {checks.command}", timeout=3600)
            results["command"] = {"command": checks.command, "status": ran.status,
                                  "output": ran.output(2000)}
            ctx.evidence("the site's check command passes", ran.ok, ran.output(1000),
                         command=checks.command, about=COPY)
            if not ran.ok:
                raise StepFailed(f"the site's check `{checks.command}` failed (exit {ran.status}):\n"
                                 f"{ran.output(1500)}")
            ctx.log(f"the site's check `{checks.command}` passed")
        return results

    def _unmount(self, client: Any, target: ssh.Target, check_dir: str, dev: str) -> None:
        ssh.run(client, target, f"if mountpoint -q {check_dir}; then umount {check_dir}; fi; "
                                f"rmdir {check_dir} 2>/dev/null; true")

    def unmount_check(self, ctx: Context) -> None:
        """After a failed or cancelled proof: nothing of the check stays
        mounted, and the copy that failed is detached again (kept, for a
        look), so the server holds only what it held before."""
        if ctx.state.get("proof") != "ssh":
            return
        target = self._target(ctx.state)
        client = ssh.connect(target)
        try:
            self._unmount(client, target, self._check_dir(ctx), shlex.quote(ctx.state.get("device", "")))
        finally:
            client.close()
        restored = self.cloud.volume_or_none(ctx.state.get("restored", {}).get("id", ""))
        if restored is not None and restored.attachments:
            self.cloud.detach(self._server_state(ctx), restored)
            wait_for(self.cloud, restored.id, {"available"}, failing={"error"},
                     timeout=self.params["attach_timeout"], cancel=threading.Event(),
                     what=f"detaching {restored.name}")
            ctx.log(f"{restored.name} ({restored.id}) detached and kept for a look; delete it when "
                    f"done: {self.commands.delete.replace('<volume>', restored.id)}", "warning")

    # 8. mount ----------------------------------------------------------------------------------

    def mount_final(self, ctx: Context) -> None:
        mount = self._mount_point(ctx.state)
        dev = shlex.quote(ctx.state["device"])
        target = self._target(ctx.state)
        client = ssh.connect(target)
        try:
            ssh.run(client, target, f"blockdev --setrw {dev}", check=True)
            if not mount:
                ctx.log("no mount point (--mount, or mount: in the site's payload rule): checked, "
                        "attached, left unmounted", "warning")
                return
            rule = self._rule(ctx.state)
            options = self._mount_options(rule, ctx.state.get("fs", {}).get("type", ""))
            ssh.run(client, target, f"mkdir -p {shlex.quote(mount)} && "
                                    f"mount -o {shlex.quote(options)} {dev} {shlex.quote(mount)}",
                    check=True)
            ctx.log(f"mounted at {mount} ({options})")
            ctx.state["mounted_at"] = mount
            if rule is not None and rule.fstab:
                self._fstab(ctx, client, target, mount, options)
        finally:
            client.close()

    @staticmethod
    def _mount_options(rule: PayloadRule | None, fs: str) -> str:
        options = rule.mount_options if rule else "defaults"
        return options + (",nouuid" if fs == "xfs" and "nouuid" not in options else "")

    def _fstab(self, ctx: Context, client: Any, target: ssh.Target, mount: str, options: str) -> None:
        fs = ctx.state.get("fs", {})
        if not fs.get("uuid"):
            ctx.log("no UUID: fstab left as it is", "warning")
            return
        line = f"UUID={fs['uuid']} {mount} {fs['type']} {options},nofail 0 2"
        quoted = shlex.quote(line)
        ssh.run(client, target, f"grep -qxF {quoted} /etc/fstab || echo {quoted} >> /etc/fstab",
                check=True)
        ctx.state["fstab"] = line
        ctx.log(f"/etc/fstab: {line}")

    # 9. report ----------------------------------------------------------------------------------

    def report(self, ctx: Context) -> None:
        state = ctx.state
        copy, restored, original = state["copy"], state["restored"], state["original"]
        server = state.get("server", {}).get("name", "?")
        ctx.log(f"{original['name']} restored from {copy['kind']} {copy['id']} as {restored['name']} "
                f"({restored['id']}) on {server}")
        if state.get("proof") == "ssh":
            checks = state.get("checks", {})
            proven = ["filesystem check clean"]
            if "files" in checks:
                proven.append(f"{checks['files']['expected']} expected files present")
            if "sha256" in checks:
                proven.append(f"sha256 of {checks['sha256']['files']} files equal")
            if "command" in checks:
                proven.append("the site's command passed")
            where = f"mounted at {state['mounted_at']}" if state.get("mounted_at") else "not mounted"
            ctx.log(f"proven over SSH: {'; '.join(proven)}; {where}"
                    + (" (fstab by UUID)" if state.get("fstab") else ""))
        else:
            ctx.log("platform ok: the volume is in-use where it belongs; not mounted, bytes unchecked",
                    "warning")
        ctx.log(f"the original {original['name']} ({original['id']}) is detached and kept as it was: "
                "delete it once the restored one is trusted", "warning")


def payload_volumes_of(site: Site, cloud_name: str | None,
                       server: str) -> tuple[str, str, list[tuple[str, str]]]:
    """(cloud, server name, [(volume name, volume id)]) for `--server S --all`:
    the volumes attached to the server that the inventory classes as payload."""
    from dr_console.inventory import current
    from dr_console.model import AssetClass

    snapshot = current(site)
    servers = [c.asset for c in snapshot.coverages if c.asset.kind == "server"
               and server in (c.asset.name, c.asset.id.rsplit(":", 1)[-1])
               and (cloud_name is None or c.asset.source == cloud_name)]
    if len(servers) != 1:
        what = "no server" if not servers else f"{len(servers)} servers"
        raise DrConsoleError(f"{what} named or with id {server!r} in the inventory"
                             + (": choose one with --cloud" if servers else ""))
    found = servers[0]
    server_id = found.id.rsplit(":", 1)[-1]
    volumes = sorted(
        (c.asset.name, c.asset.id.rsplit(":", 1)[-1]) for c in snapshot.coverages
        if c.asset.kind == "volume" and c.asset.source == found.source
        and c.classification.asset_class is AssetClass.PAYLOAD
        and server_id in c.asset.attributes.get("attached_to", "").split(","))
    return found.source, found.name, volumes
