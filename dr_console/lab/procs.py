"""Starting and stopping lab daemons without systemd: each runs in the
foreground as our child, its PID is recorded, and it is stopped by that PID
(never by name). Output goes to a log file in the lab directory."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

LOOPBACK = "127.0.0.1"
# The registry file is rewritten whole; services started from several
# threads must not lose each other's PIDs.
_REGISTRY_LOCK = threading.Lock()


class LabError(RuntimeError):
    """A lab service failed to start or stop; the message says which and
    where its log is."""


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); reap it if it is ours.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return _not_zombie(pid)


def _not_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@dataclass
class Service:
    """A running lab daemon."""

    name: str
    pid: int
    log: str

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "pid": self.pid, "log": self.log}


def start(
    name: str,
    argv: Sequence[str],
    lab_dir: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Service:
    """Start a daemon in its own session (so stopping it also stops the
    children it forks) and record it in the lab's registry."""
    log_dir = lab_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=full_env,
            cwd=str(cwd) if cwd else None,
            start_new_session=True,
        )
    service = Service(name=name, pid=proc.pid, log=str(log_path))
    _register(lab_dir, service)
    return service


def wait_for_port(service: Service, port: int, timeout: float = 60.0) -> None:
    """Wait until `port` accepts connections, or fail naming the log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return
        if not pid_alive(service.pid):
            raise LabError(f"{service.name} exited during start-up; see {service.log}")
        time.sleep(0.1)
    raise LabError(f"{service.name} did not listen on 127.0.0.1:{port} within "
                   f"{timeout:.0f}s; see {service.log}")


def stop_pid(pid: int, grace: float = 8.0) -> None:
    """SIGTERM the process group, wait, then SIGKILL (oslo services can
    take several seconds to stop)."""
    if not pid_alive(pid):
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 3.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return
            time.sleep(0.1)


def registry_path(lab_dir: Path) -> Path:
    return lab_dir / "services.json"


def registered(lab_dir: Path) -> list[Service]:
    path = registry_path(lab_dir)
    if not path.exists():
        return []
    return [Service(**entry) for entry in json.loads(path.read_text())]


def _register(lab_dir: Path, service: Service) -> None:
    with _REGISTRY_LOCK:
        services = [s for s in registered(lab_dir) if s.name != service.name]
        services.append(service)
        _write_registry(lab_dir, services)


def _write_registry(lab_dir: Path, services: list[Service]) -> None:
    path = registry_path(lab_dir)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([s.to_dict() for s in services], indent=2))
    tmp.replace(path)


def stop_all(lab_dir: Path) -> list[str]:
    """Stop every registered service, newest first. Returns their names."""
    services = registered(lab_dir)
    stopped = []
    for service in reversed(services):
        stop_pid(service.pid)
        stopped.append(service.name)
    _write_registry(lab_dir, [])
    return stopped


def stop_service(lab_dir: Path, name: str) -> None:
    for service in registered(lab_dir):
        if service.name == name:
            stop_pid(service.pid)
    with _REGISTRY_LOCK:
        _write_registry(lab_dir, [s for s in registered(lab_dir) if s.name != name])


def run(argv: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float = 300,
        input: bytes | None = None, cwd: Path | None = None) -> str:
    """Run a set-up command to completion; on failure raise with its output
    (lab commands carry no operator secrets)."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    proc = subprocess.run(
        list(argv), capture_output=True, env=full_env, timeout=timeout, input=input,
        cwd=str(cwd) if cwd else None,
    )
    if proc.returncode != 0:
        out = (proc.stdout + proc.stderr).decode(errors="replace")[-3000:]
        raise LabError(f"{' '.join(argv[:3])} failed ({proc.returncode}):\n{out}")
    return proc.stdout.decode(errors="replace")
