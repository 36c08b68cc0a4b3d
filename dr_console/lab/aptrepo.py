"""The boot network's offline apt repository: the lab's namespaces have no
route out, so the boot-infra roles install from a flat, signed repository
in the lab dir, which the hosts see read-only at /media/drlab/apt.

What goes in is what the bare host itself lacks: `apt-get -s install` of the
role packages inside its private root names every package and version to
fetch. They are fetched once with `apt-get download` (this machine's own
apt, the only network use) and kept across restarts; a warm start only
re-resolves (about two seconds) and finds nothing missing."""

from __future__ import annotations

import re
from pathlib import Path

from dr_console.lab import nsroot, procs
from dr_console.lab.procs import LabError, Service

ROLE_PACKAGES = ("dnsmasq", "pxelinux", "syslinux-common", "chrony", "vsftpd")
HOST_PATH = nsroot.MEDIA_MOUNT / "apt"
HOST_URI = f"file:{HOST_PATH}"
KEYRING_NAME = "drlab-offline.gpg"
HOST_KEYRING = f"/etc/apt/keyrings/{KEYRING_NAME}"
HOST_SOURCES = "/etc/apt/sources.list.d/drlab-offline.sources"
KEY_UID = "dr-console lab offline repository <lab@drlab.invalid>"
_INST = re.compile(r"^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) ", re.MULTILINE)


def repo_dir(base: Path) -> Path:
    return base / "apt"


def sources_text() -> str:
    """The deb822 source a host uses (boot1's /etc carries it offsite)."""
    return (f"Types: deb\nURIs: {HOST_URI}\nSuites: ./\nSigned-By: {HOST_KEYRING}\n")


def resolve(holder: Service, packages: tuple[str, ...] = ROLE_PACKAGES) -> list[tuple[str, str]]:
    """(name, version) of everything `apt-get install packages` would
    install inside the host, from this machine's package lists."""
    argv = ["apt-get", "-s", "-o", "Debug::NoLocking=1", "install", "--no-install-recommends",
            *packages]
    try:
        out = nsroot.run(holder, argv, timeout=120)
    except LabError as exc:
        if "Unable to locate package" not in str(exc) and "no installation candidate" not in str(exc):
            raise
        _update_lists()  # missing or old: the host reads them through its overlay
        out = nsroot.run(holder, argv, timeout=120)
    return sorted(set(_INST.findall(out)))


def _update_lists() -> None:
    """Refresh this machine's own package lists (its apt, its mirror)."""
    procs.run(["apt-get", "-o", "DPkg::Lock::Timeout=600", "update"], timeout=600)


def _download(pool: Path, packages: list[tuple[str, str]]) -> None:
    procs.run(["apt-get", "download", "-o", "APT::Sandbox::User=root",
               *(f"{name}={version}" for name, version in packages)], cwd=pool, timeout=600)


def _indexed(repo: Path) -> set[tuple[str, str]]:
    packages = repo / "Packages"
    if not packages.exists():
        return set()
    found = set()
    for stanza in packages.read_text().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines()
                      if ": " in line and not line.startswith(" "))
        if "Package" in fields and "Version" in fields:
            found.add((fields["Package"], fields["Version"]))
    return found


def _gpg_env(base: Path) -> dict[str, str]:
    home = base / "gnupg"
    home.mkdir(mode=0o700, exist_ok=True)
    return {"GNUPGHOME": str(home)}


def _ensure_key(base: Path, repo: Path) -> None:
    env = _gpg_env(base)
    keyring = repo / KEYRING_NAME
    if keyring.exists():
        return
    try:
        procs.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", KEY_UID,
                   "ed25519", "sign", "never"], env=env, timeout=60)
        procs.run(["gpg", "--batch", "--yes", "--output", str(keyring), "--export", KEY_UID],
                  env=env, timeout=60)
    finally:
        _stop_agent(env)


def _stop_agent(env: dict[str, str]) -> None:
    # gpg starts an agent for this GNUPGHOME; stop it through its own
    # socket (never by name), so nothing of ours outlives `lab up`.
    procs.run(["gpgconf", "--kill", "gpg-agent"], env=env, timeout=30)


def _index_and_sign(base: Path, repo: Path) -> None:
    packages = procs.run(["apt-ftparchive", "packages", "pool"], cwd=repo, timeout=120)
    (repo / "Packages").write_text(packages)
    release = procs.run(["apt-ftparchive", "-o", "APT::FTPArchive::Release::Origin=dr-console lab",
                         "-o", "APT::FTPArchive::Release::Label=drlab-offline",
                         "release", "."], cwd=repo, timeout=60)
    (repo / "Release").write_text(release)
    env = _gpg_env(base)
    try:
        procs.run(["gpg", "--batch", "--yes", "--local-user", KEY_UID, "--clearsign",
                   "--output", str(repo / "InRelease"), str(repo / "Release")],
                  env=env, timeout=60)
    finally:
        _stop_agent(env)


def ensure(base: Path, holder: Service) -> dict[str, object]:
    """Make the repository hold every package the roles need on the bare
    host; fetch only what is missing. Returns what state.json records."""
    repo = repo_dir(base)
    pool = repo / "pool"
    pool.mkdir(parents=True, exist_ok=True)
    _ensure_key(base, repo)
    needed = resolve(holder)
    if not needed:
        raise LabError("apt resolved nothing to install for the boot roles: is the bare "
                       "host's root really without them?")
    have = _indexed(repo)
    missing = [(name, version) for name, version in needed if (name, version) not in have]
    if missing:
        try:
            _download(pool, missing)
        except LabError:
            # Old package lists name versions the mirror no longer has.
            _update_lists()
            needed = resolve(holder)
            missing = [(name, version) for name, version in needed if (name, version) not in have]
            _download(pool, missing)
    if missing or not (repo / "InRelease").exists():
        _index_and_sign(base, repo)
    return {"path": str(repo), "host_path": str(HOST_PATH), "uri": HOST_URI,
            "sources": HOST_SOURCES, "keyring": HOST_KEYRING,
            "packages": [f"{name}={version}" for name, version in needed],
            "fetched": len(missing)}


def install_sources(holder: Service) -> None:
    """Point a host's apt at the offline repository only (boot1's image:
    its /etc goes offsite with exactly this source and key)."""
    script = "; ".join([
        "set -e",
        "rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*",
        "mkdir -p /etc/apt/keyrings",
        f"cp {HOST_PATH}/{KEYRING_NAME} {HOST_KEYRING}",
        f"chmod 0644 {HOST_KEYRING}",
        f"cat > {HOST_SOURCES}",
    ])
    nsroot.run(holder, ["sh", "-c", script], input=sources_text().encode())
    nsroot.run(holder, ["rm", "-rf", "/var/lib/apt/lists"])
    nsroot.run(holder, ["apt-get", "update", "-q"], timeout=120)
