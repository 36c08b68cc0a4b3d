"""One run at a time per target: `fcntl.flock` on a file per target in
`state_dir()/locks/`. The kernel drops a flock when its holder dies (kill -9
included), so a lock is never stale; the file only tells a contender who
holds it."""

from __future__ import annotations

import fcntl
import getpass
import hashlib
import json
import os
import re
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from dr_console.errors import DrConsoleError
from dr_console.locations import state_dir


class LockHeld(DrConsoleError):
    """Another run works on the same target."""

    exit_code = 2

    def __init__(self, target: str, holder: dict[str, Any]) -> None:
        self.target = target
        self.holder = holder
        if holder:
            who = (f"run {holder.get('run_id', '?')} by {holder.get('operator', '?')} "
                   f"on {holder.get('host', '?')} (pid {holder.get('pid', '?')}, "
                   f"since {holder.get('since', '?')})")
        else:
            who = "another run (it is starting; try again in a moment)"
        super().__init__(f"{target} is locked by {who}; wait for it to finish, "
                         "or see `dr-console runs`")


def locks_dir() -> Path:
    return state_dir() / "locks"


def lock_path(target: str) -> Path:
    # Readable and unique: a hash tail keeps "a/b" and "a_b" apart.
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", target).strip("_")[:80]
    digest = hashlib.sha256(target.encode()).hexdigest()[:8]
    return locks_dir() / f"{safe}-{digest}.lock"


def read_holder(target: str) -> dict[str, Any]:
    try:
        data = json.loads(lock_path(target).read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@dataclass
class TargetLock:
    target: str
    run_id: str
    _fd: int = -1

    def acquire(self) -> TargetLock:
        path = lock_path(self.target)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # os.open fds are not inherited by child processes (PEP 446), so a
        # mysql client left running cannot keep the lock after we die.
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LockHeld(self.target, read_holder(self.target)) from None
        holder = {"target": self.target, "run_id": self.run_id, "operator": getpass.getuser(),
                  "host": socket.gethostname(), "pid": os.getpid(),
                  "since": datetime.now(UTC).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd >= 0:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> TargetLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def is_locked(target: str) -> bool:
    """True while some process holds the target's lock."""
    path = lock_path(target)
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
