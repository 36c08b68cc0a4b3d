"""The run journal: one append-only JSON-lines file per run, every record
fsynced before the engine goes on, so after kill -9 or a dropped SSH
session the journal says exactly how far the run got.

It records what happened; it is never the proof that something is done
(steps re-check the world on resume). Secrets never reach it: parameters
and state are plain names, and anything whose key smells of a secret is
masked as a last line of defence."""

from __future__ import annotations

import getpass
import json
import os
import re
import secrets
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dr_console import __version__
from dr_console.errors import DrConsoleError
from dr_console.locations import state_dir

_SECRET_KEY = re.compile(r"pass(word)?|secret|token|credential|api[_-]?key", re.I)
_RUN_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")
MASK = "***"


class JournalError(DrConsoleError):
    exit_code = 2


def runs_dir() -> Path:
    return state_dir() / "runs"


def new_run_id(now: datetime | None = None) -> str:
    """Sortable (UTC timestamp first) and unique (a short random tail)."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def short_id(run_id: str) -> str:
    """The random tail: short enough for a schema name."""
    return run_id.rsplit("-", 1)[-1]


def scrub(value: Any) -> Any:
    """Mask strings under secret-looking keys, recursively. Only strings:
    a table named `access_token` with its row count is data, not a secret."""
    if isinstance(value, dict):
        return {k: (MASK if isinstance(k, str) and isinstance(v, str | bytes)
                    and _SECRET_KEY.search(k) else scrub(v))
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Journal:
    """Appends records to `runs/<run_id>.jsonl`; each one fsynced."""

    def __init__(self, run_id: str, path: Path | None = None) -> None:
        self.run_id = run_id
        self.path = path or runs_dir() / f"{run_id}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        created = not self.path.exists()
        # O_APPEND: every write lands at the end, even from a resumed run.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._file = os.fdopen(fd, "a", encoding="utf-8")
        if created:  # make the new directory entry itself durable
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def write(self, record_type: str, **data: Any) -> None:
        record = {"ts": _now(), "type": record_type, **scrub(data)}
        line = json.dumps(record, default=str, ensure_ascii=False)
        self._file.write(line + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def header(self, runbook: str, params: dict[str, Any], target: str, site_file: str,
               kind: str = "restore") -> None:
        self.write("header", run_id=self.run_id, runbook=runbook, params=params, target=target,
                   site_file=site_file, operator=getpass.getuser(), host=socket.gethostname(),
                   pid=os.getpid(), version=__version__, kind=kind)

    def close(self) -> None:
        self._file.close()


def commands_path(run_id: str) -> Path:
    """The run's command log, beside its journal."""
    return runs_dir() / f"{run_id}.commands.ndjson"


class CommandFile:
    """Appends command-log entries (already redacted by `commandlog`) as JSON
    lines. Not fsynced one by one: it is the record of what was called, the
    journal is the record of what was done."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._file = os.fdopen(fd, "a", encoding="utf-8")
        self._lock = threading.Lock()

    def write(self, entry: Any) -> None:
        line = json.dumps({"ts": entry.at.isoformat(timespec="milliseconds"), "kind": entry.kind,
                           "target": entry.target, "summary": entry.summary}, ensure_ascii=False)
        with self._lock:
            if not self._file.closed:
                self._file.write(line + "\n")
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every complete record; a torn last line (kill -9 mid-write) is ignored."""
    out = []
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.endswith("\n"):
                break
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


@dataclass
class RunRecord:
    """A run as its journal tells it."""

    run_id: str
    runbook: str
    target: str
    operator: str
    host: str
    pid: int
    started: datetime
    site_file: str
    params: dict[str, Any]
    state: dict[str, Any] = field(default_factory=dict)
    outcome: str = "interrupted"  # no RunFinished record: killed or still running
    finished: datetime | None = None
    last_activity: datetime | None = None
    steps: dict[str, str] = field(default_factory=dict)  # step id -> last status
    path: Path = Path()
    kind: str = "restore"  # restore | drill

    @property
    def duration(self) -> float | None:
        end = self.finished or self.last_activity
        return (end - self.started).total_seconds() if end else None

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "runbook": self.runbook, "target": self.target,
                "operator": self.operator, "host": self.host,
                "started": self.started.isoformat(), "outcome": self.outcome,
                "duration_seconds": None if self.duration is None else round(self.duration, 1),
                "params": self.params, "steps": self.steps, "kind": self.kind}


_STEP_STATUS = {"StepStarted": "running", "StepDone": "done", "StepSkipped": "skipped",
                "StepFailed": "failed"}


def load_run(path: Path) -> RunRecord:
    records = read_records(path)
    if not records or records[0].get("type") != "header":
        raise JournalError(f"{path} is not a run journal (no header)")
    head = records[0]
    run = RunRecord(
        run_id=head["run_id"], runbook=head["runbook"], target=head.get("target", ""),
        operator=head.get("operator", "?"), host=head.get("host", "?"), pid=head.get("pid", 0),
        started=datetime.fromisoformat(head["ts"]), site_file=head.get("site_file", ""),
        params=head.get("params", {}), path=path, kind=head.get("kind", "restore"),
    )
    for rec in records[1:]:
        run.last_activity = datetime.fromisoformat(rec["ts"])
        if rec["type"] == "state":
            run.state = rec.get("state", {})
        elif rec["type"] == "resume":
            run.outcome = "interrupted"
            run.finished = None
        elif rec["type"] == "event":
            name = rec.get("event", "")
            if name in _STEP_STATUS:
                run.steps[rec["step"]] = _STEP_STATUS[name]
            elif name == "RunFinished":
                run.outcome = rec.get("outcome", "?")
                run.finished = run.last_activity
    return run


def iter_runs() -> Iterator[RunRecord]:
    folder = runs_dir()
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.jsonl")):
        try:
            yield load_run(path)
        except (OSError, JournalError, KeyError, ValueError):
            continue  # an unreadable journal must not hide the others


def find_run(run_id: str) -> RunRecord:
    """By full id, or by a unique prefix or short id (the random tail)."""
    folder = runs_dir()
    exact = folder / f"{run_id}.jsonl"
    if _RUN_ID.match(run_id) and exact.exists():
        return load_run(exact)
    candidates = [p for p in sorted(folder.glob("*.jsonl"))
                  if p.stem.startswith(run_id) or short_id(p.stem) == run_id] \
        if folder.is_dir() else []
    if not candidates:
        raise JournalError(f"no run {run_id!r} in {folder} (see `dr-console runs`)")
    if len(candidates) > 1:
        names = ", ".join(p.stem for p in candidates[:5])
        raise JournalError(f"run id {run_id!r} is ambiguous: {names}")
    return load_run(candidates[0])


def run_status(run: RunRecord) -> str:
    """The run's outcome; for a run the journal shows with no end, whether
    its process still holds the target's lock (running) or not (interrupted)."""
    from dr_console.runbooks.events import INTERRUPTED, RUNNING
    from dr_console.runbooks.locks import is_locked, read_holder

    if run.outcome != INTERRUPTED:
        return run.outcome
    if is_locked(run.target) and read_holder(run.target).get("run_id") == run.run_id:
        return RUNNING
    return INTERRUPTED
