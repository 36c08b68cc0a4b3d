"""Real filesystems for the lab's payload volumes, written straight into a
volume's backing file without mounting anything: `mkfs.ext4 -d DIR` and
`mkfs.xfs -p PROTOFILE` populate a filesystem at creation time.

Each volume holds known files (a few small texts and a few MiB of
deterministic pseudo-random data); their sha256 list, in `sha256sum`
format with paths relative to the filesystem root, is what a restore is
checked against. See docs/lab-volumes.md.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from pathlib import Path

from dr_console.lab.procs import LabError, run

FILESYSTEMS = ("ext4", "xfs")
MiB = 1024 * 1024
# e2fsck -fn fails on a filesystem whose inode count disagrees with its
# geometry; debugfs rewrites the superblock checksum, so blkid still sees ext4.
DAMAGED_INODES_COUNT = 16


def files_for(volume: str, fs: str) -> dict[str, bytes]:
    """The known contents of a payload volume, by path relative to its root.
    Deterministic: the same name always gives the same bytes."""

    def noise(label: str, size: int) -> bytes:
        return hashlib.shake_256(f"drlab:{volume}:{label}".encode()).digest(size)

    return {
        "README.txt": (f"dr-console lab payload volume {volume} ({fs})\n"
                       "Restored copies must carry these files with these sha256 sums.\n"
                       ).encode(),
        "etc/app.conf": f"[app]\nname = {volume}\ndata_dir = /srv/{volume}\n".encode(),
        "notes/changelog.txt": "".join(f"2026-01-{day:02d} release {day}\n"
                                       for day in range(1, 21)).encode(),
        "data/blob-1.bin": noise("blob-1", 2 * MiB),
        "data/blob-2.bin": noise("blob-2", MiB + 4099),  # not a whole number of blocks
    }


def sha256_list(files: dict[str, bytes]) -> str:
    """`sha256sum` output for the files (check with `sha256sum -c` from the root)."""
    return "".join(f"{hashlib.sha256(data).hexdigest()}  {path}\n"
                   for path, data in sorted(files.items()))


def _write_tree(root: Path, files: dict[str, bytes]) -> None:
    root.chmod(0o755)
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        path.write_bytes(data)
        path.chmod(0o644)


def _protofile(root: Path, files: dict[str, bytes]) -> str:
    """mkfs.xfs's prototype file for the tree (names without blanks)."""
    tree: dict[str, object] = {}
    for rel in sorted(files):
        node = tree
        *dirs, name = rel.split("/")
        for part in dirs:
            node = node.setdefault(part, {})  # type: ignore[assignment]
        node[name] = str(root / rel)

    def lines(node: dict[str, object], depth: int) -> list[str]:
        out = []
        pad = " " * depth
        for name, child in sorted(node.items()):
            if isinstance(child, dict):
                out.append(f"{pad}{name} d--755 0 0")
                out += lines(child, depth + 1)
                out.append(f"{pad}$")
            else:
                out.append(f"{pad}{name} ---644 0 0 {child}")
        return out

    return "\n".join(["/dev/null", "0 0", "d--755 0 0", *lines(tree, 1), "$", ""])


def make_filesystem(target: Path, fs: str, label: str, fs_uuid: str,
                    files: dict[str, bytes]) -> None:
    """Create a filesystem holding `files` in the (sparse, sized) file
    `target`, then prove it with blkid and a read-only check."""
    if fs not in FILESYSTEMS:
        raise LabError(f"unknown filesystem {fs!r}")
    with tempfile.TemporaryDirectory(prefix="drlab-payload-") as tmp:
        src = Path(tmp) / "root"
        src.mkdir()
        _write_tree(src, files)
        if fs == "ext4":
            run(["mkfs.ext4", "-F", "-q", "-t", "ext4", "-L", label, "-U", fs_uuid,
                 "-E", "lazy_itable_init=1,lazy_journal_init=1,nodiscard,root_owner=0:0",
                 "-d", str(src), str(target)])
        else:
            proto = Path(tmp) / "proto"
            proto.write_text(_protofile(src, files))
            # -K: no discard (it would punch the sparse file for nothing)
            run(["mkfs.xfs", "-f", "-q", "-K", "-L", label, "-m", f"uuid={fs_uuid}",
                 "-p", str(proto), str(target)])
    found = probe(target)
    if found != {"TYPE": fs, "UUID": fs_uuid, "LABEL": label}:
        raise LabError(f"{target}: blkid says {found}, wanted {fs} {fs_uuid} {label}")
    if check(target, fs) != 0:
        raise LabError(f"{target}: a fresh {fs} filesystem does not check clean")


def probe(target: Path) -> dict[str, str]:
    out = run(["blkid", "-p", "-o", "export", str(target)])
    values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return {key: values.get(key, "") for key in ("TYPE", "UUID", "LABEL")}


def check(target: Path, fs: str) -> int:
    """Exit code of the read-only check a runbook runs (0: clean)."""
    argv = ["e2fsck", "-fn", str(target)] if fs == "ext4" else ["xfs_repair", "-n", str(target)]
    return subprocess.run(argv, capture_output=True, timeout=300).returncode


def damage_superblock(target: Path) -> None:
    """Make an ext4 filesystem fail `e2fsck -fn` (and refuse to mount)
    while blkid still reports it: a superblock field that contradicts the
    geometry, with a valid checksum."""
    run(["debugfs", "-w", "-R", f"ssv inodes_count {DAMAGED_INODES_COUNT}", str(target)])
    if check(target, "ext4") == 0 or probe(target)["TYPE"] != "ext4":
        raise LabError(f"{target}: the superblock damage did not take")
